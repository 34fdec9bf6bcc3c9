"""Delivery: a new incident's precedents reach each on-call channel once, retried until sent.

Against local servers that check each vendor's documented request
(tests/oncall/vendors.py); the library is the shipped sample library.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from benchmarks.seen_before import payloads
from indexer.config import Settings
from indexer.incidents import importers
from indexer.library import Library
from indexer.oncall import delivery
from tests.oncall import vendors

POOL = "2025-02-11-orders-pgbouncer-pool-exhaustion"
SECRET_IDS = ("2025-05-29-identity-credential-stuffing", "2026-10-21-identity-credential-stuffing")
NOW = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)


@pytest.fixture
def vendor() -> Iterator[vendors.Vendor]:
    with vendors.serving() as server:
        yield server


def oncall_settings(settings: Settings, url: str) -> Settings:
    return settings.model_copy(
        update={
            "public_url": "https://pml.example.com",
            "oncall_pagerduty_token": SecretStr(vendors.PD_TOKEN),
            "oncall_pagerduty_from": vendors.PD_FROM,
            "oncall_pagerduty_url": f"{url}/pagerduty",
            "oncall_opsgenie_key": SecretStr(vendors.OG_KEY),
            "oncall_opsgenie_url": f"{url}/opsgenie",
            "oncall_webhooks": SecretStr(f"slack={url}/slack,teams={url}/teams"),
        }
    )


@pytest.fixture
def library(sample_settings: Settings, vendor: vendors.Vendor, open_library: Any) -> Library:
    opened: Library = open_library(oncall_settings(sample_settings, vendor.url))
    opened.refresh()
    importers.load_history(opened.engine, opened.root)
    return opened


def pool_page(event_type: str = "incident.triggered") -> bytes:
    body = json.loads(
        payloads.pagerduty(
            "[FIRING:1] PgbouncerPoolExhausted (pgbouncer-orders critical)", "Orders API", "PPOOL01"
        )
    )
    body["event"]["event_type"] = event_type
    return json.dumps(body).encode()


def test_a_triggered_incident_reaches_every_channel_once(
    library: Library, vendor: vendors.Vendor
) -> None:
    assert delivery.enqueue(library, "pagerduty", pool_page(), NOW) == 3  # note, Slack, Teams
    outcomes = delivery.dispatch(library.engine, library.settings, NOW)
    assert sorted(o.status for o in outcomes) == ["sent", "sent", "sent"]
    assert [r.problem for r in vendor.requests] == [None, None, None]
    paths = sorted(r.path for r in vendor.requests)
    assert paths == ["/pagerduty/incidents/PPOOL01/notes", "/slack", "/teams"]
    note = next(r for r in vendor.requests if r.path.startswith("/pagerduty")).body
    content = note["note"]["content"]
    assert f"https://pml.example.com/postmortems/{POOL}" in content
    assert "same service: orders" in content
    assert content.count("https://pml.example.com/postmortems/") <= 3
    # Redelivered by PagerDuty, acknowledged later, or queued again after a restart: nothing new.
    assert delivery.enqueue(library, "pagerduty", pool_page(), NOW) == 0
    assert delivery.enqueue(library, "pagerduty", pool_page("incident.acknowledged"), NOW) == 0
    reopened = Library.open(library.settings)
    try:
        assert delivery.enqueue(reopened, "pagerduty", pool_page(), NOW) == 0
    finally:
        reopened.close()
    assert delivery.dispatch(library.engine, library.settings, NOW + dt.timedelta(hours=1)) == []
    assert len(vendor.requests) == 3


def test_opsgenie_create_gets_a_note_and_nothing_else_does(
    library: Library, vendor: vendors.Vendor
) -> None:
    created = payloads.opsgenie(
        "Search results stale: indexer lag above 30 minutes",
        tags=["elasticsearch"],
        details={"service": "search-indexer"},
        alert_id="og-alert-7",
    )
    closed = json.loads(created)
    closed["action"] = "Close"
    assert delivery.enqueue(library, "opsgenie", json.dumps(closed).encode(), NOW) == 0
    assert delivery.enqueue(library, "opsgenie", created, NOW) == 3  # note, Slack, Teams
    delivery.dispatch(library.engine, library.settings, NOW)
    notes = [r for r in vendor.good() if r.path.startswith("/opsgenie/")]
    assert [r.path for r in notes] == ["/opsgenie/v2/alerts/og-alert-7/notes?identifierType=id"]
    assert "2025-12-16-search-indexer-oom" in notes[0].body["note"]


def test_nothing_is_sent_when_nothing_matched_well(library: Library) -> None:
    body = payloads.alertmanager(
        "etcdMembersDown", {"job": "etcd", "namespace": "kube-system"}, "etcd members are down."
    )
    assert delivery.enqueue(library, "alertmanager", body, NOW) == 0
    resolved = payloads.alertmanager(
        "PgbouncerPoolExhausted", {"job": "pgbouncer-orders"}, "pool exhausted", status="resolved"
    )
    assert delivery.enqueue(library, "alertmanager", resolved, NOW) == 0


def test_restricted_postmortems_never_leave(library: Library, vendor: vendors.Vendor) -> None:
    body = payloads.alertmanager(
        "LoginFailureRatioHigh",
        {"service": "identity"},
        "Credential stuffing suspected: login failure ratio above 40%",
        "Bots are trying leaked passwords against the login endpoint.",
    )
    delivery.enqueue(library, "alertmanager", body, NOW)
    delivery.dispatch(library.engine, library.settings, NOW)
    sent = json.dumps([r.body for r in vendor.requests])
    assert not any(secret in sent for secret in SECRET_IDS)


def test_failures_are_retried_with_backoff_then_given_up(
    library: Library, vendor: vendors.Vendor
) -> None:
    vendor.failures = 6  # three channels fail twice each
    delivery.enqueue(library, "pagerduty", pool_page(), NOW)
    first = delivery.dispatch(library.engine, library.settings, NOW)
    assert {o.status for o in first} == {"pending"} and all(
        "HTTP 500" in (o.error or "") for o in first
    )
    assert delivery.dispatch(library.engine, library.settings, NOW + dt.timedelta(seconds=10)) == []
    second = delivery.dispatch(library.engine, library.settings, NOW + dt.timedelta(seconds=31))
    assert {o.status for o in second} == {"pending"}
    # the wait doubles: 60 s after the second failure
    assert delivery.dispatch(library.engine, library.settings, NOW + dt.timedelta(seconds=80)) == []
    third = delivery.dispatch(library.engine, library.settings, NOW + dt.timedelta(seconds=92))
    assert {o.status for o in third} == {"sent"}
    listed = delivery.deliveries(library.engine)
    assert {(d["status"], d["attempts"], d["last_error"]) for d in listed} == {("sent", 3, None)}
    # a channel that never answers is given up after MAX_ATTEMPTS
    vendor.failures = 10_000
    body = payloads.firehydrant("Checkout pods OOMKilled after release", ["Checkout"], "", "fh-9")
    delivery.enqueue(library, "firehydrant", body, NOW)
    moment = NOW
    for _ in range(delivery.MAX_ATTEMPTS):
        delivery.dispatch(library.engine, library.settings, moment)
        moment += delivery.MAX_BACKOFF
    states = {
        d["status"] for d in delivery.deliveries(library.engine) if d["source"] == "firehydrant"
    }
    assert states == {"failed"}


def sign(secret: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_the_webhook_hands_a_new_incident_to_the_dispatcher(
    sample_settings: Settings, vendor: vendors.Vendor
) -> None:
    settings = oncall_settings(sample_settings, vendor.url).model_copy(
        update={
            "pagerduty_webhook_secret": SecretStr("pd-secret"),
            "auth": "token",
            "admin_group": "sre",
        }
    )
    with TestClient(create_app(settings)) as client:
        body = pool_page()
        headers = {"X-PagerDuty-Signature": sign("pd-secret", body)}
        for _ in range(2):  # PagerDuty redelivers
            answer = client.post("/api/webhooks/pagerduty", content=body, headers=headers)
            assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + 30
        while len(vendor.good()) < 3:
            assert time.monotonic() < deadline, vendor.requests
            time.sleep(0.05)
        assert client.get("/api/oncall/deliveries").status_code == 401
        assert client.get("/admin/oncall").status_code == 401
    assert sorted(r.path for r in vendor.good()) == [
        "/pagerduty/incidents/PPOOL01/notes",
        "/slack",
        "/teams",
    ]
