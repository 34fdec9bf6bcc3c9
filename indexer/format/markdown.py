"""Markdown rendering and text extraction for postmortem bodies.

Rendering is safe by construction: raw HTML is off (tags show as text) and
only http, https, mailto and relative links survive; anything else, such as
`javascript:` or `data:`, renders as plain text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from markdown_it import MarkdownIt

ALLOWED_SCHEMES = {"http", "https", "mailto"}
_CONTROL = re.compile(r"[\x00-\x20\x7f]+")


def _is_safe_link(url: str) -> bool:
    # Browsers ignore whitespace and control characters inside a scheme
    # ("java\tscript:"), so strip them before looking at it.
    cleaned = _CONTROL.sub("", url)
    scheme = urlsplit(cleaned).scheme.lower() if ":" in cleaned.split("/", 1)[0] else ""
    return scheme == "" or scheme in ALLOWED_SCHEMES


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    md = MarkdownIt("js-default", {"html": False, "linkify": False, "typographer": False})
    md.validateLink = _is_safe_link  # type: ignore[method-assign]
    return md


def render_html(body: str) -> str:
    """Render a postmortem body to HTML that is safe to embed in a page."""
    return str(_parser().render(body))


def drop_sections(body: str, headings: set[str]) -> str:
    """The body without its level-2 sections titled one of `headings` (compared lowercased).

    The postmortem page shows action items as a table from the front matter;
    a body section listing them again would show them twice.
    """
    lines = body.splitlines(keepends=True)
    kept: list[str] = []
    dropping, fence = False, None
    for line in lines:
        stripped = line.rstrip("\n")
        opened = _FENCE.match(stripped)
        if fence is not None:
            if opened and opened[1][0] == fence[0] and len(opened[1]) >= len(fence):
                fence = None
        elif opened:
            fence = opened[1]
        else:
            heading = _HEADING.match(stripped)
            if heading and len(heading[1]) <= 2:
                dropping = len(heading[1]) == 2 and heading[2].strip().lower() in headings
        if not dropping:
            kept.append(line)
    return "".join(kept)


@dataclass
class Section:
    """A level-2 section of a body: its heading, plain text and starting line."""

    heading: str
    text: str
    line: int


_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r" {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_RULE = re.compile(r" {0,3}([-*_])[ \t]*(?:\1[ \t]*){2,}$")
_TABLE_RULE = re.compile(r" {0,3}\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)+\|?[ \t]*$")
_LINKS = (
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images: their alt text
    (re.compile(r"\[([^\]]*)\]\([^)]*\)"), r"\1"),  # links: their text
    (re.compile(r"\[([^\]]*)\]\[[^\]]*\]"), r"\1"),  # reference links
)
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]*)>")
_EMPHASIS = re.compile(r"\*\*|\*|`+")  # not _: max_connections is a word
_BLOCK = re.compile(r" {0,3}(?:[-*+][ \t]+|\d+[.)][ \t]+|>[ \t]?)")  # list items, quotes
_CELL = re.compile(r"[ \t]*\|[ \t]*")


def _text(line: str) -> str:
    """A line without its Markdown marks; cheap checks first, most lines have none."""
    block = _BLOCK.match(line)
    if block:
        line = line[block.end() :]
    if "[" in line:
        for pattern, replacement in _LINKS:
            line = pattern.sub(replacement, line)
    if "<" in line:
        line = _AUTOLINK.sub(r"\1", line)
    if "*" in line or "`" in line:
        line = _EMPHASIS.sub("", line)
    if "|" in line:
        line = _CELL.sub(" ", line)
    return line.strip()


def sections(body: str, paragraphs: bool = False) -> list[Section]:
    """Split a body at its `#`/`##` headings; text before the first has heading ''.

    `paragraphs`: keep one blank line between paragraphs (semantic search
    embeds them apart); otherwise blank lines are dropped.

    This is a line scanner, not a Markdown parser: indexing calls it for
    every file, and a full parse costs more than everything else in indexing
    together. It knows fences (so `## ` inside code is text), ATX headings,
    rules, lists, quotes, tables, links and emphasis: enough to extract text.
    """
    result = [Section("", "", 1)]
    lines: list[str] = []
    fence: str | None = None
    for number, raw in enumerate(body.split("\n"), start=1):
        opening = _FENCE.match(raw)
        if fence is not None:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
            else:
                lines.append(raw.strip())
            continue
        if opening:
            fence = opening.group(1)
            continue
        heading = _HEADING.match(raw)
        if heading and len(heading.group(1)) <= 2:
            result[-1].text = _joined(lines, paragraphs)
            result.append(Section(_text(heading.group(2)), "", number))
            lines = []
        elif not (_RULE.match(raw) or _TABLE_RULE.match(raw)):
            lines.append(_text(heading.group(2)) if heading else _text(raw))
    result[-1].text = _joined(lines, paragraphs)
    if not result[0].text:
        result.pop(0)
    return result


def _joined(lines: list[str], paragraphs: bool) -> str:
    if not paragraphs:
        return "\n".join(line for line in lines if line)
    kept = [line for n, line in enumerate(lines) if line or (n and lines[n - 1])]
    return "\n".join(kept).strip("\n")


@dataclass(frozen=True)
class Heading:
    """An ATX heading of a body: `##` is level 2; `line` counts from the body's first line."""

    level: int
    text: str
    line: int


def headings(body: str) -> list[Heading]:
    """Every `#` to `######` heading outside code fences, in order."""
    found = []
    fence: str | None = None
    for number, raw in enumerate(body.split("\n"), start=1):
        opening = _FENCE.match(raw)
        if fence is not None:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
            continue
        if opening:
            fence = opening.group(1)
            continue
        heading = _HEADING.match(raw)
        if heading:
            found.append(Heading(len(heading.group(1)), _text(heading.group(2)), number))
    return found


def plain_text(body: str | list[Section]) -> str:
    """The body (or its parsed sections) as plain text, headings included."""
    parts = []
    for section in sections(body) if isinstance(body, str) else body:
        if section.heading:
            parts.append(section.heading)
        if section.text:
            parts.append(section.text)
    return "\n".join(parts)
