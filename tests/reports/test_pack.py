"""The presenter pack's root-cause extraction (the pages and Markdown export are in test_pages).

The root cause is kept as Markdown: bullets stay bullets and paragraphs stay
paragraphs on the page and in the export (plain text ran bullets together and
kept the source's hard line breaks).
"""

from __future__ import annotations

from indexer.reports.pack import root_cause

BODY = """## Summary
Orders failed.

## Root cause
PgBouncer allowed **200** connections.

### Why nobody noticed
No alert on waiting clients.

## Detection
An alert fired.
"""


def test_root_cause_is_the_section_with_its_subsections_as_markdown() -> None:
    text = root_cause(BODY)
    assert text.startswith("PgBouncer allowed **200** connections.")
    assert "### Why nobody noticed\nNo alert on waiting clients." in text
    assert "An alert fired" not in text


def test_contributing_factors_count_as_the_root_cause_and_the_last_section_ends_the_body() -> None:
    body = "## Summary\nx\n\n## Contributing factors\n- Capacity planning.\n- Tight coupling.\n"
    assert root_cause(body) == "- Capacity planning.\n- Tight coupling."


def test_no_root_cause_section_gives_an_empty_text() -> None:
    assert root_cause("## Summary\nThe root cause: a full disk.\n\n## Detection\nAlert.\n") == ""
