"""Alertmanager webhooks (dedupe, near-miss detection) and the near-miss log, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from indexer.config import Settings

HEADER = (
    "source_id,title,service,severity,started_at,detected_at,acknowledged_at,"
    "mitigated_at,resolved_at,error_class,error_budget_minutes,postmortem"
)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    settings.near_miss_window_minutes = 15
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def alert(
    status: str = "firing",
    starts: str = "2025-05-01T10:00:00Z",
    ends: str = "0001-01-01T00:00:00Z",
    fingerprint: str = "a1b2c3",
    service: str = "orders",
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "OrdersDbConnectionsHigh", "service": service, "severity": "page"},
        "annotations": {"summary": "Orders DB connections above 90%"},
        "startsAt": starts,
        "endsAt": ends,
        "generatorURL": "http://prometheus:9090/graph?g0.expr=pg_connections",
        "fingerprint": fingerprint,
    }


def payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="OrdersDbConnectionsHigh"}',
        "truncatedAlerts": 0,
        "status": alerts[0]["status"] if alerts else "firing",
        "receiver": "pml",
        "groupLabels": {"alertname": "OrdersDbConnectionsHigh"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


def send(client: TestClient, body: Any) -> Any:
    response = client.post("/api/alerts/alertmanager", json=body)
    assert response.status_code == 200, response.text
    return response.json()


RESOLVED_QUICKLY = alert("resolved", ends="2025-05-01T10:09:00Z")


def test_repeats_are_acknowledged_and_ignored(client: TestClient) -> None:
    first = send(client, payload(alert()))
    assert (first["new"], first["duplicates"]) == (1, 0)
    again = send(client, payload(alert()))
    assert (again["new"], again["duplicates"]) == (0, 1)
    other_firing = send(client, payload(alert(starts="2025-05-02T10:00:00Z")))
    assert other_firing["new"] == 1  # same fingerprint, new startsAt: a new alert


def test_quick_unacknowledged_alert_becomes_a_near_miss_once(client: TestClient) -> None:
    send(client, payload(alert()))
    resolved = send(client, payload(RESOLVED_QUICKLY))
    assert (resolved["updated"], resolved["near_misses"]) == (1, 1)
    redelivered = send(client, payload(RESOLVED_QUICKLY))
    assert (redelivered["duplicates"], redelivered["near_misses"]) == (1, 0)
    late_firing = send(client, payload(alert()))  # out of order: must not reopen it
    assert late_firing["duplicates"] == 1
    groups = client.get("/api/near-misses", params={"as_of": "2025-05-01"}).json()["groups"]
    assert len(groups) == 1 and groups[0]["count"] == 1
    entry = groups[0]["entries"][0]
    assert entry["source"] == "alertmanager" and entry["service"] == "orders"
    assert entry["date"] == "2025-05-01" and entry["what_failed"] == "OrdersDbConnectionsHigh"
    assert "9 min" in entry["caught_by"]


def test_slow_or_acknowledged_alerts_are_not_near_misses(client: TestClient) -> None:
    slow = alert("resolved", ends="2025-05-01T10:16:00Z", fingerprint="slow")
    assert send(client, payload(slow))["near_misses"] == 0
    history = (
        f"{HEADER}\nINC-9,Pool,orders,SEV3,2025-05-03T09:58:00Z,2025-05-03T10:00:00Z,"
        "2025-05-03T10:03:00Z,,2025-05-03T10:20:00Z,,,\n"
    )
    client.post("/api/incidents/import", params={"source": "csv"}, content=history.encode())
    handled = alert("resolved", "2025-05-03T10:00:00Z", "2025-05-03T10:05:00Z", "handled")
    assert send(client, payload(handled))["near_misses"] == 0
    elsewhere = alert("resolved", "2025-05-03T10:00:00Z", "2025-05-03T10:05:00Z", "s", "search")
    assert send(client, payload(elsewhere))["near_misses"] == 1


def test_some_bad_alerts_do_not_block_the_good_ones(client: TestClient) -> None:
    broken = {"status": "firing", "labels": {}, "startsAt": "yesterday", "fingerprint": "x"}
    body = send(client, payload(alert(), broken, {"status": "firing"}))
    assert body["new"] == 1 and body["received"] == 3
    assert body["errors"] == [
        {"alert": 1, "message": "startsAt is not an RFC 3339 time: 'yesterday'"},
        {"alert": 2, "message": "startsAt is missing"},  # no fingerprint: computed
    ]


def test_an_alert_with_a_nul_is_left_out_and_the_batch_kept(client: TestClient) -> None:
    """Issue 29: PostgreSQL failed the whole batch (a 500, so Alertmanager retried forever)."""
    bad = alert(fingerprint="nul1")
    bad["annotations"] = {"summary": "connections \u0000 high"}
    body = send(client, payload(alert(), bad))
    assert body["new"] == 1 and body["received"] == 2
    (error,) = body["errors"]
    assert error["alert"] == 1 and "annotations.summary" in error["message"]
    assert "NUL" in error["message"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"not json", 400, "not valid JSON"),
        (b'{"version": "3", "alerts": []}', 422, "version"),
        (b'{"version": "4", "alerts": {}}', 422, "must be a list"),
        (b'{"version": "4", "alerts": [{"status": "firing"}]}', 422, "startsAt is missing"),
        (b"[]", 422, "JSON object"),
    ],
)
def test_permanently_bad_payloads_get_4xx(
    client: TestClient, body: bytes, status: int, message: str
) -> None:
    response = client.post(
        "/api/alerts/alertmanager", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status
    assert message in response.json()["detail"]


def near_miss(client: TestClient, day: str, what: str, service: str = "orders") -> Any:
    response = client.post(
        "/api/near-misses",
        json={
            "date": day,
            "service": service,
            "what_failed": what,
            "caught_by": "WAL disk alert at 80%",
            "corrective_action": "Raised archive frequency",
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_third_repeat_recommends_a_postmortem(client: TestClient) -> None:
    assert near_miss(client, "2025-01-05", "WAL disk 81% full")["group_count"] == 1
    second = near_miss(client, "2025-02-05", "wal disk 85%  full!")
    assert (second["group_count"], second["postmortem_recommended"]) == (2, False)
    near_miss(client, "2025-02-06", "Replica lag", service="catalog")
    third = near_miss(client, "2025-03-05", "WAL disk 90% full")
    assert (third["group_count"], third["postmortem_recommended"]) == (3, True)
    body = client.get("/api/near-misses", params={"as_of": "2025-03-31"}).json()
    assert body["recommended"] == 1
    assert [(g["service"], g["count"]) for g in body["groups"]] == [("orders", 3), ("catalog", 1)]
    assert [e["date"] for e in body["groups"][0]["entries"]] == [
        "2025-03-05",
        "2025-02-05",
        "2025-01-05",
    ]
    # As of February the group had only two entries.
    before = client.get("/api/near-misses", params={"as_of": "2025-02-28"}).json()
    assert before["recommended"] == 0
    recent = client.get("/api/near-misses", params={"as_of": "2025-03-31", "days": 30}).json()
    assert [g["service"] for g in recent["groups"]] == ["orders"]


def test_near_miss_needs_what_failed_and_what_caught_it(client: TestClient) -> None:
    missing = client.post(
        "/api/near-misses", json={"date": "2025-01-01", "service": "orders", "what_failed": "x"}
    )
    assert missing.status_code == 422 and "caught_by" in missing.json()["message"]
    future = client.post(
        "/api/near-misses",
        json={"date": "2999-01-01", "service": "orders", "what_failed": "x", "caught_by": "y"},
    )
    assert future.status_code == 422 and "future" in future.json()["detail"]
