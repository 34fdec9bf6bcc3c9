"""Live intake: signed vendor webhooks over HTTP, and pulling from a vendor API.

The pull tests run `pml import incidents --from ...` against a local HTTP
server that replays the recorded vendor responses (tests/fixtures/vendors)
page by page, as the vendor's documented paging asks for them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.cli import main
from indexer.config import Settings
from indexer.incidents import intake
from tests.conftest import write

VENDORS = Path(__file__).resolve().parent.parent / "fixtures" / "vendors"
OLD, NEW = "old-signing-secret", "new-signing-secret"


def vendor(name: str) -> bytes:
    return (VENDORS / name).read_bytes()


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    write(settings.library, "taxonomy.yaml", "services:\n  - id: api\n    aliases: [API Service]\n")
    secured = settings.model_copy(
        update={
            "auth": "token",  # intake needs no API token: the vendor's signature is its proof
            "pagerduty_webhook_secret": SecretStr(f"{OLD},{NEW}"),
            "opsgenie_webhook_token": SecretStr("og-shared-token"),
            "firehydrant_webhook_secret": SecretStr("fh-secret"),
        }
    )
    with TestClient(create_app(secured)) as test_client:
        yield test_client


def pagerduty_event(kind: str, when: str) -> bytes:
    event = json.loads(vendor("pagerduty_webhook_v3_incident.json"))
    event["event"]["event_type"] = kind
    event["event"]["occurred_at"] = when
    return json.dumps(event).encode()


def test_pagerduty_webhook_checks_signatures_during_rotation(client: TestClient) -> None:
    url = "/api/webhooks/pagerduty"
    body = pagerduty_event("incident.triggered", "2020-04-09T15:16:27Z")
    both = f"v1={sign(OLD, body)},v1={sign('retired', body)}"  # PagerDuty signs with each
    answer = client.post(url, content=body, headers={"X-PagerDuty-Signature": both})
    assert answer.status_code == 200, answer.text
    assert answer.json()["added"] == 1
    acked = pagerduty_event("incident.acknowledged", "2020-04-09T15:20:00Z")
    headers = {"X-PagerDuty-Signature": f"v1={sign(NEW, acked)}"}
    assert client.post(url, content=acked, headers=headers).json()["updated"] == 1
    resolved = pagerduty_event("incident.resolved", "2020-04-09T15:50:00Z")
    headers = {"X-PagerDuty-Signature": f"v1={sign(NEW, resolved)}"}
    assert client.post(url, content=resolved, headers=headers).status_code == 200
    incident = client.get("/api/incidents/pagerduty/PGR0VU2").json()
    assert incident["acknowledged_at"] == "2020-04-09T15:20:00+00:00"
    assert incident["resolved_at"] == "2020-04-09T15:50:00+00:00"
    assert (incident["service"], incident["severity"]) == ("api", "SEV1")
    for bad in ("", f"v1={sign('wrong', body)}", sign(OLD, body), f"v0={sign(OLD, body)}"):
        refused = client.post(url, content=body, headers={"X-PagerDuty-Signature": bad})
        assert refused.status_code == 401
    tampered = body.replace(b"A little bump", b"A large bump")
    headers = {"X-PagerDuty-Signature": f"v1={sign(OLD, body)}"}
    assert client.post(url, content=tampered, headers=headers).status_code == 401


def test_opsgenie_webhook_with_shared_token(client: TestClient) -> None:
    alert = {
        "alertId": "70413a06-38d6-4c85-92b8-5ebc900d42e2",
        "message": "checkout 5xx ratio above 5%",
        "tags": ["service:API Service"],
        "tinyId": "1791",
        "alias": "checkout-5xx-ratio",
        "createdAt": 1789380161284,
        "updatedAt": 1789380161284,
        "priority": "P2",
        "source": "Prometheus",
    }
    url, token = "/api/webhooks/opsgenie", {"X-PML-Token": "og-shared-token"}
    created = {"action": "Create", "alert": alert, "source": {"name": "", "type": "api"}}
    assert client.post(url, json=created, headers=token).json()["added"] == 1
    acked = {"action": "Acknowledge", "alert": {**alert, "updatedAt": 1789380401284}}
    closed = {"action": "Close", "alert": {**alert, "updatedAt": 1789382861284}}
    for body in (acked, closed):
        assert client.post(url, json=body, headers=token).status_code == 200
    stored = client.get("/api/incidents/opsgenie/70413a06-38d6-4c85-92b8-5ebc900d42e2").json()
    assert stored["acknowledged_at"] == "2026-09-14T10:06:41.284000+00:00"  # kept after Close
    assert stored["resolved_at"] == "2026-09-14T10:47:41.284000+00:00"
    assert stored["service"] == "api"
    assert client.post(url, json=created, headers={"X-PML-Token": "nope"}).status_code == 401
    assert client.post(url, json=created).status_code == 401


def test_firehydrant_webhook_is_signed(client: TestClient) -> None:
    incident = json.loads(vendor("firehydrant_incidents_lifecycle.json"))["data"][0]
    body = json.dumps({"data": {"incident": incident}, "event": {"operation": "UPDATED"}}).encode()
    url = "/api/webhooks/firehydrant"
    answer = client.post(url, content=body, headers={"fh-signature": sign("fh-secret", body)})
    assert answer.status_code == 200 and answer.json()["added"] == 1
    assert client.post(url, content=body, headers={"fh-signature": "0" * 64}).status_code == 401
    junk = b'{"data": {}}'  # JSON, but never a FireHydrant event: refused by name
    headers = {"fh-signature": sign("fh-secret", junk)}
    assert client.post(url, content=junk, headers=headers).status_code == 422
    junk = b"{not json"
    headers = {"fh-signature": sign("fh-secret", junk)}
    assert client.post(url, content=junk, headers=headers).status_code == 400


def test_intake_is_off_until_its_secret_is_set(settings: Settings) -> None:
    with TestClient(create_app(settings)) as plain:
        for vendor_name in ("pagerduty", "opsgenie", "firehydrant"):
            answer = plain.post(f"/api/webhooks/{vendor_name}", content=b"{}")
            assert answer.status_code == 404 and "intake is off" in answer.json()["detail"]


def test_signature_helpers() -> None:
    body = b'{"event": {}}'
    assert intake.pagerduty_signature_valid(body, f"v1={sign('a', body)}", ["b", "a"])
    assert not intake.pagerduty_signature_valid(body, None, ["a"])
    assert intake.hex_signature_valid(body, sign("a", body).upper(), ["a"])
    assert not intake.token_valid("a ", ["b"])


class Replay(BaseHTTPRequestHandler):
    """Answers GETs from `routes`: (path, page or offset) -> recorded body."""

    routes: ClassVar[dict[tuple[str, str], bytes]] = {}
    seen: ClassVar[list[tuple[str, dict[str, list[str]], str]]] = []

    def do_GET(self) -> None:
        url = urlparse(self.path)
        params = parse_qs(url.query)
        key = params.get("offset", params.get("page", ["0"]))[0]
        self.seen.append((url.path, params, self.headers.get("Authorization", "")))
        body = self.routes.get((url.path, key))
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body or b'{"error": "not recorded"}')

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def replay() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Replay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Replay.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _pull(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("PML_LIBRARY", str(settings.library))
    monkeypatch.setenv("PML_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PML_DATABASE_URL", settings.resolved_database_url)
    return CliRunner().invoke(main, ["import", "incidents", *args])


def test_pull_pages_through_pagerduty(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, replay: str, client: TestClient
) -> None:
    second = json.loads(vendor("pagerduty_incident_resolved.json"))["incident"]
    Replay.routes = {
        ("/incidents", "0"): vendor("pagerduty_rest_incidents.json"),  # limit 1, more: true
        ("/incidents", "1"): json.dumps(
            {"incidents": [second], "limit": 1, "offset": 1, "more": False}
        ).encode(),
        ("/log_entries", "0"): vendor("pagerduty_log_entries.json"),
    }
    monkeypatch.setenv("PML_PAGERDUTY_TOKEN", "pd-token")
    result = _pull(settings, monkeypatch, "--from", "pagerduty", "--since", "2015-01-01",
                   "--base-url", replay)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 added" in result.output
    assert [(path, params["offset"]) for path, params, _ in Replay.seen] == [
        ("/incidents", ["0"]), ("/incidents", ["1"]), ("/log_entries", ["0"]),
    ]  # fmt: skip
    assert {auth for _, _, auth in Replay.seen} == {"Token token=pd-token"}
    assert Replay.seen[0][1]["since"] == ["2015-01-01T00:00:00+00:00"]
    resolved = client.get("/api/incidents/pagerduty/PRORDTY").json()
    assert resolved["acknowledged_at"] == "2017-09-26T15:15:17+00:00"  # from the log entries


def test_pull_pages_through_opsgenie_and_firehydrant(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, replay: str, client: TestClient
) -> None:
    first, second = vendor("opsgenie_alerts_paged.json").split(b"\n}\n", 1)
    Replay.routes = {
        ("/v2/alerts", "0"): first + b"\n}\n",
        ("/v2/alerts", "2"): second,
        ("/v1/incidents", "1"): vendor("firehydrant_incidents_lifecycle.json"),
    }
    monkeypatch.setenv("PML_OPSGENIE_TOKEN", "og-key")
    monkeypatch.setenv("PML_FIREHYDRANT_TOKEN", "fh-bot")
    opsgenie = _pull(settings, monkeypatch, "--from", "opsgenie", "--since", "2026-09-01",
                     "--base-url", replay)  # fmt: skip
    assert opsgenie.exit_code == 0, opsgenie.output
    assert "2 added" in opsgenie.output and "repeats record 0" in opsgenie.output
    firehydrant = _pull(settings, monkeypatch, "--from", "firehydrant", "--since", "2025-01-01",
                        "--base-url", replay)  # fmt: skip
    assert firehydrant.exit_code == 0 and "2 added" in firehydrant.output
    calls = [
        (path, params.get("offset", params.get("page")), auth) for path, params, auth in Replay.seen
    ]
    assert calls == [
        ("/v2/alerts", ["0"], "GenieKey og-key"),
        ("/v2/alerts", ["2"], "GenieKey og-key"),
        ("/v1/incidents", ["1"], "fh-bot"),
    ]
    assert Replay.seen[0][1]["query"] == ["createdAt>=1788220800000"]
    assert client.get("/api/incidents").json()["total"] == 4


def test_pull_needs_a_token_and_names_http_errors(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, replay: str
) -> None:
    monkeypatch.delenv("PML_FIREHYDRANT_TOKEN", raising=False)
    missing = _pull(settings, monkeypatch, "--from", "firehydrant", "--since", "2025-01-01")
    assert missing.exit_code == 1 and "set PML_FIREHYDRANT_TOKEN" in missing.output
    monkeypatch.setenv("PML_FIREHYDRANT_TOKEN", "fh-bot")
    Replay.routes = {}
    failed = _pull(settings, monkeypatch, "--from", "firehydrant", "--since", "2025-01-01",
                   "--base-url", replay)  # fmt: skip
    assert failed.exit_code == 1 and "HTTP 404" in failed.output
