"""Incident imports over HTTP and the CLI: vendor fixtures, bad rows, idempotence, linking."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlmodel import col, func, select

from api.app import create_app
from api.cli import main
from indexer.config import Settings
from indexer.db import models, store
from indexer.db.models import ExternalRef
from indexer.incidents import importers
from indexer.library import Library
from tests.conftest import postmortem_text, write

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    write(
        settings.library,
        "2025/pool.md",
        postmortem_text(
            id="pool",
            error_classes=["connection-pool-exhaustion", "retry-storm"],
            external_refs={"pagerduty": ["Q1ORDERS0314"]},
        ),
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _import(client: TestClient, source: str, name: str) -> dict[str, object]:
    data = (FIXTURES / name).read_bytes()
    response = client.post("/api/incidents/import", params={"source": source}, content=data)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _weekly(client: TestClient, as_of: str) -> dict[str, dict[str, object]]:
    body = client.get("/api/review/weekly", params={"as_of": as_of}).json()
    return {item["source_id"]: item for item in body["incidents"]}


def test_pagerduty_rest_maps_fields_and_reports_bad_records(client: TestClient) -> None:
    body = _import(client, "pagerduty", "pagerduty_incidents.json")
    assert (body["added"], body["updated"], body["rejected"]) == (3, 0, 1)
    assert body["errors"] == [
        {
            "row": 3,
            "message": "created_at is not an ISO 8601 timestamp with a time zone: "
            "'2025-03-17T10:00:00' (give the file's time zone for local times)",
        }
    ]
    incidents = _weekly(client, "2025-03-17")
    orders = incidents["Q1ORDERS0314"]
    assert orders["service"] == "orders" and orders["severity"] == "SEV2"
    assert orders["postmortem"] == "pool"  # its external_refs name the incident
    assert orders["error_classes"] == ["connection-pool-exhaustion", "retry-storm"]
    # +01:00 is stored as UTC; resolved from last_status_change_at when resolved_at is absent.
    cert = incidents["PD2CERT"]
    assert cert["started_at"] == "2025-03-15T08:00:00+00:00"
    assert cert["resolved_at"] == "2025-03-15T08:45:00+00:00"
    assert cert["error_classes"] == ["unclassified"]
    assert incidents["PD3OPEN"]["resolved_at"] is None


def test_import_is_idempotent(client: TestClient) -> None:
    _import(client, "pagerduty", "pagerduty_incidents.json")
    again = _import(client, "pagerduty", "pagerduty_incidents.json")
    assert (again["added"], again["updated"]) == (0, 3)
    assert len(_weekly(client, "2025-03-17")) == 3


def test_first_acknowledgement_sets_mtta(client: TestClient) -> None:
    _import(client, "pagerduty", "pagerduty_incidents.json")
    mtta = client.get(
        "/api/trends/mtta", params={"as_of": "2025-03-31", "service": "orders"}
    ).json()
    march = mtta["series"][-1]
    # created 18:06 = detected; first acknowledgement 18:09 (not the later 18:12)
    assert march["period"] == "2025-03" and march["mtta_seconds_median"] == 180


def test_pagerduty_analytics_export(client: TestClient) -> None:
    body = _import(client, "pagerduty", "pagerduty_analytics.json")
    assert (body["added"], body["rejected"]) == (2, 1)
    assert body["errors"][0]["row"] == 2
    assert "seconds_to_first_ack" in body["errors"][0]["message"]
    mttr = client.get("/api/trends/mttr", params={"as_of": "2025-06-30"}).json()
    june = mttr["series"][-1]
    # PA1PAY resolved after 90 minutes; PA2CHK is still open, so it is counted but not measured.
    assert (june["incidents"], june["measured"], june["mttr_seconds_median"]) == (2, 1, 5400)
    mtta = client.get("/api/trends/mtta", params={"as_of": "2025-06-30"}).json()
    assert mtta["series"][-1]["mtta_seconds_median"] == 300


def test_opsgenie_alerts_and_incidents(client: TestClient) -> None:
    alerts = _import(client, "opsgenie", "opsgenie_alerts.json")
    assert (alerts["added"], alerts["rejected"]) == (2, 1)
    assert alerts["errors"] == [{"row": 2, "message": "createdAt is missing"}]
    _import(client, "opsgenie", "opsgenie_incidents.json")
    modes = client.get(
        "/api/trends/failure-modes", params={"as_of": "2026-10-01", "days": 30}
    ).json()
    counts = {item["error_class"]: item["incidents"] for item in modes["items"]}
    assert counts == {
        "connection-pool-exhaustion": 1,  # from the error_class: tag
        "deployment-regression": 1,
        "unclassified": 1,
    }
    services = client.get("/api/trends/services", params={"as_of": "2026-10-01", "days": 30})
    names = {item["service"] for item in services.json()["items"]}
    assert names == {"inventory", "notifications", "storefront"}
    mttr = client.get("/api/trends/mttr", params={"as_of": "2026-09-30"}).json()
    # closeTime 2,700,000 ms after creation = 45 minutes
    assert mttr["series"][-1]["mttr_seconds_median"] == 2700


def test_firehydrant_milestones(client: TestClient) -> None:
    body = _import(client, "firehydrant", "firehydrant_incidents.json")
    # The third incident's resolved milestone is before its start: kept, that time left out.
    assert (body["added"], body["rejected"]) == (3, 0)
    warning = body["warnings"][0]
    assert "resolved_at" in warning["message"] and "left out" in warning["message"]
    assert warning["row"] == 2
    params = {"as_of": "2026-05-31", "service": "catalog"}
    mttd = client.get("/api/trends/mttd", params=params).json()["series"][-1]
    mttr = client.get("/api/trends/mttr", params=params).json()["series"][-1]
    assert mttd["mttd_seconds_median"] == 8 * 60  # started 09:10, detected 09:18
    assert mttr["mttr_seconds_median"] == 90 * 60  # resolved 10:40
    modes = client.get("/api/trends/failure-modes", params={"as_of": "2026-06-30"}).json()
    counts = {item["error_class"]: item["incidents"] for item in modes["items"]}
    assert counts == {"schema-migration": 1, "dns-failure": 1, "unclassified": 1}


def test_csv_reports_each_bad_line(client: TestClient) -> None:
    data = (FIXTURES / "incidents.csv").read_bytes()
    response = client.post("/api/incidents/import", params={"source": "csv"}, content=data)
    body = response.json()
    assert response.status_code == 200
    assert (body["added"], body["rejected"]) == (4, 4)
    assert [error["row"] for error in body["errors"]] == [5, 6, 7, 8]
    assert "time zone" in body["errors"][0]["message"]
    # INC-7 was detected before it started: kept, the impossible time left out, by name.
    assert body["warnings"] == [
        {
            "row": 9,
            "message": "INC-7: detected_at (2025-02-14T09:00:00+00:00) is out of order "
            "with the other times: left out",
        }
    ]
    assert "SEV1..SEV4" in body["errors"][3]["message"]
    incidents = _weekly(client, "2025-02-14")
    assert incidents["INC-1"]["postmortem"] == "pool"  # the postmortem column
    assert incidents["INC-2"]["started_at"] == "2025-02-12T08:00:00+00:00"
    assert incidents["INC-2"]["error_classes"] == ["certificate-expiry"]


UNUSABLE = [
    ("csv", b"id,title\nx,y\n", 400, "missing column source_id, started_at"),
    ("pagerduty", b"{not json", 400, "not valid JSON"),
    ("pagerduty", b'{"foo": 1}', 400, "expected PagerDuty incidents (GET /incidents)"),
    ("opsgenie", b"\xff\xfe", 400, "UTF-8"),
    ("servicenow", b"[]", 400, "unknown source"),
    ("csv", b"", 400, "body is empty"),
    ("firehydrant", b'{"data": [{"name": "no id"}]}', 422, "id is missing"),
]


def test_unusable_files_get_a_4xx_with_the_reason(client: TestClient) -> None:
    for source, content, status, message in UNUSABLE:
        response = client.post("/api/incidents/import", params={"source": source}, content=content)
        assert response.status_code == status, (source, content)
        assert message in str(response.json()), (source, content)


def test_import_size_is_capped(settings: Settings) -> None:
    settings.import_max_bytes = 100
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/api/incidents/import", params={"source": "csv"}, content=b"x" * 101
        )
    assert response.status_code == 413


def test_cli_import(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PML_LIBRARY", str(settings.library))
    monkeypatch.setenv("PML_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PML_DATABASE_URL", settings.resolved_database_url)
    runner = CliRunner()
    fixture = str(FIXTURES / "incidents.csv")
    result = runner.invoke(main, ["import", "incidents", fixture, "--source", "csv"])
    assert result.exit_code == 1  # some rows were rejected
    assert "4 added, 0 updated, 4 rejected, 1 warning\n" in result.output
    assert f"{fixture}: line 8: severity must be SEV1..SEV4" in result.output
    good = str(FIXTURES / "opsgenie_incidents.json")
    result = runner.invoke(main, ["import", "incidents", good, "--source", "opsgenie"])
    assert result.exit_code == 0 and "1 added" in result.output


def test_sample_history_loads_once_and_joins_every_postmortem(sample_settings: Settings) -> None:
    with TestClient(create_app(sample_settings)) as client:
        services = client.get("/api/trends/services", params={"as_of": "2026-11-20"}).json()
        assert sum(item["incidents"] for item in services["items"]) > 100
    library = Library.open(sample_settings)
    try:
        with store.session(library.engine) as db:
            refs = db.exec(select(ExternalRef).where(ExternalRef.source == "pagerduty")).all()
            linked = {
                row.source_id: row.postmortem_id
                for row in db.exec(
                    select(models.IncidentRow).where(
                        col(models.IncidentRow.postmortem_id).is_not(None)
                    )
                )
            }
            assert refs and all(linked.get(ref.ref) == ref.postmortem_id for ref in refs)
            total = db.exec(select(func.count()).select_from(models.IncidentRow)).one()
        # Unchanged file: a second start imports nothing.
        assert importers.load_history(library.engine, sample_settings.library) is None
        with store.session(library.engine) as db:
            again = db.exec(select(func.count()).select_from(models.IncidentRow)).one()
        assert again == total
    finally:
        library.close()


def test_library_changes_relink_incidents(settings: Settings, open_library: Any) -> None:
    library = open_library(settings)
    csv = (
        "source_id,title,service,severity,started_at,detected_at,acknowledged_at,mitigated_at,"
        "resolved_at,error_class,error_budget_minutes,postmortem\n"
        "PD9,Pool,orders,SEV2,2025-03-14T10:00:00Z,,,,,,,\n"
        "PD10,Own class,orders,SEV3,2025-03-14T11:00:00Z,,,,,dns-failure,,\n"
    )
    importers.import_bytes(library.engine, "csv", csv.encode())

    def classes() -> dict[str, list[str]]:
        with store.session(library.engine) as db:
            rows = db.exec(
                select(models.IncidentRow.source_id, models.IncidentClass.error_class).join(
                    models.IncidentClass,
                    col(models.IncidentClass.incident_id) == col(models.IncidentRow.id),
                )
            )
            result: dict[str, list[str]] = {}
            for source_id, error_class in rows:
                result.setdefault(source_id, []).append(error_class)
            return {key: sorted(value) for key, value in result.items()}

    assert classes() == {"PD9": ["unclassified"], "PD10": ["dns-failure"]}
    page = write(
        settings.library,
        "2025/pool.md",
        postmortem_text(
            id="pool",
            error_classes=["connection-pool-exhaustion", "retry-storm"],
            external_refs={"pagerduty": ["PD9", "PD10"]},
        ),
    )
    library.refresh()
    # PD10 keeps its own class; PD9 takes the postmortem's.
    assert classes() == {
        "PD9": ["connection-pool-exhaustion", "retry-storm"],
        "PD10": ["dns-failure"],
    }
    page.unlink()
    library.refresh()
    assert classes() == {"PD9": ["unclassified"], "PD10": ["dns-failure"]}


def test_a_streamed_import_stores_chunk_by_chunk_and_bounds_its_report(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 29: a 1,000,000-row import held every row in memory; now it streams in chunks.

    Small chunks here, so that chunk boundaries, a repeat across them and the
    report's bound are all crossed with a few thousand rows.
    """
    monkeypatch.setattr(importers, "CHUNK_ROWS", 100)
    header = "source_id,title,service,started_at,acknowledged_at,resolved_at"
    good = [f"S{n},Row {n},orders,2025-03-01T10:00:00Z,,2025-03-01T11:00:00Z" for n in range(600)]
    bad = [f"B{n},Bad {n},orders,not a time,," for n in range(1200)]
    # S5 again, in a later chunk, with the acknowledgement its first row lacked.
    repeat = ["S5,Row 5,orders,2025-03-01T10:00:00Z,2025-03-01T10:05:00Z,"]
    body = "\n".join([header, *good, *bad, *repeat]).encode()
    reply = client.post("/api/incidents/import?source=csv", content=body)
    assert reply.status_code == 200, reply.text[:300]
    report = reply.json()
    assert (report["added"], report["updated"], report["rejected"]) == (600, 1, 1200)
    assert len(report["errors"]) == 1000 and report["unlisted"]["errors"] == 200
    assert report["errors"][0]["row"] == 602  # file lines: the header is line 1
    stored = client.get("/api/incidents/csv/S5").json()
    assert stored["acknowledged_at"] and stored["resolved_at"]  # merged across chunks


def test_a_file_level_problem_late_in_a_stream_stores_nothing(client: TestClient) -> None:
    header = "source_id,title,service,started_at"
    rows = [f"S{n},Row {n},orders,2025-03-01T10:00:00Z" for n in range(6000)]
    body = "\n".join([header, *rows]).encode() + b"\nS9999,Caf\xe9,orders,2025-03-01T10:00:00Z\n"
    reply = client.post("/api/incidents/import?source=csv", content=body)
    assert reply.status_code == 400 and "not UTF-8" in reply.text
    assert client.get("/api/incidents", params={"limit": 1}).json()["total"] == 0
