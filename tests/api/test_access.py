"""Access control: restricted postmortems on every surface, proxy headers, tokens, the audit log.

The walk requests every GET route the app has (API and HTML pages) as an
outsider and looks for the restricted postmortem's id, title, unique words and
tag anywhere in the answers; then as insiders (trusted proxy header, token).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.app import create_app
from api.cli import main
from indexer import auth
from indexer.config import Settings
from indexer.db.store import make_engine
from tests.conftest import BODY, postmortem_text, write
from tests.routes import every_route

SECRET_ID = "2025-03-13-quokka-vault-keys"
SECRET_TITLE = "Quokka vault keys exposed"
SECRET_WORD = "zebrafishsecret"
SECRET_TAG = "quokka-tag"
FORBIDDEN = (SECRET_ID, SECRET_TITLE, SECRET_WORD, SECRET_TAG)
PROXY = "10.0.0.5"
ITEMS = [{"id": "AI-1", "title": "Rotate the zebrafishsecret keys", "status": "open",
          "due": "2025-03-02"}]  # fmt: skip
INCIDENTS = (
    "source_id,title,service,severity,started_at,detected_at,acknowledged_at,mitigated_at,"
    "resolved_at,error_class,error_budget_minutes,postmortem\n"
    "INC-1,Orders errors,orders,SEV2,2025-03-13T10:00:00Z,,,,2025-03-13T11:00:00Z,"
    f"deployment-regression,30,{SECRET_ID}\n"
)


def _library(folder: Path) -> None:
    summary = "The orders pool ran out of connections after the vault keys rotated."
    write(folder, "2025/pool.md", postmortem_text(
        id="2025-03-12-orders-pool", title="Orders pool exhausted", date="2025-03-12",
        summary=summary, related=[SECRET_ID], tags=["pool"],
    ))  # fmt: skip
    write(folder, "2025/secret.md", postmortem_text(
        id=SECRET_ID, title=SECRET_TITLE, date="2025-03-13", visibility="restricted",
        audience=["security"], tags=[SECRET_TAG], action_items=ITEMS, owner="sec.lead",
        summary=f"{summary} Quokka vault keys {SECRET_WORD} were exposed.",
    ))  # fmt: skip
    write(folder, "2025/other.md", postmortem_text(
        id="2025-03-14-other", title="Catalog slow", date="2025-03-14", body=BODY.format(
            summary="The catalog was slow; vault keys were fine."),
    ))  # fmt: skip


def _secure(settings: Settings, mode: str) -> Settings:
    _library(settings.library)
    return settings.model_copy(
        update={"auth": mode, "trusted_proxies": f"{PROXY}/32,::1", "admin_group": "sre-admin"}
    )


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    return _secure(settings, "proxy")


@pytest.fixture
def insider_token(app_settings: Settings) -> str:
    engine = make_engine(app_settings.resolved_database_url)
    _, secret = auth.create_token(engine, "security-bot", ["security"])
    engine.dispose()
    return secret


@pytest.fixture
def client(app_settings: Settings, insider_token: str) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings), client=(PROXY, 4321)) as test_client:
        deadline = time.monotonic() + 30
        while not test_client.get("/readyz").json()["semantic"]:
            assert time.monotonic() < deadline, "semantic search never became ready"
            time.sleep(0.05)
        reply = test_client.post(
            "/api/incidents/import",
            params={"source": "csv"},
            content=INCIDENTS,
            headers={"Authorization": f"Bearer {insider_token}"},
        )
        assert reply.status_code == 200, reply.text
        yield test_client


def _urls(client: TestClient) -> list[str]:
    """Every GET route with the restricted id in its path, plus the searches that would hit it."""
    urls = []
    for route in every_route(client.app.routes):  # type: ignore[attr-defined]
        if not isinstance(route, APIRoute) or "GET" not in route.methods:
            continue
        if route.path == "/api/audit":
            continue  # admin only: the log names what insiders read
        path = route.path.replace("{postmortem_id}", "2025-03-12-orders-pool")
        path = path.replace("{cadence}", "weekly").replace("{name}", "failure-modes")
        urls.append(path)
    for mode in ("hybrid", "fulltext", "semantic"):
        for query in ("quokka vault keys", "", "orders pool connections"):
            urls.append(f"/api/search?q={query}&mode={mode}&limit=50")
            urls.append(f"/?q={query}&mode={mode}")
    urls += [
        "/api/postmortems?limit=100",
        f"/api/postmortems?tag={SECRET_TAG}",
        "/api/postmortems/2025-03-12-orders-pool",
        "/api/postmortems/2025-03-12-orders-pool/related?scope=all&limit=50",
        "/api/postmortems/2025-03-14-other/related?scope=all&limit=50",
        "/api/postmortems/2025-03-14-other/pack",
        "/api/postmortems/2025-03-14-other/pack?format=markdown",
        "/api/duplicates?threshold=0.5",
        "/api/digest?week=2025-W11",
        "/api/digest?week=2025-W11&format=markdown",
        "/api/digest?week=2025-W11&format=html",
        "/api/review/weekly?as_of=2025-03-16",
        "/api/review/monthly?as_of=2025-03-31",
        "/api/action-items?as_of=2025-03-16",
        "/api/action-items?as_of=2025-03-16&overdue=true",
        "/api/trends/failure-modes?as_of=2025-03-31",
        "/api/trends/mttr?as_of=2025-03-31&error_class=deployment-regression",
        "/review/weekly?as_of=2025-03-16",
        "/digest?week=2025-W11",
        "/postmortems/2025-03-12-orders-pool",
    ]
    return urls


def _leaks(client: TestClient, headers: dict[str, str]) -> list[str]:
    found = []
    for url in _urls(client):
        reply = client.get(url, headers=headers)
        assert reply.status_code < 500, (url, reply.status_code, reply.text[:300])
        found += [f"{url}: {word}" for word in FORBIDDEN if word.lower() in reply.text.lower()]
    return found


OUTSIDERS = {
    "nobody": {},
    "wrong group via proxy": {"X-Forwarded-User": "eve", "X-Forwarded-Groups": "payments,legal"},
}


@pytest.mark.parametrize("who", sorted(OUTSIDERS))
def test_outsider_sees_no_trace_of_restricted_postmortems(client: TestClient, who: str) -> None:
    assert _leaks(client, OUTSIDERS[who]) == []
    reply = client.get(f"/api/postmortems/{SECRET_ID}", headers=OUTSIDERS[who])
    assert reply.status_code == 404


def test_headers_from_an_untrusted_peer_are_ignored(app_settings: Settings) -> None:
    with TestClient(create_app(app_settings), client=("10.0.0.99", 1)) as outsider:
        spoofed = {"X-Forwarded-User": "mallory", "X-Forwarded-Groups": "security"}
        assert _leaks(outsider, spoofed) == []
        reply = outsider.post("/api/near-misses", json={}, headers=spoofed)
        assert reply.status_code == 401
        assert reply.headers["www-authenticate"].startswith("Bearer")


def test_insider_sees_it_via_proxy_and_via_token(client: TestClient, insider_token: str) -> None:
    for headers in (
        {"X-Forwarded-User": "sam", "X-Forwarded-Groups": "sre, security"},
        {"Authorization": f"Bearer {insider_token}"},
    ):
        detail = client.get(f"/api/postmortems/{SECRET_ID}", headers=headers)
        assert detail.status_code == 200 and detail.json()["title"] == SECRET_TITLE
        hits = client.get("/api/search", params={"q": "quokka vault"}, headers=headers).json()
        assert SECRET_ID in [hit["id"] for hit in hits["results"]]
        listing = client.get("/api/postmortems", params={"tag": SECRET_TAG}, headers=headers)
        assert listing.json()["total"] == 1


def test_writes_need_an_identity_and_are_audited(client: TestClient, insider_token: str) -> None:
    entry = {"date": "2025-03-15", "service": "orders", "what_failed": "pool nearly full",
             "caught_by": "alert"}  # fmt: skip
    anonymous = client.post("/api/near-misses", json=entry)
    assert anonymous.status_code == 401 and "WWW-Authenticate" in anonymous.headers
    bad = client.post("/api/near-misses", json=entry, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and "unknown or revoked" in bad.json()["detail"]
    sso = {"X-Forwarded-User": "sam", "X-Forwarded-Groups": "sre"}
    assert client.post("/api/near-misses", json=entry, headers=sso).status_code == 201
    assert client.post("/api/alerts/alertmanager", content=b"{}").status_code == 401
    client.get(
        f"/api/postmortems/{SECRET_ID}", headers={"Authorization": f"Bearer {insider_token}"}
    )
    assert client.get("/api/audit", headers=sso).status_code == 403
    admin = {"X-Forwarded-User": "root", "X-Forwarded-Groups": "sre-admin"}
    log = client.get("/api/audit", headers=admin).json()["items"]
    seen = {(e["actor"], e["action"], e["target"].split("?")[0], e["address"]) for e in log}
    assert ("sam", "write", "POST /api/near-misses", PROXY) in seen
    assert ("token:security-bot", "write", "POST /api/incidents/import", PROXY) in seen
    assert ("token:security-bot", "read", f"GET /api/postmortems/{SECRET_ID}", PROXY) in seen
    assert not any(e["actor"] == "sam" and e["action"] == "read" for e in log)  # not entitled


def test_token_mode_ignores_proxy_headers_and_revoked_tokens_stop_working(
    settings: Settings,
) -> None:
    token_settings = _secure(settings, "token")
    engine = make_engine(token_settings.resolved_database_url)
    _, secret = auth.create_token(engine, "ci", ["security"])
    engine.dispose()
    with TestClient(create_app(token_settings), client=(PROXY, 1)) as client:
        sso = {"X-Forwarded-User": "sam", "X-Forwarded-Groups": "security"}
        assert client.get(f"/api/postmortems/{SECRET_ID}", headers=sso).status_code == 404
        bearer = {"Authorization": f"Bearer {secret}"}
        assert client.get(f"/api/postmortems/{SECRET_ID}", headers=bearer).status_code == 200
        engine = make_engine(token_settings.resolved_database_url)
        auth.revoke_token(engine, "ci")
        engine.dispose()
        assert client.get(f"/api/postmortems/{SECRET_ID}", headers=bearer).status_code == 401


def test_auth_off_serves_restricted_to_nobody_and_writes_stay_open(settings: Settings) -> None:
    open_settings = _secure(settings, "off")
    with TestClient(create_app(open_settings), client=(PROXY, 1)) as client:
        insider = {"X-Forwarded-User": "sam", "X-Forwarded-Groups": "security"}
        assert client.get(f"/api/postmortems/{SECRET_ID}", headers=insider).status_code == 404
        entry = {"date": "2025-03-15", "service": "orders", "what_failed": "x", "caught_by": "y"}
        assert client.post("/api/near-misses", json=entry).status_code == 201


def test_token_cli_and_lint_warning(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _library(settings.library)
    monkeypatch.setenv("PML_LIBRARY", str(settings.library))
    monkeypatch.setenv("PML_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("PML_DATABASE_URL", settings.resolved_database_url)
    runner = CliRunner()
    created = runner.invoke(main, ["token", "create", "importer", "--group", "security"])
    assert created.exit_code == 0, created.output
    assert created.stdout.strip().startswith(auth.TOKEN_PREFIX)
    assert "importer\tsecurity" in runner.invoke(main, ["token", "list"]).stdout
    assert runner.invoke(main, ["token", "create", "importer"]).exit_code == 1
    assert "revoked" in runner.invoke(main, ["token", "revoke", "importer"]).stdout
    assert "active" not in runner.invoke(main, ["token", "list"]).stdout
    lint = runner.invoke(main, ["lint", str(settings.library)])
    assert "secret.md:" in lint.stderr and "hidden from everyone while PML_AUTH=off" in lint.stderr
    assert lint.exit_code == 0 and "PML_AUTH=off" not in lint.stdout
    monkeypatch.setenv("PML_AUTH", "token")
    assert "PML_AUTH=off" not in runner.invoke(main, ["lint", str(settings.library)]).stderr
