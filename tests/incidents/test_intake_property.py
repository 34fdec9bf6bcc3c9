"""Every real fixture through its webhook: never a 5xx, nothing accepted lost, order irrelevant.

The fixtures are the captures and documented examples of
tests/fixtures/vendors/webhooks (and the Alertmanager captures beside
them). Two properties:

- in any order, with repeats, every delivery answers 2xx or a documented 4xx
  (400 malformed, 422 never the vendor's), and the stored incidents end the
  same whatever the order (a late event never rolls a newer one back);
- a real server killed with SIGKILL in the middle of a batch loses nothing
  it answered 2xx for, and finishes at start-up what it had stored but not
  processed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import text

from api.app import create_app
from indexer.config import Settings
from indexer.db import store
from tests.live_server import ROOT, _wait_ready, free_port

VENDORS = Path(__file__).resolve().parent.parent / "fixtures" / "vendors"
SECRETS = {
    "pagerduty": "pd-secret",
    "firehydrant": "fh-secret",
    "opsgenie": "og-token",
    "grafana-oncall": "oc-token",
}
DOCUMENTED = {200, 202, 400, 422}
URLS = {
    "pagerduty": "/api/webhooks/pagerduty",
    "opsgenie": "/api/webhooks/opsgenie",
    "firehydrant": "/api/webhooks/firehydrant",
    "grafana-oncall": "/api/webhooks/grafana-oncall",
    "alertmanager": "/api/alerts/alertmanager",
}


def fixtures() -> list[tuple[str, bytes]]:
    """(vendor, body) for every incident or alert fixture a webhook receives."""
    found = [
        (path.parent.name, path.read_bytes())
        for vendor in ("pagerduty", "opsgenie", "firehydrant", "grafana-oncall")
        for path in sorted((VENDORS / "webhooks" / vendor).glob("*.json"))
    ]
    found += [(v, (VENDORS / n).read_bytes()) for v, n in _OLDER]
    found += [
        ("alertmanager", path.read_bytes()) for path in sorted(VENDORS.glob("alertmanager_*.json"))
    ]
    return found


_OLDER = [("pagerduty", "pagerduty_webhook_v3_incident.json")]
ALL = fixtures()


def headers(vendor: str, body: bytes) -> dict[str, str]:
    found = {"content-type": "application/json"}
    secret = SECRETS.get(vendor)
    if vendor == "pagerduty":
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()  # type: ignore[union-attr]
        found["x-pagerduty-signature"] = f"v1={digest}"
    elif vendor == "firehydrant":
        found["fh-signature"] = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()  # type: ignore[union-attr]
    elif vendor == "opsgenie":
        found["x-pml-token"] = SECRETS["opsgenie"]
    elif vendor == "grafana-oncall":
        found["authorization"] = SECRETS["grafana-oncall"]
    return found


def intake_env() -> dict[str, str]:
    return {
        "PML_PAGERDUTY_WEBHOOK_SECRET": SECRETS["pagerduty"],
        "PML_FIREHYDRANT_WEBHOOK_SECRET": SECRETS["firehydrant"],
        "PML_OPSGENIE_WEBHOOK_TOKEN": SECRETS["opsgenie"],
        "PML_GRAFANA_ONCALL_WEBHOOK_TOKEN": SECRETS["grafana-oncall"],
    }


def incidents_table(url: str) -> list[tuple[Any, ...]]:
    engine = store.make_engine(url)
    columns = "source, source_id, title, severity, started_at, acknowledged_at, resolved_at"
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(f"SELECT {columns} FROM incident ORDER BY 1, 2"))
            return [tuple(str(v) for v in row) for row in rows]
    finally:
        engine.dispose()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    secured = settings.model_copy(
        update={
            "pagerduty_webhook_secret": SecretStr(SECRETS["pagerduty"]),
            "opsgenie_webhook_token": SecretStr(SECRETS["opsgenie"]),
            "firehydrant_webhook_secret": SecretStr(SECRETS["firehydrant"]),
            "grafana_oncall_webhook_token": SecretStr(SECRETS["grafana-oncall"]),
        }
    )
    with TestClient(create_app(secured, index_on_start=False)) as test_client:
        yield test_client


def _clear(url: str) -> None:
    engine = store.make_engine(url)
    try:
        with engine.begin() as connection:
            for table in ("incident_by_class", "incident", "alert", "near_miss", "intake_delivery"):
                connection.execute(text(f"DELETE FROM {table}"))
    finally:
        engine.dispose()


@hypothesis_settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.permutations(range(len(ALL))), repeats=st.lists(st.sampled_from(range(len(ALL)))))
def test_every_fixture_in_any_order_is_answered_and_ends_the_same(
    client: TestClient, settings: Settings, order: list[int], repeats: list[int]
) -> None:
    url = settings.resolved_database_url
    _clear(url)
    for index in [*order, *repeats[:10]]:
        vendor, body = ALL[index]
        answer = client.post(URLS[vendor], content=body, headers=headers(vendor, body))
        assert answer.status_code in DOCUMENTED, (vendor, answer.status_code, answer.text)
    in_any_order = incidents_table(url)
    _clear(url)
    for vendor, body in ALL:  # the order the files are listed in, each once
        client.post(URLS[vendor], content=body, headers=headers(vendor, body))
    assert incidents_table(url) == in_any_order
    assert len(in_any_order) >= 5  # the fixtures do store incidents, not only ignored events


def _start(data_dir: Path, database_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PML_LIBRARY": str(ROOT / "postmortems"),
        "PML_DATA_DIR": str(data_dir),
        "PML_DATABASE_URL": database_url,
        "PML_EMBEDDING_MODEL": "hash",
        "PML_LOG_LEVEL": "warning",
        **intake_env(),
    }
    command = [sys.executable, "-m", "api.cli", "serve", "--port", str(port)]
    return subprocess.Popen(command, cwd=ROOT, env=env)


def _post_all(base: str, accepted: list[tuple[int, str, dict[str, Any]]], stop: int) -> None:
    """Post every fixture, several times over, until the server goes away."""
    with httpx.Client(base_url=base, timeout=10) as http:
        for round_ in range(stop):
            for vendor, body in ALL:
                try:
                    answer = http.post(URLS[vendor], content=body, headers=headers(vendor, body))
                except httpx.HTTPError:
                    return
                assert answer.status_code in DOCUMENTED, (vendor, answer.text)
                if answer.status_code in (200, 202):
                    accepted.append((round_, vendor, answer.json()))


@pytest.mark.reliability
def test_nothing_accepted_is_lost_across_a_kill_9(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = _start(tmp_path / "data", database_url, port)
    accepted: list[tuple[int, str, dict[str, Any]]] = []
    try:
        _wait_ready(base, process)
        sender = threading.Thread(target=_post_all, args=(base, accepted, 50))
        sender.start()
        while len(accepted) < len(ALL) + 5 and sender.is_alive():
            threading.Event().wait(0.01)
        os.kill(process.pid, signal.SIGKILL)  # mid-batch: requests in flight are cut
        sender.join(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=20)
    assert len(accepted) >= len(ALL) + 5
    restarted = _start(tmp_path / "data", database_url, port)
    try:
        _wait_ready(base, restarted)
        engine = store.make_engine(database_url)
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT id, outcome FROM intake_delivery"))
            outcomes = dict(rows.fetchall())
            stored = {
                (row[0], row[1])
                for row in connection.execute(text("SELECT source, source_id FROM incident"))
            }
        engine.dispose()
        for _, _vendor, answer in accepted:
            # Every delivery answered 2xx is stored, with the outcome it was answered with.
            assert outcomes[answer["delivery"]] in ("stored", "ignored", "failed"), answer
        assert "pending" not in outcomes.values()  # what the kill cut short was finished
        assert len(stored) >= 5
        for vendor, body in ALL:  # the server still answers every fixture after the kill
            answer = httpx.post(
                f"{base}{URLS[vendor]}", content=body, headers=headers(vendor, body)
            )
            assert answer.status_code in DOCUMENTED
    finally:
        restarted.terminate()
        restarted.wait(timeout=20)
