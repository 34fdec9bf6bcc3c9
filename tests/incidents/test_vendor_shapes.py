"""Importers know their vendor's shape and time formats (issue 27's importer rows).

A file from another tool is refused with the shape it has, over HTTP and
on the command line; epoch times in any unit, Ruby-style times and severity
objects are read as the vendors write them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from api.app import create_app
from api.cli import main
from indexer.config import Settings
from indexer.incidents.importers import ImportFormatError, parse
from indexer.incidents.importers._common import RowError, severity, timestamp

FOREIGN = Path(__file__).resolve().parent.parent / "fixtures" / "vendors" / "foreign"
HOOKS = Path(__file__).resolve().parent.parent / "fixtures" / "vendors" / "webhooks"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, index_on_start=False)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("statuspage_incident_created.json", "Statuspage webhook"),
        ("incident_io_singer_tap_incidents.json", "incident.io incident"),
    ],
)
def test_a_file_from_another_tool_is_refused_by_its_shape(
    client: TestClient, name: str, shape: str
) -> None:
    data = (FOREIGN / name).read_bytes()
    for source in ("pagerduty", "opsgenie", "firehydrant"):
        answer = client.post("/api/incidents/import", params={"source": source}, content=data)
        assert answer.status_code == 400, answer.text
        assert shape in answer.json()["detail"]
    assert client.get("/api/incidents").json()["total"] == 0


def test_the_cli_names_the_shape_too(settings: Settings) -> None:
    env = {
        "PML_LIBRARY": str(settings.library),
        "PML_DATA_DIR": str(settings.data_dir),
        "PML_DATABASE_URL": settings.resolved_database_url,
    }
    path = str(FOREIGN / "statuspage_incident_created.json")
    result = CliRunner().invoke(
        main, ["import", "incidents", path, "--source", "pagerduty"], env=env
    )
    assert result.exit_code != 0
    assert "Statuspage webhook" in result.output


def test_a_vendors_own_files_are_not_mistaken_for_another() -> None:
    parsed = parse("firehydrant", (HOOKS / "firehydrant" / "docs_incident_event.json").read_bytes())
    assert parsed.errors == []
    with pytest.raises(ImportFormatError, match="FireHydrant incident"):
        parse("pagerduty", (HOOKS / "firehydrant" / "docs_incident_event.json").read_bytes())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1420452191, "2015-01-05T10:03:11+00:00"),  # seconds
        (1420452191.5, "2015-01-05T10:03:11.500000+00:00"),
        (1420452191104, "2015-01-05T10:03:11.104000+00:00"),  # milliseconds
        (1420452191104123, "2015-01-05T10:03:11.104123+00:00"),  # microseconds
        (1420452224764002246, "2015-01-05T10:03:44.764002+00:00"),  # nanoseconds (Opsgenie)
        ("2023-07-25 13:34:49 UTC", "2023-07-25T13:34:49+00:00"),  # Ruby (FireHydrant)
        ("2023-07-25 13:34:49 +0200", "2023-07-25T11:34:49+00:00"),
    ],
)
def test_times_as_vendors_write_them(value: object, expected: str) -> None:
    found = timestamp(value, "at")
    assert found is not None and found.isoformat() == expected
    assert found.tzinfo == dt.UTC


def test_an_epoch_time_of_no_unit_is_named() -> None:
    with pytest.raises(RowError, match="epoch time"):
        timestamp(12345, "createdAt")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"slug": "SEV2", "description": "Primary product functionality"}, "SEV2"),
        ({"summary": "P1", "type": "priority_reference"}, "SEV1"),
        ({"name": "Critical"}, "SEV1"),
        (3, "SEV3"),
        ("P5", "SEV4"),
        ({"slug": "custom"}, None),
    ],
)
def test_severities_as_strings_numbers_or_objects(value: object, expected: str | None) -> None:
    assert severity(value) == expected
