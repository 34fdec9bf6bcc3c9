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
from markdown_it.token import Token

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


@dataclass
class Section:
    """A level-2 section of a body: its heading, plain text and starting line."""

    heading: str
    text: str
    line: int


def _inline_text(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts)


def sections(body: str) -> list[Section]:
    """Split a body at its `##` headings. Text before the first heading has heading ''."""
    tokens = _parser().parse(body)
    result = [Section("", "", 1)]
    in_heading = False
    for position, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag in ("h1", "h2"):
            line = (token.map[0] + 1) if token.map else result[-1].line
            heading = _inline_text(tokens[position + 1]) if position + 1 < len(tokens) else ""
            result.append(Section(heading.strip(), "", line))
            in_heading = True
        elif token.type == "heading_close":
            in_heading = False
        elif token.type == "inline" and not in_heading:
            text = _inline_text(token)
            current = result[-1]
            current.text = f"{current.text}\n{text}" if current.text else text
        elif token.type in ("fence", "code_block"):
            current = result[-1]
            current.text = f"{current.text}\n{token.content}" if current.text else token.content
    if not result[0].text:
        result.pop(0)
    return result


def plain_text(body: str | list[Section]) -> str:
    """The body (or its parsed sections) as plain text, headings included."""
    parts = []
    for section in sections(body) if isinstance(body, str) else body:
        if section.heading:
            parts.append(section.heading)
        if section.text:
            parts.append(section.text)
    return "\n".join(parts)
