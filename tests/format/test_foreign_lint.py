"""The linter on what real postmortems written elsewhere contain, and the lint fixes.

The postmortems come from tests/fixtures/foreign (see SOURCES.md); a test
adds only the front matter a person would add by hand, never edits the body.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from api.cli import main
from indexer.format import postmortem
from tests.conftest import postmortem_text, write

FOREIGN = Path(__file__).resolve().parent.parent / "fixtures" / "foreign"
SRE_BOOK = FOREIGN / "plain" / "sre-book-example-postmortem.md"
ISSUE_SUMMARY = FOREIGN / "plain" / "Blog_Post.md"
JEKYLL = FOREIGN / "jekyll" / "2018-08-05-security-incident-disclosure.md"
STAMPS = {"started_at": "2025-03-14T10:00:00+00:00", "resolved_at": "2025-03-14T11:00:00+00:00"}
HEADER = """---
title: {title}
date: {date}
status: published
timestamps:
  started_at: {date}T14:54:00+00:00
---
"""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["lint", *args])
    return result.exit_code, result.stdout, result.stderr


def findings(path: Path) -> list[dict[str, object]]:
    result = CliRunner().invoke(main, ["lint", "--format", "json", str(path)])
    found: list[dict[str, object]] = json.loads(result.stdout or "[]")
    return found


def with_header(source: Path, target: Path, title: str, date: str) -> Path:
    body = source.read_text(encoding="utf-8")
    return write(target.parent, target.name, HEADER.format(title=title, date=date) + body)


def missing_sections(found: list[dict[str, object]]) -> set[str]:
    return {str(f["message"]) for f in found if f["code"] == "section"}


def test_a_file_without_front_matter_points_to_the_importer(library_dir: Path) -> None:
    write(library_dir, "sre.md", SRE_BOOK.read_text(encoding="utf-8"))
    code, out, _ = run(str(library_dir))
    assert code == 1
    assert "sre.md:1: error: no front matter" in out
    assert "pml import postmortems" in out


def test_sre_book_example_todo_markers_other_type_and_resolution(library_dir: Path) -> None:
    path = with_header(SRE_BOOK, library_dir / "sre.md", "Shakespeare Sonnet++", "2015-10-21")
    found = findings(path)
    assert not [f for f in found if f["code"] == "placeholder"]  # TODO/DONE are statuses
    assert not [f for f in found if f["level"] == "error"]
    # Impact, Root Causes, Resolution (###), Lessons Learned and Timeline167 are recognised;
    # the book writes Detection and Action Items as bold paragraphs, not headings.
    assert missing_sections(found) == {
        "missing section '## Detection'",
        "missing section '## Action items'",
    }
    items = [{"id": "AI-1", "title": "Schedule a DiRT test", "type": "other", "owner": "docbrown"}]
    text = postmortem_text(timestamps=STAMPS, action_items=[{**items[0], "due": "2015-11-01"}])
    write(library_dir, "other.md", text)
    assert not [f for f in findings(library_dir / "other.md") if f["level"] == "error"]


def test_a_todo_written_as_a_gap_is_still_flagged(library_dir: Path) -> None:
    body = (
        "## Summary\nTODO: say what broke\n\n## Action items\n| x | y |\n|---|---|\n| a | TODO |\n"
    )
    path = write(library_dir, "gap.md", postmortem_text(body=body, timestamps=STAMPS))
    placeholders = [f for f in findings(library_dir) if f["code"] == "placeholder"]
    lines = path.read_text().split("\n")
    assert [lines[int(str(f["line"])) - 1] for f in placeholders] == ["TODO: say what broke"]


def test_jekyll_and_hugo_dates_and_level_three_headings(library_dir: Path) -> None:
    post = JEKYLL.read_text(encoding="utf-8")
    for name, stamp in (("jekyll", "2018-08-05 14:54:00 +0000"), ("hugo", "2018-08-05T14:54:00Z")):
        text = post.replace("author: MikeMcQuaid\n", f"author: MikeMcQuaid\ndate: {stamp}\n", 1)
        path = write(library_dir, f"{name}.md", text)
        parsed = postmortem.parse(text, str(path))
        assert parsed.date.isoformat() == "2018-08-05"
        missing = missing_sections(findings(path))
        # `### What was impacted` and `### What we're doing about it` count.
        assert "missing section '## Impact'" not in missing
        assert "missing section '## Action items'" not in missing


def test_a_date_in_no_known_form_says_what_it_is(library_dir: Path) -> None:
    write(library_dir, "x.md", "---\ntitle: X\ndate: 21/10/2015\n---\n")
    _, out, _ = run(str(library_dir))
    assert "error: 'date' is '21/10/2015'; expected a date like 2025-03-14" in out
    assert "missing required field" not in out


def test_issue_summary_style_sections(library_dir: Path) -> None:
    path = with_header(ISSUE_SUMMARY, library_dir / "alx.md", "Sign-in broken", "2022-02-05")
    assert missing_sections(findings(path)) == {
        "missing section '## Impact'",
        "missing section '## Detection'",
        "missing section '## Lessons learned'",
    }


def test_repeated_action_item_id(library_dir: Path) -> None:
    items = [
        {"id": "AI-1", "title": "One", "status": "done"},
        {"id": "AI-2", "title": "Two", "status": "done"},
        {"id": "AI-2", "title": "Three", "status": "done"},
    ]
    write(library_dir, "dup.md", postmortem_text(timestamps=STAMPS, action_items=items))
    code, out, _ = run(str(library_dir))
    assert code == 1
    assert "error: action item id 'AI-2' is already used on line" in out


def test_one_file_is_linted_against_the_library_around_it(library_dir: Path) -> None:
    write(library_dir, "2025/a.md", postmortem_text(id="orders-pool", timestamps=STAMPS))
    path = write(
        library_dir,
        "2025/b.md",
        postmortem_text(id="b", related=["orders-pool", "orders-pol"], timestamps=STAMPS),
    )
    code, out, _ = run(str(path))
    assert code == 0
    assert "'orders-pool', which is not" not in out
    assert "links to 'orders-pol', which is not in the library; did you mean 'orders-pool'?" in out
    clash = write(library_dir, "2026/c.md", postmortem_text(id="orders-pool", timestamps=STAMPS))
    code, out, _ = run(str(clash))
    assert code == 1 and "id 'orders-pool' is already used by" in out


def test_empty_owner_and_published_without_timestamps(library_dir: Path) -> None:
    write(library_dir, "x.md", postmortem_text(owner=""))
    text = (library_dir / "x.md").read_text()
    write(library_dir, "x.md", text.replace("owner: ''", "owner:"))
    _, out, _ = run(str(library_dir))
    assert "warning: 'owner' is empty: fill it in or delete the line" in out
    assert "warning: published without timestamps" in out
    write(library_dir, "x.md", postmortem_text(owner="fulfilment", status="draft"))
    assert run(str(library_dir))[:2] == (0, "")


def test_summary_counts_what_was_printed(library_dir: Path, monkeypatch: object) -> None:
    secret = postmortem_text(visibility="restricted", audience=["security"], timestamps=STAMPS)
    write(library_dir, "secret.md", secret)
    write(library_dir, "thin.md", postmortem_text(body="## Summary\nshort\n", timestamps=STAMPS))
    code, out, err = run(str(library_dir))
    printed = out.count(": warning: ")
    assert printed == 7  # the seven missing sections of thin.md
    assert "secret.md:" in err and ": note: restricted postmortems are hidden" in err
    warnings = f"{printed} warning{'' if printed == 1 else 's'}"
    assert err.strip().endswith(f"0 errors, {warnings}, 1 note")
    assert code == 0


def test_fix_normalises_dates_fills_ids_sorts_fields(library_dir: Path) -> None:
    text = """---
