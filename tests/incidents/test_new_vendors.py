"""Jira Service Management, incident.io and Grafana OnCall/IRM: webhooks, imports, pull mode.

Same contracts as the other vendors: `source=jsm|incident-io|grafana-oncall`
for imports, `POST /api/webhooks/<vendor>`, `--from` against a local HTTP
server serving the vendors' documented responses, services through aliases.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
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
HOOKS = VENDORS / "webhooks"
SVIX_KEY = base64.b64encode(b"incident-io-signing-key-32-bytes").decode()
TAXONOMY = """\
services:
  - id: platform
    aliases: [Main Integration - Webhook, team2]
"""


def incident_io_incident() -> dict[str, Any]:
    [record] = json.loads(
        (VENDORS / "foreign" / "incident_io_singer_tap_incidents.json").read_bytes()
    )
    return dict(record)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    write(settings.library, "taxonomy.yaml", TAXONOMY)
    secured = settings.model_copy(
        update={
            "jsm_webhook_token": SecretStr("jsm-token"),
            "incident_io_webhook_secret": SecretStr(f"whsec_{SVIX_KEY}"),
            "grafana_oncall_webhook_token": SecretStr("oncall-token"),
        }
    )
    with TestClient(create_app(secured, index_on_start=False)) as test_client:
        yield test_client


def svix_headers(body: bytes, stamp: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if stamp is None else stamp
    signed = f"msg_1.{stamp}.".encode() + body
    digest = hmac.new(base64.b64decode(SVIX_KEY), signed, hashlib.sha256).digest()
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": f"v1,{base64.b64encode(digest).decode()}",
    }


def test_svix_signature_matches_the_published_vector() -> None:
    # Svix's documented example: this secret, id, timestamp and body give this signature.
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    secret = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
    body = b'{"test": 2432232314}'
    assert intake.svix_signature_valid(body, headers, secret, now=1614265330)
    assert not intake.svix_signature_valid(body + b" ", headers, secret, now=1614265330)
    assert not intake.svix_signature_valid(body, headers, secret, now=1614265330 + 301)


def test_jsm_alert_webhook_is_opsgenies_format(client: TestClient) -> None:
    url, token = "/api/webhooks/jsm", {"x-pml-token": "jsm-token"}
    for name in ("zulip_acknowledge.json", "zulip_close.json", "zulip_addnote.json"):
        body = (HOOKS / "opsgenie" / name).read_bytes()
        answer = client.post(url, content=body, headers=token)
        assert answer.status_code == 200, answer.text
    stored = client.get("/api/incidents/jsm/052652ac-5d1c-464a-812a-7dd18bbfba8c").json()
    assert stored["resolved_at"] == "2015-01-05T10:06:14.669000+00:00"
    assert client.post(url, content=b"{}", headers={"x-pml-token": "no"}).status_code == 401


def test_incident_io_webhook_is_signed_and_read_by_named_timestamps(client: TestClient) -> None:
    record = incident_io_incident()
    event = {"event_type": "public_incident.incident_updated_v2"}
    event["public_incident.incident_updated_v2"] = record  # type: ignore[assignment]
    body = json.dumps(event).encode()
    url = "/api/webhooks/incident-io"
    answer = client.post(url, content=body, headers=svix_headers(body))
    assert answer.status_code == 200, answer.text
    stored = client.get(f"/api/incidents/incident-io/{record['id']}").json()
    assert stored["title"] == "INC-1: teal-ostrich"
    assert stored["started_at"] == "2023-10-24T15:10:35.411000+00:00"  # "Reported at"
    assert stored["severity"] == "SEV4"  # "Minor"
    stale = svix_headers(body, stamp=int(time.time()) - 3600)
    assert client.post(url, content=body, headers=stale).status_code == 401
    private = json.dumps(
        {"event_type": "private_incident.incident_created_v2",
         "private_incident.incident_created_v2": {"id": "01HDH3SMWK0C2D8TN41PVW61TB"}}
    ).encode()  # fmt: skip
    answer = client.post(url, content=private, headers=svix_headers(private))
    assert answer.status_code == 200 and answer.json()["status"] == "ignored"


def test_grafana_oncall_webhook_maps_the_integration_through_aliases(client: TestClient) -> None:
    body = (HOOKS / "grafana-oncall" / "docs_outgoing_webhook_resolve.json").read_bytes()
    url = "/api/webhooks/grafana-oncall"
    answer = client.post(url, content=body, headers={"authorization": "oncall-token"})
    assert answer.status_code == 200, answer.text
    stored = client.get("/api/incidents/grafana-oncall/I6HNZGUFG4K11").json()
    assert stored["service"] == "platform"  # integration "Main Integration - Webhook"
    assert stored["acknowledged_at"] == "2023-04-19T21:54:39.029347+00:00"
    assert stored["resolved_at"] == "2023-04-19T21:59:21.714058+00:00"
    assert stored["severity"] == "SEV3"  # label urgency "3"
    assert client.post(url, content=body, headers={"authorization": "x"}).status_code == 401


@pytest.mark.parametrize(
    ("source", "data", "identifier"),
    [
        (
            "incident-io",
            (VENDORS / "foreign" / "incident_io_singer_tap_incidents.json").read_bytes(),
            "01HDH3SMWK0C2D8TN41PVW61TA",
        ),
        (
            "grafana-oncall",
            (VENDORS / "grafana_oncall_alert_groups.json").read_bytes(),
            "I68T24C13IFW1",
        ),
    ],
)
def test_exports_import_with_the_same_contract(
    client: TestClient, source: str, data: bytes, identifier: str
) -> None:
    answer = client.post("/api/incidents/import", params={"source": source}, content=data)
    assert answer.status_code == 200, answer.text
    assert answer.json()["added"] == 1
    assert client.get(f"/api/incidents/{source}/{identifier}").status_code == 200


class Replay(BaseHTTPRequestHandler):
    """Serves recorded pages by path and paging parameter; records every request."""

    routes: ClassVar[dict[tuple[str, str], bytes]] = {}
    seen: ClassVar[list[tuple[str, dict[str, list[str]], str]]] = []

    def do_GET(self) -> None:
        url = urlparse(self.path)
        params = parse_qs(url.query)
        key = (params.get("offset") or params.get("after") or params.get("page") or ["0"])[0]
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
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Replay.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def pull(settings: Settings, *args: str, **env: str) -> Any:
    variables = {
        "PML_LIBRARY": str(settings.library),
        "PML_DATA_DIR": str(settings.data_dir),
        "PML_DATABASE_URL": settings.resolved_database_url,
        **env,
    }
    return CliRunner().invoke(main, ["import", "incidents", *args], env=variables)


def test_pull_from_incident_io_follows_its_cursor(
    settings: Settings, replay: str, client: TestClient
) -> None:
    record = incident_io_incident()
    later = {**record, "id": "01HDH3SMWK0C2D8TN41PVW61TC", "reference": "INC-2"}
    Replay.routes = {
        ("/v2/incidents", "0"): json.dumps(
            {"incidents": [record], "pagination_meta": {"after": record["id"], "page_size": 1}}
        ).encode(),
        ("/v2/incidents", record["id"]): json.dumps(
            {"incidents": [later], "pagination_meta": {"page_size": 1}}
        ).encode(),
    }
    result = pull(settings, "--from", "incident-io", "--since", "2023-10-01", "--base-url",
                  replay, PML_INCIDENT_IO_TOKEN="iio-key")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 added" in result.output
    assert [auth for _, _, auth in Replay.seen] == ["Bearer iio-key"] * 2
    assert Replay.seen[0][1]["created_at[gte]"] == ["2023-10-01"]


def test_pull_from_grafana_oncall_follows_next_and_drops_older_groups(
    settings: Settings, replay: str, client: TestClient
) -> None:
    page = json.loads((VENDORS / "grafana_oncall_alert_groups.json").read_bytes())
    first = {**page, "next": f"{replay}/api/v1/alert_groups/?page=2"}
    older = {**page["results"][0], "id": "IOLDER", "created_at": "2019-01-01T00:00:00Z"}
    Replay.routes = {
        ("/api/v1/alert_groups/", "0"): json.dumps(first).encode(),
        ("/api/v1/alert_groups/", "2"): json.dumps({**page, "results": [older]}).encode(),
    }
    result = pull(settings, "--from", "grafana-oncall", "--since", "2020-01-01", "--base-url",
                  replay, PML_GRAFANA_ONCALL_TOKEN="oc-token")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 added" in result.output  # the 2019 alert group is before --since
    assert [auth for _, _, auth in Replay.seen] == ["oc-token"] * 2


def test_pull_from_jsm_follows_links_next(
    settings: Settings, replay: str, client: TestClient
) -> None:
    first, second = (VENDORS / "opsgenie_alerts_paged.json").read_bytes().split(b"\n}\n", 1)
    page_one = json.loads(first + b"\n}\n")["data"]
    page_two = json.loads(second)["data"]
    base = f"{replay}/jsm/ops/api/cloud-1"
    Replay.routes = {
        ("/jsm/ops/api/cloud-1/v1/alerts", "0"): json.dumps(
            {
                "values": page_one,
                "count": 3,
                "links": {"next": f"{base}/v1/alerts?offset={len(page_one)}&size=100"},
            }
        ).encode(),
        ("/jsm/ops/api/cloud-1/v1/alerts", str(len(page_one))): json.dumps(
            {"values": page_two, "count": 3, "links": {}}
        ).encode(),
    }
    result = pull(settings, "--from", "jsm", "--since", "2026-09-01", "--base-url", base,
                  PML_JSM_TOKEN="me@example.com:api-token")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 added" in result.output
    basic = base64.b64encode(b"me@example.com:api-token").decode()
    assert {auth for _, _, auth in Replay.seen} == {f"Basic {basic}"}
    missing = pull(settings, "--from", "jsm", "--since", "2026-09-01", PML_JSM_TOKEN="t")
    assert missing.exit_code == 1 and "needs --base-url" in missing.output
