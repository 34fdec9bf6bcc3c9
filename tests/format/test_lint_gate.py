"""`pml lint` as a merge gate: wrong metadata is an error, and says what is wrong.

Dates that contradict each other, and a service, error class or team the
taxonomy does not know, fail the lint (exit 1) with a did-you-mean; a date
that is no day of the calendar says why. A file with a lint error that is
indexed anyway is listed in /api/problems (`indexed: true`) and its page
shows the error (see docs/authoring.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from api.app import create_app
from api.cli import main
from indexer.config import Settings
from indexer.library import Library
from tests.conftest import SAMPLE_LIBRARY, postmortem_text, write

STAMPS = {"started_at": "2025-03-14T10:00:00+00:00", "resolved_at": "2025-03-14T11:00:00+00:00"}


def lint(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["lint", *args])
    return result.exit_code, result.stdout


def test_the_sample_library_still_lints_clean() -> None:
    assert lint(str(SAMPLE_LIBRARY)) == (0, "")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-02-30", "'date' is '2026-02-30': February has 28 days in 2026"),
        ("2024-02-30", "'date' is '2024-02-30': February has 29 days in 2024"),
        ("2025-04-31", "April has 30 days in 2025"),
        ("2025-13-01", "there is no month 13"),
        ("14/03/2025", "expected a date like 2025-03-14"),
    ],
)
def test_an_impossible_date_says_why(library_dir: Path, value: str, expected: str) -> None:
    write(library_dir, "a.md", postmortem_text(date=value, timestamps=STAMPS))
    code, out = lint(str(library_dir))
    assert code == 1
    assert expected in out


def test_an_impossible_timestamp_says_why(library_dir: Path) -> None:
    stamps = {**STAMPS, "resolved_at": "2025-02-29T11:00:00+00:00"}
    write(library_dir, "a.md", postmortem_text(timestamps=stamps))
    code, out = lint(str(library_dir))
    assert code == 1
    assert "'timestamps.resolved_at' is '2025-02-29T11:00:00+00:00': February has 28" in out


def test_date_contradicting_the_id_is_an_error(library_dir: Path) -> None:
    text = postmortem_text(id="2025-03-15-orders-errors", timestamps=STAMPS)
    write(library_dir, "2025-03-15-orders-errors.md", text)
    code, out = lint(str(library_dir))
    assert code == 1
    assert (
        "'date' is 2025-03-14 but the id '2025-03-15-orders-errors' starts with 2025-03-15" in out
    )


def test_date_contradicting_started_at_is_an_error(library_dir: Path) -> None:
    stamps = {"started_at": "2025-03-18T10:00:00+00:00"}
    write(library_dir, "a.md", postmortem_text(timestamps=stamps))
    code, out = lint(str(library_dir))
    assert code == 1
    assert "but timestamps.started_at (2025-03-18T10:00:00+00:00) is on 2025-03-18" in out


def test_an_evening_incident_west_of_utc_agrees_with_its_local_date(library_dir: Path) -> None:
    # 21:30 in New York on the 14th is 01:30 UTC on the 15th: either day is right.
    for name, day in (("local.md", "2025-03-14"), ("utc.md", "2025-03-15")):
        stamps = {"started_at": "2025-03-14T21:30:00-04:00"}
        write(library_dir, name, postmortem_text(id=name[:-3], date=day, timestamps=stamps))
    assert lint(str(library_dir)) == (0, "")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"services": ["ordres"]}, "error: unknown service 'ordres'"),
        ({"error_classes": ["conection-pool-exhaustion"]}, "error: unknown error class"),
        ({"teams": ["fulfilmnet"]}, "error: unknown team 'fulfilmnet'"),
    ],
)
def test_unknown_vocabulary_is_an_error_with_did_you_mean(
    library_dir: Path, fields: dict[str, list[str]], expected: str
) -> None:
    write(library_dir, "a.md", postmortem_text(timestamps=STAMPS, **fields))
    code, out = lint(str(library_dir))
    assert code == 1
    assert expected in out and "did you mean" in out


def test_teams_the_taxonomy_lists_or_services_own_are_known(library_dir: Path) -> None:
    # `fulfilment` owns orders; `security` is in the taxonomy's `teams:` list.
    text = postmortem_text(timestamps=STAMPS, teams=["fulfilment", "security"])
    write(library_dir, "a.md", text)
    assert lint(str(library_dir)) == (0, "")


def test_unknown_contributing_factor_stays_a_warning(library_dir: Path) -> None:
    text = postmortem_text(timestamps=STAMPS, contributing_factors=["cosmic-rays"])
    write(library_dir, "a.md", text)
    code, out = lint(str(library_dir))
    assert code == 0 and "warning: unknown contributing factor 'cosmic-rays'" in out


@pytest.fixture
def client(settings: Settings, library_dir: Path) -> Iterator[TestClient]:
    write(library_dir, "good.md", postmortem_text(id="good", timestamps=STAMPS))
    text = postmortem_text(id="misspelt", timestamps=STAMPS, services=["ordres"])
    write(library_dir, "misspelt.md", text)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_a_file_with_a_lint_error_is_served_with_its_problem_shown(
    client: TestClient, settings: Settings, library_dir: Path
) -> None:
    problems = client.get("/api/problems").json()["items"]
    assert [(p["path"], p["indexed"]) for p in problems] == [("misspelt.md", True)]
    assert "unknown service 'ordres'" in problems[0]["message"]
    assert "did you mean 'orders'" in problems[0]["message"]
    page = client.get("/postmortems/misspelt").text
    assert "This file has 1 lint error" in page and "unknown service" in page
    assert "lint error" not in client.get("/postmortems/good").text
    record = client.get("/api/postmortems/misspelt").json()
    assert record["problems"][0]["line"] == 8


def test_problems_stay_while_the_file_is_unchanged_and_go_when_fixed(
    settings: Settings, library_dir: Path
) -> None:
    write(library_dir, "good.md", postmortem_text(id="good", timestamps=STAMPS))
    text = postmortem_text(id="misspelt", timestamps=STAMPS, services=["ordres"])
    write(library_dir, "misspelt.md", text)
    with Library.open(settings) as library:
        first = library.refresh()
        assert [f.path for f in first.flagged] == ["misspelt.md"]
        assert "1 indexed with lint errors" in first.summary()
        again = library.refresh()  # nothing changed: the problem is not linted again, but stays
        assert again.unchanged == 2 and not again.flagged
        with TestClient(create_app(settings)) as client:
            assert len(client.get("/api/problems").json()["items"]) == 1
        write(library_dir, "misspelt.md", text.replace("ordres", "orders"))
        library.refresh()
        with TestClient(create_app(settings)) as client:
            assert client.get("/api/problems").json()["items"] == []


def test_the_summary_counts_in_words(library_dir: Path) -> None:
    write(library_dir, "a.md", postmortem_text(timestamps=STAMPS, services=["ordres"]))
    result = CliRunner().invoke(main, ["lint", str(library_dir)])
    assert result.stderr.strip().endswith("1 error, 0 warnings")
