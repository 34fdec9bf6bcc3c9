"""Seen before over HTTP, on the shipped sample library: vendor payloads in, precedents out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from benchmarks.seen_before import payloads as alerts
from indexer.config import Settings

POOL = "2025-02-11-orders-pgbouncer-pool-exhaustion"
HIKARI = "2026-03-09-checkout-hikari-pool-saturation"


@pytest.fixture
def client(sample_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(sample_settings)) as test_client:
        deadline = time.monotonic() + 60
        while not test_client.get("/readyz").json().get("semantic"):
            assert time.monotonic() < deadline, "semantic search never became ready"
            time.sleep(0.05)
        yield test_client


def ask(client: TestClient, source: str, body: bytes) -> dict[str, Any]:
    answer = client.post(
        "/api/seen-before",
        params={"source": source},
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_an_undeclared_label_value_finds_the_service_and_its_pool_exhaustion(
    client: TestClient,
) -> None:
    body = alerts.alertmanager(
        "PgbouncerPoolExhausted",
        {"job": "pgbouncer-orders", "severity": "critical"},
        "PgBouncer has no free server connections",
        "Clients are waiting for a server connection for more than 2 minutes.",
    )
    answer = ask(client, "alertmanager", body)
    assert answer["service"] == "orders"
    assert "pgbouncer-orders" in answer["service_reason"]
    assert answer["failure_modes"] == ["connection-pool-exhaustion"]
    assert answer["matched_well"] is True
    first = answer["items"][0]
    assert first["id"] == POOL and first["strength"] == "strong"
    reasons = " | ".join(first["reasons"])
    assert "same service: orders" in reasons and "same failure mode" in reasons
    # the same failure mode on another service is a precedent too, ranked after it
    assert HIKARI in [item["id"] for item in answer["items"][1:]]


def test_nothing_in_the_library_is_said_plainly_not_padded(client: TestClient) -> None:
    body = alerts.alertmanager(
        "EtcdMembersDown", {"job": "etcd", "namespace": "kube-system"}, "etcd members are down"
    )
    answer = ask(client, "alertmanager", body)
    assert answer["matched_well"] is False
    assert answer["items"] == []
    assert answer["service"] is None


def test_pagerduty_title_and_service_name(client: TestClient) -> None:
    body = alerts.pagerduty(
        "[FIRING:1] CertificateExpiringSoon (api-gateway-prod critical)", "Edge Gateway"
    )
    answer = ask(client, "pagerduty", body)
    assert answer["service"] == "api-gateway"
    assert answer["alert"].startswith("[FIRING:1] CertificateExpiringSoon")
    assert "certificate-expiry" in answer["failure_modes"]
    ids = [item["id"] for item in answer["items"]]
    assert ids and ids[0] == "2025-09-16-api-gateway-cert-chain-near-miss"


def test_opsgenie_message_tags_and_details(client: TestClient) -> None:
    body = alerts.opsgenie(
        "Consumer lag on order-events above 50k messages",
        description="The warehouse sink consumer group is falling behind.",
        tags=["kafka", "team:data"],
        details={"service": "kafka-connect-data-pipeline", "namespace": "data"},
    )
    answer = ask(client, "opsgenie", body)
    assert answer["service"] == "data-pipeline"
    assert "queue-backlog" in answer["failure_modes"]
    assert answer["matched_well"] is True
    assert all(item["strength"] in ("strong", "partial") for item in answer["items"])
    assert answer["items"][0]["id"] in (
        "2025-08-14-data-pipeline-connect-sink-lag",
        "2026-11-04-data-pipeline-consumer-rebalance-backlog",
    )


def test_firehydrant_incident(client: TestClient) -> None:
    body = alerts.firehydrant(
        "Search results stale, indexer pods OOMKilled", ["search"], "indexer keeps restarting"
    )
    answer = ask(client, "firehydrant", body)
    assert answer["service"] == "search"
    ids = [item["id"] for item in answer["items"][:2]]
    assert set(ids) == {
        "2025-04-03-search-indexer-oom-stale-results",
        "2025-12-16-search-indexer-oom",
    }


def test_team_namespace_names_the_service_when_the_team_owns_one(client: TestClient) -> None:
    body = alerts.alertmanager(
        "KubePodCrashLooping",
        {"namespace": "identity", "pod": "auth-7f9c6d-x2v4q"},
        "Pod is crash looping.",
    )
    answer = ask(client, "alertmanager", body)
    assert answer["service"] == "identity"


def test_unreadable_payloads_are_refused_with_the_reason(client: TestClient) -> None:
    headers = {"Content-Type": "application/json"}
    wrong = client.post(
        "/api/seen-before?source=alertmanager", content=b'{"version": "3"}', headers=headers
    )
    assert wrong.status_code == 422 and "version" in wrong.json()["detail"]
    junk = client.post("/api/seen-before?source=opsgenie", content=b"not json", headers=headers)
    assert junk.status_code == 422 and "JSON" in junk.json()["detail"]
    unknown = client.post("/api/seen-before?source=nagios", content=b"{}", headers=headers)
    assert unknown.status_code == 422


def test_a_stored_incident_has_its_precedents_and_a_panel(client: TestClient) -> None:
    answer = client.get("/api/incidents/csv/P0000260/seen-before")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["service"] == "orders"
    assert POOL in [item["id"] for item in body["items"]]
    page = client.get("/incidents/csv/P0000260")
    assert page.status_code == 200
    assert "Seen before" in page.text and f'href="/postmortems/{POOL}"' in page.text
    missing = client.get("/api/incidents/csv/NOPE/seen-before")
    assert missing.status_code == 404
    listed = client.get("/incidents?service=orders&since=2024-12-28&until=2024-12-28")
    assert 'href="/incidents/csv/P0000260"' in listed.text
