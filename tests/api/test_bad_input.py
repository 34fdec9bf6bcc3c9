"""Input that used to be a 500: each is now a 4xx that names the problem.

Alertmanager retries every 5xx, so one bad alert must not fail its batch:
the others are stored and the bad one is reported by its index.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from indexer.config import Settings
from tests.conftest import postmortem_text, write

JSON = {"content-type": "application/json"}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    write(settings.library, "a.md", postmortem_text(id="2025-03-12-a", date="2025-03-12"))
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def test_digest_weeks_outside_the_calendar_are_a_400(client: TestClient) -> None:
    for path in ("/api/digest", "/digest", "/digest.md"):
        for week in ("9999-W52", "0001-W01", "1899-W52", "3000-W01"):
            reply = client.get(path, params={"week": week})
            assert reply.status_code == 400, (path, week, reply.text)
            assert week in reply.text


def test_an_offset_past_64_bits_is_a_422(client: TestClient) -> None:
    reply = client.get("/api/postmortems", params={"offset": 2**63})
    assert reply.status_code == 422 and "1000000" in reply.text


def _alert(fingerprint: str, **labels: Any) -> dict[str, Any]:
    return {
        "fingerprint": fingerprint,
        "status": "resolved",
        "startsAt": "2025-03-13T10:00:00Z",
        "endsAt": "2025-03-13T10:03:00Z",
        "labels": {"alertname": "PoolHigh", "service": "orders", **labels},
        "annotations": {"summary": "s" * 5000},
    }


def test_one_oversized_or_nested_alert_does_not_block_its_batch(client: TestClient) -> None:
    nested: Any = "deep"
    for _ in range(200):
        nested = {"x": [nested]}
    alerts = [
        _alert("huge", alertname="x" * 500_000),
        _alert("good"),
        _alert("nested", team=nested),
        _alert("long-name", alertname="N" * 300),
        _alert("many", **{f"l{n}": "v" for n in range(150)}),
    ]
    reply = client.post("/api/alerts/alertmanager", json={"version": "4", "alerts": alerts})
    assert reply.status_code == 200, reply.text
    report = reply.json()
    assert report["received"] == 5 and report["new"] == 1 and report["near_misses"] == 1
    errors = {e["alert"]: e["message"] for e in report["errors"]}
    assert sorted(errors) == [0, 2, 3, 4]
    assert "labels.alertname is longer than" in errors[0]
    assert "labels.team must be a string" in errors[2]
    assert "labels.alertname is longer than 200" in errors[3]
    assert "more than 100" in errors[4]
    logged = client.get("/api/near-misses", params={"as_of": "2025-03-31"}).json()["groups"]
    assert [group["what_failed"] for group in logged] == ["PoolHigh"]


def test_an_alert_with_only_a_long_summary_becomes_a_near_miss(client: TestClient) -> None:
    alert = _alert("summary-only")
    del alert["labels"]["alertname"]
    reply = client.post("/api/alerts/alertmanager", json={"version": "4", "alerts": [alert]})
    assert reply.status_code == 200 and reply.json()["near_misses"] == 1
    logged = client.get("/api/near-misses", params={"as_of": "2025-03-31"}).json()["groups"]
    assert logged[0]["what_failed"] == "s" * 500


def test_json_nested_too_deep_to_read_is_a_400(client: TestClient) -> None:
    body = '{"version": "4", "alerts": ' + "[" * 100_000 + "]" * 100_000 + "}"
    reply = client.post("/api/alerts/alertmanager", content=body, headers=JSON)
    assert reply.status_code == 400 and "nested too deeply" in reply.json()["detail"]
    reply = client.post("/api/near-misses", content=body, headers=JSON)
    assert reply.status_code in (400, 422)
    assert json.dumps(reply.json())  # a JSON error, not a 500
