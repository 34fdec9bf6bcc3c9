"""Reading a foreign postmortem file into Markdown and the metadata it carries.

Markdown may have YAML (`---`, Jekyll, Docusaurus, Obsidian, MkDocs) or TOML
(`+++`, Hugo, Zola) front matter, or none; a Notion export adds an id to the
file name and `Property: value` lines under the title. HTML (a Confluence
space export) goes through BeautifulSoup and markdownify, Word files through
mammoth; nothing is parsed by hand that a well-kept library reads.
"""

from __future__ import annotations

import io
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from indexer.format import frontmatter

MAX_BYTES = 5 * 1024 * 1024
MARKDOWN = (".md", ".markdown", ".mdx", ".txt")
HTML = (".html", ".htm")
WORD = (".docx",)
SUFFIXES = (*MARKDOWN, *HTML, *WORD)
_NOTION_ID = re.compile(r"\s+[0-9a-f]{32}$")
_PROPERTY = re.compile(r"([A-Z][\w /&-]{0,40}):\s+(\S.*)$")
_TOML_FENCE = re.compile(r"\+\+\+[ \t]*\Z")
# Word's "Title" style is the document's title; its headings are one level below it.
_WORD_STYLES = "\n".join(
    (
        "p[style-name='Title'] => h1:fresh",
        "p[style-name='Subtitle'] => p:fresh",
        "p[style-name='Heading 1'] => h2:fresh",
        "p[style-name='Heading 2'] => h3:fresh",
        "p[style-name='Heading 3'] => h4:fresh",
    )
)


class ConvertError(ValueError):
    """A source file cannot be read at all; the message says why."""


@dataclass
class Source:
    """A foreign postmortem as Markdown, with what its format said about it."""

    name: str  # the path shown in the report, relative to the folder imported
    kind: str  # markdown, notion, confluence, word
    body: str
    meta: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the reader could not use
    stem: str = ""
    modified: date | None = None
    body_line: int = 1  # the file's line the body starts on (after front matter), for notes


def read(path: Path, name: str) -> Source:
    """Read one file; raises `ConvertError` with the reason when it cannot be read."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ConvertError(f"file is {size} bytes; the limit is {MAX_BYTES}")
    suffix = path.suffix.lower()
    modified = datetime.fromtimestamp(path.stat().st_mtime).date()
    if suffix in WORD:
        source = _word(path.read_bytes(), name)
    else:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as error:
            raise ConvertError(f"not UTF-8 text ({error.reason})") from None
        source = _html(text, name) if suffix in HTML else _markdown(text, name, path.stem)
    source.stem = _NOTION_ID.sub("", path.stem)
    source.modified = modified
    return source


def _markdown(text: str, name: str, stem: str) -> Source:
    lines = text.split("\n")
    meta: dict[str, Any] = {}
    notes: list[str] = []
    body = text
    body_line = 1
    if lines and lines[0].strip() == "---":
        try:
            yaml_text, body, body_line = frontmatter.split(text)
            # The strict reader: no aliases (a "billion laughs" file is refused, not expanded).
            loaded = frontmatter.load(yaml_text)
        except frontmatter.FrontMatterError as error:
            notes.append(
                f"the original front matter could not be read ({error.message}); it was left out"
            )
            loaded = None
        meta = loaded if isinstance(loaded, dict) else {}
    elif lines and _TOML_FENCE.match(lines[0].strip()):
        end = next((i for i, line in enumerate(lines[1:], 1) if _TOML_FENCE.match(line)), None)
        if end is not None:
            try:
                meta = tomllib.loads("\n".join(lines[1:end]))
            except tomllib.TOMLDecodeError as error:
                notes.append(f"the original TOML front matter could not be read ({error})")
            body = "\n".join(lines[end + 1 :])
            body_line = end + 2
    kind = "markdown"
    if _NOTION_ID.search(stem):
        kind = "notion"
        body, properties = _notion_properties(body)
        meta = {**properties, **meta}
    source = Source(name=name, kind=kind, body=body, meta=_plain(meta), notes=notes)
    source.body_line = body_line if kind == "markdown" else 1  # Notion's lines were moved
    return source


def _plain(value: Any) -> Any:
    """TOML and YAML dates and times as ISO text, like our own reader keeps them."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _notion_properties(body: str) -> tuple[str, dict[str, Any]]:
    """Notion writes a page's properties as `Name: value` lines right under its title."""
    lines = body.split("\n")
    start = next((i for i, line in enumerate(lines) if line.strip()), 0)
    if not lines or not lines[start].startswith("# "):
        return body, {}
    properties: dict[str, Any] = {}
    end = start + 1
    while end < len(lines) and not lines[end].strip():
        end += 1
    while end < len(lines) and (match := _PROPERTY.match(lines[end].strip())):
        properties[match.group(1).strip().lower()] = match.group(2).strip()
        end += 1
    if not properties:
        return body, {}
    return "\n".join([*lines[: start + 1], "", *lines[end:]]), properties


def _html(text: str, name: str) -> Source:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    for tag in soup.find_all(["script", "style", "noscript"]):
        tag.decompose()
    meta: dict[str, Any] = {}
    title = soup.find(id="title-text") or soup.find("title")
    if title is not None:
        # Confluence titles the page "Space name : Page title".
        meta["title"] = title.get_text(" ", strip=True).split(" : ", 1)[-1]
    details = soup.find(class_="page-metadata")
    if details is not None:
        meta["page_metadata"] = details.get_text(" ", strip=True)
        details.decompose()
    main = soup.find(id="main-content") or soup.body or soup
    kind = "confluence" if soup.find(id="main-content") is not None else "html"
    return Source(name=name, kind=kind, body=_to_markdown(str(main)), meta=meta)


def _word(data: bytes, name: str) -> Source:
    import mammoth

    try:
        result = mammoth.convert_to_html(io.BytesIO(data), style_map=_WORD_STYLES)
    except Exception as error:  # a damaged or non-Word file: mammoth raises many kinds
        raise ConvertError(f"not a readable Word file ({type(error).__name__})") from None
    return Source(name=name, kind="word", body=_to_markdown(result.value))


def _to_markdown(html: str) -> str:
    from markdownify import markdownify

    text = markdownify(html, heading_style="ATX", bullets="-", table_infer_header=True)
    return re.sub(r"\n{3,}", "\n\n", str(text)).strip() + "\n"