title: Checkout errors  # what broke
status: published
date: 2025-03-14 18:02:00 +0000
timestamps:
  started_at: 2025-03-14 18:02:00 +0000
  resolved_at: 2025-03-14T19:30:00Z
action_items:
  - title: Alert on it
    type: detect
    owner: dana
    due: April 1, 2025
schema: 1
---
## Summary
Short.
"""
    path = write(library_dir, "2025/2025-03-14-checkout.md", text)
    _, out, err = run("--fix", str(path))
    fixed = path.read_text()
    assert fixed.startswith(
        "---\nschema: 1\nid: 2025-03-14-checkout\ntitle: Checkout errors  # what broke\n"
        "date: 2025-03-14\nstatus: published\n"
    )
    assert (
        "  started_at: 2025-03-14T18:02:00+00:00\n  resolved_at: 2025-03-14T19:30:00+00:00\n"
        in fixed
    )
    assert "  - id: AI-1\n    title: Alert on it\n" in fixed and "due: 2025-04-01" in fixed
    assert fixed.endswith("---\n## Summary\nShort.\n")
    assert "-date: 2025-03-14 18:02:00 +0000\n" in err and "+date: 2025-03-14\n" in err
    assert "error" not in out
    assert run("--fix", str(path))[2] == run(str(path))[2]  # nothing left to fix: no diff
