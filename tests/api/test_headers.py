"""Response headers: security headers on every answer (errors too), local API docs, no
links from the Host header, and caching that keeps one reader's answer from another."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from api.app import create_app
from indexer import auth
from indexer.config import Settings
from indexer.db.store import make_engine
from tests.conftest import postmortem_text, write

POSTMORTEM = "2025-03-12-orders-pool"
PROXY = "10.0.0.5"


@pytest.fixture
def settings_with_library(settings: Settings) -> Settings:
    write(settings.library, "pool.md", postmortem_text(id=POSTMORTEM, date="2025-03-12"))
    return settings.model_copy(
        update={"auth": "proxy", "trusted_proxies": PROXY, "admin_group": "admins"}
    )


@pytest.fixture
def client(settings_with_library: Settings) -> Iterator[TestClient]:
    app = create_app(settings_with_library.model_copy(update={"max_body_bytes": 1000}))
    with TestClient(app, raise_server_exceptions=False, client=(PROXY, 1)) as test_client:
        yield test_client


def _secure(reply: object) -> None:
    headers = reply.headers  # type: ignore[attr-defined]
    assert headers["x-content-type-options"] == "nosniff", reply
    assert headers["referrer-policy"] == "same-origin"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "server" not in headers


def test_errors_and_docs_carry_the_security_headers(client: TestClient) -> None:
    replies = [
        client.get("/api/postmortems/missing"),  # 404 JSON
        client.get("/no/such/page"),  # 404 page
        client.get("/api/search", params={"limit": 0}),  # 422
        client.post("/api/near-misses", content=b"x" * 2000),  # 413
        client.get("/docs"),
        client.get("/redoc"),
        client.get("/openapi.json"),
        client.get("/static/app.css"),
        client.get("/trends/services.csv"),
    ]
    assert [r.status_code for r in replies] == [404, 404, 422, 413, 200, 200, 200, 200, 200]
    for reply in replies:
        _secure(reply)
    for page in replies[4:6]:
        assert "cdn" not in page.text.lower() and "<script>" not in page.text
        assert "/static/vendor/" in page.text


def test_a_500_carries_the_security_headers(
    client: TestClient, settings_with_library: Settings
) -> None:
    engine = create_engine(settings_with_library.resolved_database_url)
    with engine.begin() as connection:  # the table goes away under the running app
        cascade = "" if engine.dialect.name == "sqlite" else " CASCADE"
        connection.execute(text(f"DROP TABLE postmortem_link{cascade}"))
    engine.dispose()
    pages = (("/api/postmortems", "application/json"), (f"/postmortems/{POSTMORTEM}", "text/html"))
    for path, accept in pages:
        reply = client.get(path, headers={"accept": accept})
        assert reply.status_code == 500, (path, reply.text[:200])
        _secure(reply)
        assert reply.headers["cache-control"] == "private"


def test_digest_links_come_from_public_url_never_from_the_host_header(
    settings_with_library: Settings,
) -> None:
    week = {"week": "2025-W11"}
    for public, link in (
        (None, "/postmortems/"),
        ("https://pml.example.com", "https://pml.example.com/postmortems/"),
    ):
        # Any Host gets through (PML_ALLOWED_HOSTS=*), so links are seen not to come from it.
        chosen = settings_with_library.model_copy(
            update={"public_url": public, "allowed_hosts": "*"}
        )
        with TestClient(create_app(chosen), client=(PROXY, 1)) as client:
            evil = {"host": "evil.example"}
            answers = [
                client.get("/api/digest", params=week, headers=evil).text,
                client.get("/api/digest", params={**week, "format": "markdown"}, headers=evil).text,
                client.get("/digest", params=week, headers=evil).text,
                client.get("/digest.md", params=week, headers=evil).text,
            ]
            for answer in answers:
                assert "evil.example" not in answer and "testserver" not in answer
                assert f"{link}{POSTMORTEM}" in answer
            # Starlette's trailing-slash redirects named the Host header's host.
            for path in ("/trends/", "/api/postmortems/", "/static"):
                moved = client.get(path, headers=evil, follow_redirects=False)
                assert moved.status_code == 307 and moved.headers["location"].startswith("/")


def test_answers_that_depend_on_the_reader_are_private(
    client: TestClient, settings_with_library: Settings
) -> None:
    engine = make_engine(settings_with_library.resolved_database_url)
    _, admin = auth.create_token(engine, "admin", ["admins"])
    engine.dispose()
    for path in ("/api/postmortems", f"/api/postmortems/{POSTMORTEM}", "/", "/api/search?q=x",
                 "/trends", "/readyz", "/metrics", "/api/digest?week=2025-W11"):  # fmt: skip
        reply = client.get(path)
        assert reply.status_code == 200, path
        assert reply.headers["cache-control"] == "private", path
        vary = reply.headers["vary"].lower()
        for name in ("authorization", "cookie", "x-forwarded-user", "x-forwarded-groups"):
            assert name in vary, (path, vary)
    page = client.get("/", headers={"hx-request": "true"})
    assert "hx-request" in page.headers["vary"].lower()  # the page's own Vary is kept
    audit = client.get("/api/audit", headers={"Authorization": f"Bearer {admin}"})
    assert audit.status_code == 200 and audit.headers["cache-control"] == "no-store"
    assert "cache-control" not in client.get("/static/app.css").headers  # the same for all
