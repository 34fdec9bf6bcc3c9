"""`pml lint`: every check, the three output formats, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from api.cli import main
from tests.conftest import SAMPLE_LIBRARY, postmortem_text, write

STAMPS = {"started_at": "2025-03-14T10:00:00+00:00", "resolved_at": "2025-03-14T11:00:00+00:00"}


def lint(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["lint", *args])
    return result.exit_code, result.stdout


def test_sample_library_is_clean() -> None:
    code, out = lint(str(SAMPLE_LIBRARY))
    assert out == ""
    assert code == 0


def test_clean_file_passes(library_dir: Path) -> None:
    write(library_dir, "ok.md", postmortem_text(timestamps=STAMPS))
    assert lint(str(library_dir)) == (0, "")


def test_reports_file_line_level_message(library_dir: Path) -> None:
    write(
        library_dir,
        "2025/bad.md",
        postmortem_text(
            services=["ordres"],
            error_classes=["conection-pool-exhaustion"],
            timestamps={
                "started_at": "2025-03-14T10:00:00+00:00",
                "detected_at": "2025-03-14T09:00:00+00:00",
            },
        ),
    )
    code, out = lint(str(library_dir))
    path = f"{library_dir}/2025/bad.md"
    assert code == 1
    assert (
        f"{path}:8: error: unknown service 'ordres' (not in taxonomy.yaml); did you mean 'orders'?"
    ) in out
    assert "did you mean 'connection-pool-exhaustion'?" in out
    assert f"{path}:13: error: detected_at (2025-03-14T09:00:00+00:00) is before started_at" in out


def test_detection_gap_wants_a_detect_action_item(library_dir: Path) -> None:
    stamps = {"started_at": "2025-03-14T10:00:00+00:00", "detected_at": "2025-03-14T10:20:00+00:00"}
    write(library_dir, "gap.md", postmortem_text(timestamps=stamps))
    code, out = lint(str(library_dir))
    assert code == 0
    assert (
        "warning: detection gap of 20 minutes (over 5) and no 'detect' action item: "
        "instrument better" in out
    )
    item = {
        "id": "AI-1",
        "title": "Alert on it",
        "type": "detect",
        "owner": "sam",
        "due": "2025-04-01",
    }
    write(library_dir, "gap.md", postmortem_text(timestamps=stamps, action_items=[item]))
    assert lint(str(library_dir)) == (0, "")


def test_action_items_need_owner_and_due(library_dir: Path) -> None:
    write(
        library_dir,
        "ai.md",
        postmortem_text(
            action_items=[
                {"id": "AI-1", "title": "Fix it", "status": "open"},
                {"id": "AI-2", "title": "Done already", "status": "done"},
            ]
        ),
    )
    _, out = lint(str(library_dir))
    assert "action item AI-1 ('Fix it') has no owner and no due" in out
    assert "AI-2" not in out


def test_duplicate_ids_and_dangling_links(library_dir: Path) -> None:
    write(library_dir, "a.md", postmortem_text(id="same"))
    write(library_dir, "b.md", postmortem_text(id="same", related=["sam"]))
    code, out = lint(str(library_dir))
    assert code == 1
    assert f"error: id 'same' is already used by {library_dir}/a.md" in out
    assert "links to 'sam', which is not in the library; did you mean 'same'?" in out


def test_malformed_file_is_reported_and_others_still_checked(library_dir: Path) -> None:
    write(library_dir, "broken.md", "---\ntitle: [oops\n---\n")
    write(library_dir, "fine.md", postmortem_text(severity="SEV9"))
    code, out = lint(str(library_dir))
    assert code == 1
    # libyaml notices the unclosed bracket where the front matter ends (line 2 or 3).
    assert re.search(rf"{library_dir}/broken.md:[23]: error: invalid YAML", out)
    assert "'severity' is 'SEV9'" in out


def test_missing_sections_and_todos_in_published(library_dir: Path) -> None:
    write(library_dir, "thin.md", postmortem_text(body="## Summary\nTODO\n"))
    _, out = lint(str(library_dir))
    assert "missing section '## Timeline'" in out
    assert "'TODO' left in a published postmortem" in out
    write(library_dir, "thin.md", postmortem_text(body="## Summary\nTODO\n", status="draft"))
    assert lint(str(library_dir)) == (0, "")


def test_github_and_json_formats(library_dir: Path) -> None:
    write(library_dir, "x.md", postmortem_text(severity="bad", timestamps=STAMPS))
    code, out = lint("--format", "github", str(library_dir))
    assert code == 1
    assert out.startswith(f"::error file={library_dir}/x.md,line=6,title=invalid-value::")
    _, out = lint("--format", "json", str(library_dir))
    findings = json.loads(out)
    assert findings[0]["level"] == "error" and findings[0]["line"] == 6
