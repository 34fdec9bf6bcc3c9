"""Store-first intake: real vendor deliveries, replays, late events and the admin's view.

Every body here is a real capture or a vendor's documented example
(tests/fixtures/vendors/webhooks/SOURCES.md), posted signed to the running app.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlmodel import select

from api.app import create_app
from api.cli import main
from indexer.auth import create_token
from indexer.config import Settings
from indexer.db import store
from indexer.db.models import IntakeDelivery
from tests.conftest import postmortem_text, write
from tests.gitrepo import Repo

VENDORS = Path(__file__).resolve().parent.parent / "fixtures" / "vendors"
HOOKS = VENDORS / "webhooks"
PD_SECRET, FH_SECRET, OG_TOKEN = "pd-secret", "fh-secret", "og-token"


def hook(name: str) -> bytes:
    return (HOOKS / name).read_bytes()


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def secured(settings: Settings) -> Settings:
    write(settings.library, "taxonomy.yaml", "services:\n  - id: web\n    aliases: [team2]\n")
    return settings.model_copy(
        update={
            "auth": "token",
            "admin_group": "admins",
            "pagerduty_webhook_secret": SecretStr(PD_SECRET),
            "opsgenie_webhook_token": SecretStr(OG_TOKEN),
            "firehydrant_webhook_secret": SecretStr(FH_SECRET),
        }
    )


@pytest.fixture
def client(secured: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(secured)) as test_client:
        yield test_client


def post(client: TestClient, vendor: str, body: bytes) -> Any:
    headers = {"content-type": "application/json"}
    if vendor == "pagerduty":
        headers["x-pagerduty-signature"] = f"v1={sign(PD_SECRET, body)}"
    elif vendor == "firehydrant":
        headers["fh-signature"] = sign(FH_SECRET, body)
    elif vendor == "opsgenie":
        headers["x-pml-token"] = OG_TOKEN
    return client.post(f"/api/webhooks/{vendor}", content=body, headers=headers)


def incident(client: TestClient, source: str, source_id: str) -> dict[str, Any]:
    answer = client.get(f"/api/incidents/{source}/{source_id}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def deliveries(settings: Settings) -> list[IntakeDelivery]:
    engine = store.make_engine(settings.resolved_database_url)
    try:
        with store.session(engine) as db:
            return list(db.exec(select(IntakeDelivery).order_by(IntakeDelivery.id)))  # type: ignore[arg-type]
    finally:
        engine.dispose()


def test_opsgenie_acknowledge_and_close_with_nanosecond_updated_at(client: TestClient) -> None:
    for name in ("zulip_acknowledge.json", "zulip_close.json"):
        answer = post(client, "opsgenie", hook(f"opsgenie/{name}"))
        assert answer.status_code == 200, answer.text
    stored = incident(client, "opsgenie", "052652ac-5d1c-464a-812a-7dd18bbfba8c")
    # createdAt 1420452191104 ms; updatedAt 1420452224764002246 ns, then 1420452374669001603 ns
    assert stored["started_at"] == "2015-01-05T10:03:11.104000+00:00"
    assert stored["acknowledged_at"] == "2015-01-05T10:03:44.764000+00:00"
    assert stored["resolved_at"] == "2015-01-05T10:06:14.669000+00:00"


def test_opsgenie_alert_routed_by_team_maps_its_service_through_the_team(
    client: TestClient,
) -> None:
    answer = post(client, "opsgenie", hook("opsgenie/zulip_create.json"))
    assert answer.status_code == 200 and answer.json()["status"] == "stored"
    body = json.loads(hook("opsgenie/zulip_addteam.json"))
    body["action"] = "Create"  # the alert as its team's routing created it
    assert post(client, "opsgenie", json.dumps(body).encode()).status_code == 200
    routed = incident(client, "opsgenie", "052652ac-5d1c-464a-812a-7dd18bbfba8c")
    assert routed["service"] == "web"  # taxonomy alias "team2"


def test_firehydrant_documented_payload_ruby_times_and_severity_object(
    client: TestClient,
) -> None:
    answer = post(client, "firehydrant", hook("firehydrant/docs_incident_event.json"))
    assert answer.status_code == 200, answer.text
    stored = incident(client, "firehydrant", "04d9fd1a-ba9c-417d-b396-58a6e2c374de")
    assert stored["started_at"] == "2023-07-25T13:34:49+00:00"
    assert stored["mitigated_at"] == "2023-07-25T13:37:04+00:00"
    assert stored["resolved_at"] == "2023-07-25T13:38:17+00:00"
    assert stored["severity"] == "SEV2"


@pytest.mark.parametrize(
    ("vendor", "name"),
    [
        ("pagerduty", "pagerduty_docs_pagey_ping.json"),
        ("pagerduty", "zulip_annotated_v3.json"),
        ("pagerduty", "zulip_status_updated_v3.json"),
        ("pagerduty", "zulip_responder_added.json"),
        ("pagerduty", "zulip_service_created_v3.json"),
        ("opsgenie", "zulip_addnote.json"),
        ("opsgenie", "zulip_escalate.json"),
        ("opsgenie", "zulip_unacknowledge.json"),
        ("firehydrant", "docs_change_event.json"),
        ("firehydrant", "docs_signals_alert.json"),
    ],
)
def test_events_with_nothing_to_measure_answer_2xx(
    client: TestClient, secured: Settings, vendor: str, name: str
) -> None:
    answer = post(client, vendor, hook(f"{vendor}/{name}"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "ignored"
    [delivery] = deliveries(secured)
    assert (delivery.vendor, delivery.outcome, delivery.signature) == (vendor, "ignored", "valid")


def test_pagerduty_2021_captures_without_created_at(client: TestClient) -> None:
    answer = post(client, "pagerduty", hook("pagerduty/zulip_triggered_v3.json"))
    assert answer.status_code == 200 and answer.json()["added"] == 1
    stored = incident(client, "pagerduty", "PFQZPSY")
    assert stored["started_at"] == "2021-06-04T13:35:29.781000+00:00"  # the trigger's own time
    assert stored["title"] == "Test Incident 3"


def test_an_event_before_its_incident_is_kept_and_replayed(
    client: TestClient, secured: Settings
) -> None:
    acked = hook("pagerduty/zulip_acknowledged_v3.json")  # no created_at: start unknown
    answer = post(client, "pagerduty", acked)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "failed"
    delivery = answer.json()["delivery"]
    trigger = json.loads(acked)
    trigger["event"]["event_type"] = "incident.triggered"
    trigger["event"]["occurred_at"] = "2021-06-04T13:50:00.000Z"
    assert post(client, "pagerduty", json.dumps(trigger).encode()).status_code == 200
    runner = CliRunner()
    env = {
        "PML_LIBRARY": str(secured.library),
        "PML_DATA_DIR": str(secured.data_dir),
        "PML_DATABASE_URL": secured.resolved_database_url,
    }
    result = runner.invoke(main, ["intake", "list"], env=env)
    assert result.exit_code == 0 and f"{delivery}\t" in result.output
    result = runner.invoke(main, ["intake", "replay", "--failed"], env=env)
    assert result.exit_code == 0, result.output
    assert f"{delivery}\tpagerduty\tstored" in result.output
    stored = incident(client, "pagerduty", "PQ1K5C8")
    assert stored["started_at"] == "2021-06-04T13:50:00+00:00"
    assert stored["acknowledged_at"] == "2021-06-04T13:55:30.394000+00:00"
    assert [d.outcome for d in deliveries(secured)] == ["stored", "stored"]


def test_a_replayed_old_event_never_rolls_the_title_back(client: TestClient) -> None:
    old = json.loads(hook("pagerduty/zulip_triggered_v3.json"))
    new = json.loads(hook("pagerduty/zulip_triggered_v3.json"))
    new["event"]["event_type"] = "incident.priority_updated"
    new["event"]["occurred_at"] = "2021-06-04T14:00:00.000Z"
    new["event"]["data"]["title"] = "Checkout down in eu-west-1"
    new["event"]["data"]["priority"] = {"summary": "P1", "type": "priority_reference"}
    for body in (old, new, old):  # the first delivery, an update, the first one again
        assert post(client, "pagerduty", json.dumps(body).encode()).status_code == 200
    stored = incident(client, "pagerduty", "PFQZPSY")
    assert stored["title"] == "Checkout down in eu-west-1"
    assert stored["severity"] == "SEV1"
    assert stored["started_at"] == "2021-06-04T13:35:29.781000+00:00"


def test_a_late_resolve_is_stored_without_rolling_back(client: TestClient) -> None:
    trigger = json.loads(hook("pagerduty/zulip_resolved_v3.json"))
    trigger["event"]["event_type"] = "incident.triggered"
    trigger["event"]["occurred_at"] = "2021-06-04T13:00:00.000Z"
    renamed = json.loads(json.dumps(trigger))
    renamed["event"]["event_type"] = "incident.priority_updated"
    renamed["event"]["occurred_at"] = "2021-06-04T13:30:00.000Z"
    renamed["event"]["data"]["title"] = "Renamed later"
    resolved = hook("pagerduty/zulip_resolved_v3.json")  # 13:16:53, arrives last
    for body in (json.dumps(trigger).encode(), json.dumps(renamed).encode(), resolved):
        assert post(client, "pagerduty", body).status_code == 200
    stored = incident(client, "pagerduty", "PCPZE64")
    assert stored["resolved_at"] == "2021-06-04T13:16:53.816000+00:00"  # the time is added
    assert stored["title"] == "Renamed later"  # the older event's title is not


def test_bad_signature_is_logged_without_its_body(client: TestClient, secured: Settings) -> None:
    body = hook("pagerduty/zulip_triggered_v3.json")
    headers = {"x-pagerduty-signature": "v1=" + "0" * 64}
    assert client.post("/api/webhooks/pagerduty", content=body, headers=headers).status_code == 401
    [delivery] = deliveries(secured)
    assert (delivery.signature, delivery.outcome, delivery.body) == (
        "invalid",
        "unauthorized",
        None,
    )
    assert delivery.size == len(body)


def test_opsgenie_shared_token_is_never_stored(client: TestClient, secured: Settings) -> None:
    assert post(client, "opsgenie", hook("opsgenie/zulip_create.json")).status_code == 200
    [delivery] = deliveries(secured)
    assert "x-pml-token" not in delivery.headers
    assert OG_TOKEN not in json.dumps(delivery.headers)


def test_gitlab_system_hook_push_is_followed(settings: Settings, tmp_path: Path) -> None:
    origin = Repo(tmp_path / "origin")
    origin.write("2025/pool.md", postmortem_text(id="pool", title="Pool exhausted in orders"))
    origin.commit("First postmortem")
    origin.git("branch", "-m", "master")  # the branch GitLab's documented system hook names
    followed = settings.model_copy(
        update={
            "git_url": str(origin.path),
            "git_branch": "master",
            "webhook_secret": SecretStr("gl-token"),
            "sync_interval": 0,
        }
    )
    with TestClient(create_app(followed)) as client:
        headers = {"x-gitlab-event": "System Hook", "x-gitlab-token": "gl-token"}
        url = "/api/webhooks/gitlab"
        answer = client.post(
            url, content=hook("gitlab/docs_system_hook_push.json"), headers=headers
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "scheduled"
        assert "push to refs/heads/master" in answer.json()["detail"]
        other = hook("gitlab/docs_system_hook_repository_update.json")
        answer = client.post(url, content=other, headers=headers)
        assert answer.status_code == 202 and answer.json()["status"] == "ignored"


def test_failed_deliveries_are_listed_for_admins_only(
    client: TestClient, secured: Settings
) -> None:
    answer = post(client, "pagerduty", hook("pagerduty/zulip_acknowledged_v3.json"))
    assert answer.status_code == 202
    engine = store.make_engine(secured.resolved_database_url)
    _, admin = create_token(engine, "admin", ["admins"])
    _, reader = create_token(engine, "reader", ["staff"])
    engine.dispose()
    assert client.get("/api/intake/deliveries").status_code == 401
    for path in ("/api/intake/deliveries", "/intake"):
        forbidden = client.get(path, headers={"authorization": f"Bearer {reader}"})
        assert forbidden.status_code == 403
    listed = client.get("/api/intake/deliveries", headers={"authorization": f"Bearer {admin}"})
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert item["vendor"] == "pagerduty" and item["event"] == "incident.acknowledged"
    assert "not stored yet" in item["detail"]
    page = client.get("/intake", headers={"authorization": f"Bearer {admin}"})
    assert page.status_code == 200 and "incident.acknowledged" in page.text
