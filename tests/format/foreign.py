"""Foreign postmortems in the formats no public repository offers: Word, Confluence, Notion.

Each is built from the text of a real postmortem in tests/fixtures/foreign
(see SOURCES.md), in the shape the tool writes: python-docx styles for Word,
the page layout of a Confluence space export, Notion's `Name <id>.md` with
property lines under the title. The words are the original author's.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import docx
from markdown_it import MarkdownIt

FOREIGN = Path(__file__).resolve().parent.parent / "fixtures" / "foreign"
WORD_SOURCE = FOREIGN / "plain" / "PM2022-006 - ALB 502 errors.md"
CONFLUENCE_SOURCE = FOREIGN / "plain" / "PM2021-011 - Log4Shell.md"
NOTION_SOURCE = FOREIGN / "plain" / "Blog_Post.md"
REAL = ("plain", "jekyll", "hugo", "zola", "mkdocs")  # folders of real postmortem files
_ROW = re.compile(r"^\s*\|(.*)\|\s*$")
_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")

CONFLUENCE_PAGE = """<!DOCTYPE html>
<html>
    <head>
        <title>Cloud Engineering : {title}</title>
        <meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
    </head>
    <body class="theme-default aui-theme-default">
        <div id="page">
            <div id="main" class="aui-page-panel">
                <div id="main-header">
                    <div id="breadcrumb-section">
                        <ol id="breadcrumbs">
                            <li class="first"><a href="index.html">Cloud Engineering</a></li>
                            <li><span><a href="Postmortems_1234.html">Postmortems</a></span></li>
                        </ol>
                    </div>
                    <h1 id="title-heading" class="pagetitle">
                        <span id="title-text">Cloud Engineering : {title}</span>
                    </h1>
                </div>
                <div id="content" class="view">
                    <div class="page-metadata">
                        Created by <span class='author'> Cloud Engineering</span>,
                        last modified on Jan 11, 2022
                    </div>
                    <div id="main-content" class="wiki-content group">
{body}
                    </div>
                </div>
            </div>
        </div>
    </body>
</html>
"""


def real_postmortems() -> list[Path]:
    return sorted(p for folder in REAL for p in (FOREIGN / folder).iterdir() if p.is_file())


def build_word(target: Path) -> Path:
    """The dfds ALB postmortem as a Word author writes it: styles, a table, bullets."""
    document = docx.Document()
    lines = WORD_SOURCE.read_text(encoding="utf-8").split("\n")
    table: list[list[str]] = []
    for line in [*lines, ""]:
        row = _ROW.match(line)
        if row:
            if not _RULE.match(line):
                table.append([cell.strip() for cell in row.group(1).split("|")])
            continue
        if table:
            grid = document.add_table(rows=len(table), cols=len(table[0]))
            for cells, values in zip(grid.rows, table, strict=True):
                for cell, value in zip(cells.cells, values, strict=False):
                    cell.text = value
            table = []
        if line.startswith("# "):
            document.add_heading(line[2:], level=0)
        elif line.startswith("## "):
            document.add_heading(line[3:], level=1)
        elif line.startswith("- "):
            document.add_paragraph(line[2:], style="List Bullet")
        elif line.strip():
            document.add_paragraph(line)
    document.save(target)
    return target


def build_confluence(target: Path) -> Path:
    """The dfds Log4Shell postmortem as a page of a Confluence space export."""
    text = CONFLUENCE_SOURCE.read_text(encoding="utf-8")
    title, _, body = text.partition("\n")
    rendered = MarkdownIt("js-default").render(body)
    page = CONFLUENCE_PAGE.format(title=html.escape(title.lstrip("# ").strip()), body=rendered)
    target.write_text(page, encoding="utf-8")
    return target


def build_notion(folder: Path) -> Path:
    """The "Issue Summary" postmortem as Notion exports a database page."""
    text = NOTION_SOURCE.read_text(encoding="utf-8")
    title, _, body = text.partition("\n")
    properties = "Created: February 5, 2022 11:40 AM\nStatus: Done\nTags: outage, rails\n"
    target = folder / "Postmortem 6f1c2a9e0b7d4c55a1e2f3b4c5d6e7f8.md"
    target.write_text(f"{title}\n\n{properties}{body}", encoding="utf-8")
    return target
