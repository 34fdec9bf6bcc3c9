"""Parsing a postmortem file into the format's fields."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from indexer.format.postmortem import MalformedPostmortem, parse
from tests.conftest import postmortem_text


def test_parses_every_field() -> None:
    text = postmortem_text(
        id="pm-1",
        timestamps={
            "started_at": "2025-03-14T18:02:00+01:00",
            "resolved_at": "2025-03-14T19:30:00Z",
        },
        impact={"customer_facing": True, "error_budget_minutes": 39},
        external_refs={"pagerduty": ["PABC123"]},
        action_items=[
            {
                "id": "AI-1",
                "title": "Alert on waiting clients",
                "type": "detect",
                "owner": "dana",
                "due": "2025-04-01",
                "status": "done",
            }
        ],
    )
    pm = parse(text, "lib/x.md")
    assert pm.id == "pm-1"
    assert pm.date == date(2025, 3, 14)
    assert pm.timestamps["started_at"] == datetime(2025, 3, 14, 17, 2, tzinfo=UTC)
    assert pm.customer_facing is True
    assert pm.error_budget_minutes == 39.0
    assert pm.external_refs == {"pagerduty": ["PABC123"]}
    assert pm.action_items[0].due == date(2025, 4, 1)
    assert pm.findings == []


def test_id_defaults_to_file_stem_and_date_to_start() -> None:
    text = postmortem_text(date=None, timestamps={"started_at": "2024-02-29T23:30:00-05:00"})
    pm = parse(text, "lib/2024/leap-day.md")
    assert pm.id == "leap-day"
    assert pm.date == date(2024, 2, 29)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (postmortem_text(title=None), "missing required field 'title'"),
        (postmortem_text(date=None), "missing required field 'date'"),
        ("no front matter at all\n", "must start with a '---'"),
        ("---\ntitle: [unclosed\n---\n", "invalid YAML"),
    ],
)
def test_malformed_files_name_file_line_and_problem(text: str, message: str) -> None:
    with pytest.raises(MalformedPostmortem) as caught:
        parse(text, "lib/bad.md")
    assert caught.value.finding.path == "lib/bad.md"
    assert message in caught.value.finding.message


def test_bad_values_are_findings_not_guesses() -> None:
    text = postmortem_text(
        severity="SEV5",
        timestamps={"started_at": "2025-03-14 18:02:00"},
        impact={"customer_facing": "yes", "error_budget_minutes": -3},
    )
    pm = parse(text, "lib/x.md")
    assert pm.severity is None
    assert pm.timestamps == {}
    assert pm.customer_facing is None
    messages = " | ".join(f.message for f in pm.findings)
    assert "'severity' is 'SEV5'" in messages
    assert "expected ISO 8601 with a time zone" in messages
    assert "expected true or false" in messages
    assert "expected a number >= 0" in messages
    assert all(f.level == "error" for f in pm.findings)
