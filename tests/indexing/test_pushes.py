"""Push webhooks through the real app: signatures, filtering, coalescing, push-to-searchable."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from indexer.config import Settings
from indexer.indexing.pushes import MAX_BODY_BYTES
from tests.conftest import postmortem_text
from tests.gitrepo import Repo

GITHUB = "/api/webhooks/github"
GITLAB = "/api/webhooks/gitlab"
SECRETS = "old-secret, new-secret"


@pytest.fixture
def origin(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "origin")
    repo.write("2025/pool.md", postmortem_text(id="pool", title="Pool exhausted in orders"))
    repo.commit("First postmortem")
    return repo


def make_settings(tmp_path: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "library": tmp_path / "library",
        "data_dir": tmp_path / "data",
        "database_url": f"sqlite:///{tmp_path / 'pml.sqlite3'}",
        "sync_interval": 0,  # webhooks only: every sync in these tests is one we asked for
        "webhook_secret": SECRETS,
        **changes,
    }
    return Settings(**values)


def wait_for(condition: Callable[[], Any], timeout: float = 120) -> Any:
    """Poll until `condition` holds; the timeout only stops a test that would never pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"not true within {timeout}s")


def idle_syncs(client: TestClient) -> int:
    """Wait until no sync is running or pending; the number of syncs since start."""

    def finished() -> dict[str, Any] | None:
        sync: dict[str, Any] = client.get("/readyz").json()["sync"]
        return None if sync["running"] else sync

    count: int = wait_for(finished)["syncs_since_start"]
    return count


@pytest.fixture
def client(tmp_path: Path, origin: Repo) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, git_url=str(origin.path))
    with TestClient(create_app(settings)) as test_client:
        assert idle_syncs(test_client) == 1  # the sync at start
        yield test_client


def push(branch: str = "main", **extra: Any) -> bytes:
    return json.dumps({"ref": f"refs/heads/{branch}", "after": "1" * 40, **extra}).encode()


def signed(body: bytes, secret: str = "new-secret", event: str = "push") -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Hub-Signature-256": f"sha256={digest}",
        "X-GitHub-Event": event,
        "Content-Type": "application/json",
    }


def titles(client: TestClient, query: str) -> list[str]:
    hits = client.get("/api/search", params={"q": query, "mode": "fulltext"}).json()["results"]
    return [hit["title"] for hit in hits]


def test_a_pushed_postmortem_is_searchable_after_the_webhook(
    client: TestClient, origin: Repo
) -> None:
    # How soon is benchmarks/bench_gitsync.py's to measure (webhook to searchable).
    origin.write("2026/cache.md", postmortem_text(id="cache", title="Flash sale cache stampede"))
    origin.commit("Cache stampede postmortem", author="Bob Builder")
    body = push()
    response = client.post(GITHUB, content=body, headers=signed(body, "old-secret"))
    assert response.status_code == 202
    assert response.json()["status"] == "scheduled"
    wait_for(lambda: titles(client, "stampede") == ["Flash sale cache stampede"])

    idle_syncs(client)  # the history is written just after the index
    record = client.get("/api/postmortems/cache").json()
    assert record["history"]["authors"] == ["Bob Builder"]
    assert record["history"]["commit"] == origin.head()
    sync = client.get("/readyz").json()["sync"]
    assert (sync["state"], sync["commit"]) == ("ok", origin.head())


def test_a_pushed_postmortem_reaches_semantic_search_and_related_lists(
    client: TestClient, origin: Repo
) -> None:
    """Git mode: whatever reaches the full-text index reaches the vectors and related lists."""
    title = "Orders pool exhausted again after the connection leak"
    origin.write("2026/again.md", postmortem_text(id="again", title=title))
    origin.commit("The pool ran out again")
    wait_for(lambda: client.get("/readyz").json()["semantic"])
    body = push()
    assert client.post(GITHUB, content=body, headers=signed(body)).status_code == 202

    def semantic_finds_it() -> bool:
        hits = client.get("/api/search", params={"q": title, "mode": "semantic"}).json()
        return bool(hits["results"]) and hits["results"][0]["id"] == "again"

    wait_for(semantic_finds_it)
    related = client.get("/api/postmortems/pool/related").json()["items"]
    assert "again" in [item["id"] for item in related]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-Hub-Signature-256": "sha1=" + "0" * 40},
        {"X-Hub-Signature-256": "sha256=not-hex-at-all-é".encode()},
        signed(b"another body"),
        signed(push(), secret="guessed-secret"),
    ],
)
def test_bad_or_missing_signatures_get_401_and_no_sync(
    client: TestClient, headers: dict[str, Any]
) -> None:
    response = client.post(GITHUB, content=push(), headers={"X-GitHub-Event": "push", **headers})
    assert response.status_code == 401
    assert response.json() == {"detail": "invalid or missing signature"}
    assert idle_syncs(client) == 1


