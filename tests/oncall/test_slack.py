"""The Slack slash command over HTTP: Slack's v0 signature, the five-minute window, Block Kit."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api import schemas
from api.app import create_app
from indexer.config import Settings
from tests.api.test_openapi import undeclared

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
URL = "/api/slack/commands"


@pytest.fixture
def client(sample_settings: Settings) -> Iterator[TestClient]:
    settings = sample_settings.model_copy(
        update={
            "slack_signing_secret": SecretStr(SECRET),
            "public_url": "https://pml.example.com",
            "auth": "token",  # Slack has no API token: its signature is its proof
        }
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def command(text: str) -> bytes:
    fields = {
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "team_id": "T0001",
        "team_domain": "example",
        "channel_id": "C2147483705",
        "user_id": "U2147483697",
        "command": "/postmortems",
        "text": text,
        "response_url": "https://hooks.slack.com/commands/1234/5678",
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    }
    return urlencode(fields).encode()


def signed(body: bytes, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    stamp = str(at if at is not None else int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def test_a_signed_command_gets_the_top_postmortems_as_block_kit(client: TestClient) -> None:
    body = command("connection pool exhaustion")
    answer = client.post(URL, content=body, headers=signed(body))
    assert answer.status_code == 200, answer.text
    reply = answer.json()
    assert reply["response_type"] == "ephemeral"
    sections = [block["text"]["text"] for block in reply["blocks"]]
    assert len(sections) == 6  # the heading and five postmortems
    assert any(
        "https://pml.example.com/postmortems/2025-02-11-orders-pgbouncer-pool-exhaustion" in text
        for text in sections
    )
    assert all("<b>" not in text for text in sections)
    assert undeclared(schemas.SlackAnswer.model_validate(reply)) == []  # what /openapi.json says


def test_restricted_postmortems_never_reach_a_channel(client: TestClient) -> None:
    body = command("credential stuffing account takeover")
    reply = client.post(URL, content=body, headers=signed(body)).json()
    assert "credential-stuffing" not in json.dumps(reply)


def test_forged_stale_and_unsigned_requests_are_refused(client: TestClient) -> None:
    body = command("dns")
    assert client.post(URL, content=body, headers=signed(body, "not-the-secret")).status_code == 401
    stale = signed(body, at=int(time.time()) - 5 * 60 - 30)
    assert client.post(URL, content=body, headers=stale).status_code == 401
    future = signed(body, at=int(time.time()) + 5 * 60 + 30)
    assert client.post(URL, content=body, headers=future).status_code == 401
    tampered = signed(body)
    assert client.post(URL, content=command("other"), headers=tampered).status_code == 401
    assert client.post(URL, content=body).status_code == 401


def test_an_empty_command_says_how_to_use_it(client: TestClient) -> None:
    body = command("")
    reply = client.post(URL, content=body, headers=signed(body)).json()
    assert "/postmortems connection pool exhaustion" in reply["text"]


def test_off_until_the_signing_secret_is_set(sample_settings: Settings) -> None:
    with TestClient(create_app(sample_settings)) as client:
        body = command("dns")
        answer = client.post(URL, content=body, headers=signed(body))
        assert answer.status_code == 404 and "PML_SLACK_SIGNING_SECRET" in answer.text
