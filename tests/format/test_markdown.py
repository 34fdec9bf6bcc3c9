"""Rendering is inert: no raw HTML, no script links."""

from __future__ import annotations

import re

from indexer.format.markdown import plain_text, render_html, sections


def test_raw_html_is_shown_as_text() -> None:
    html = render_html("Hello <script>alert(1)</script> <img src=x onerror=alert(2)>")
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html


def test_only_safe_links_become_links() -> None:
    html = render_html(
        "[a](javascript:alert(1)) [b](JaVaScRiPt:alert(1)) [c](java\tscript:x) "
        "[d](data:text/html;base64,xx) [e](https://example.com/x) [f](../2025/other.md) "
        "[g](mailto:sre@example.com)"
    )
    links = re.findall(r'href="([^"]*)"', html)
    assert links == ["https://example.com/x", "../2025/other.md", "mailto:sre@example.com"]


def test_sections_split_at_level_two_headings() -> None:
    body = "Intro\n\n## Summary\nThe pool ran dry.\n\n### Detail\nMore.\n\n## Timeline\n- 10:00 x\n"
    parts = sections(body)
    assert [s.heading for s in parts] == ["", "Summary", "Timeline"]
    assert "The pool ran dry." in parts[1].text and "Detail" in parts[1].text
    assert parts[2].line == 9
    assert "The pool ran dry." in plain_text(body)


def test_sections_can_keep_paragraph_breaks() -> None:
    body = "## Impact\nFirst line\nwraps here.\n\n\n**Second** paragraph.\n\n## Timeline\n- 10:00 x"
    assert sections(body)[0].text == "First line\nwraps here.\nSecond paragraph."
    kept = sections(body, paragraphs=True)
    assert kept[0].text == "First line\nwraps here.\n\nSecond paragraph."  # one blank line
    assert kept[1].text == "10:00 x"