def test_gitlab_token(client: TestClient) -> None:
    body = push()
    for token, expected in (("old-secret", 202), ("wrong", 401), (None, 401)):
        headers = {"X-Gitlab-Event": "Push Hook", **({"X-Gitlab-Token": token} if token else {})}
        assert client.post(GITLAB, content=body, headers=headers).status_code == expected
    assert idle_syncs(client) == 2


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        (GITHUB, push("feature"), signed(push("feature"))),
        (GITHUB, b'{"zen": "hi"}', signed(b'{"zen": "hi"}', event="ping")),
        (GITHUB, push(deleted=True), signed(push(deleted=True))),
        (GITLAB, push(), {"X-Gitlab-Token": "new-secret", "X-Gitlab-Event": "Tag Push Hook"}),
        (GITLAB, push("release"), {"X-Gitlab-Token": "new-secret", "X-Gitlab-Event": "Push Hook"}),
    ],
)
def test_other_branches_and_events_are_acknowledged_and_ignored(
    client: TestClient, path: str, body: bytes, headers: dict[str, str]
) -> None:
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == 202
    assert response.json()["status"] == "ignored"
    assert idle_syncs(client) == 1


def test_form_encoded_github_payload(client: TestClient) -> None:
    body = b"payload=" + push().replace(b"/", b"%2F")
    response = client.post(GITHUB, content=body, headers=signed(body))
    assert response.json()["status"] == "scheduled"


def test_signed_but_malformed_payload_is_a_400(client: TestClient) -> None:
    for body in (b"not json", b"[1, 2]", b'{"no": "ref"}'):
        response = client.post(GITHUB, content=body, headers=signed(body))
        assert response.status_code == 400
        assert "payload" in response.json()["detail"] or "object" in response.json()["detail"]


def test_oversized_body_is_a_413(client: TestClient) -> None:
    body = b"x" * (MAX_BODY_BYTES + 1)
    response = client.post(GITHUB, content=body, headers=signed(body))
    assert response.status_code == 413
    assert idle_syncs(client) == 1


def test_a_burst_of_50_webhooks_runs_at_most_two_syncs(client: TestClient) -> None:
    body = push()
    for _ in range(50):
        assert client.post(GITHUB, content=body, headers=signed(body)).status_code == 202
    assert idle_syncs(client) - 1 in (1, 2)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"webhook_secret": None}, "set PML_WEBHOOK_SECRET"),
        ({"webhook_secret": " , "}, "set PML_WEBHOOK_SECRET"),
        ({"git_url": None}, "PML_GIT_URL is not set"),
    ],
)
def test_webhooks_are_off_without_a_secret_or_a_repository(
    tmp_path: Path, origin: Repo, changes: dict[str, Any], message: str
) -> None:
    settings = make_settings(tmp_path, **{"git_url": str(origin.path), **changes})
    with TestClient(create_app(settings, index_on_start=False)) as client:
        body = push()
        for secret in ("", "new-secret"):
            response = client.post(GITHUB, content=body, headers=signed(body, secret))
            assert response.status_code == 404
            assert message in response.json()["detail"]
        response = client.post(GITLAB, content=body, headers={"X-Gitlab-Token": ""})
        assert response.status_code == 404


def test_a_failing_sync_is_visible_and_the_app_keeps_serving(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, git_url=str(tmp_path / "no-such-repository"))
    with TestClient(create_app(settings)) as client:
        idle_syncs(client)
        response = client.get("/readyz")
        assert response.status_code == 200
        sync = response.json()["sync"]
        assert sync["state"] == "failing"
        assert "no repository at the local path" in sync["last_error"]
        assert client.get("/api/search", params={"q": "pool"}).status_code == 200
