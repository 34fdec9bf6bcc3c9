"""The request's envelope (issue 29): Host, repeated identity headers, NULs, the access log.

- A DNS-rebinding page reached the service under its own host name and its
  writes passed the origin check (the origin was the request's own Host).
- The first of two `X-Forwarded-User` headers won.
- `service=a%00b` was a 500 on PostgreSQL on several routes, and so was a NUL
  in the near-miss form; SQLite took it.
- Full URLs, tokens in query strings included, went to the access log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from api.app import create_app
from api.cli import main
from indexer.config import Settings
from tests.conftest import postmortem_text, write
from tests.live_server import serve

PROXY = "10.0.0.5"
FORM = "application/x-www-form-urlencoded"
# The GET routes the issue found answering 500 to `service=a%00b` on PostgreSQL, and others.
FILTERED = (
    "/api/postmortems",
    "/api/incidents",
    "/api/action-items",
    "/api/trends/mttr",
    "/api/trends/services",
    "/api/review/weekly",
    "/api/search",
    "/",
    "/incidents",
    "/trends",
    "/feed.atom",
)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    write(settings.library, "a.md", postmortem_text(id="2025-03-12-a", date="2025-03-12"))
    with TestClient(create_app(settings), client=(PROXY, 1)) as test_client:
        yield test_client


def _near_misses(client: TestClient) -> int:
    log = client.get("/api/near-misses", params={"as_of": "2025-03-31", "days": 3660}).json()
    return sum(group["count"] for group in log["groups"])


def test_other_hosts_are_refused(settings: Settings) -> None:
    """Unset PML_PUBLIC_URL: loopback names only; set: its host; `*`: any."""
    write(settings.library, "a.md", postmortem_text(id="2025-03-12-a", date="2025-03-12"))
    cases = {
        None: ({"localhost:8000", "127.0.0.1", "[::1]:8000"}, {"rebind.example", "testserver"}),
        "https://pml.example.com": ({"pml.example.com", "PML.example.com:443"}, {"localhost"}),
    }
    for public, (allowed, refused) in cases.items():
        chosen = settings.model_copy(update={"allowed_hosts": None, "public_url": public})
        with TestClient(create_app(chosen)) as client:
            for host in allowed:
                assert client.get("/api/postmortems", headers={"Host": host}).status_code == 200
            for host in refused:
                reply = client.get("/api/postmortems", headers={"Host": host})
                assert reply.status_code == 400 and "PML_ALLOWED_HOSTS" in reply.text, host
                # Probes and scrapers call the pod by its address.
                assert client.get("/healthz", headers={"Host": host}).status_code == 200
    anything = settings.model_copy(update={"allowed_hosts": "*"})
    with TestClient(create_app(anything)) as client:
        assert client.get("/api/postmortems", headers={"Host": "x.example"}).status_code == 200


def test_a_dns_rebinding_page_cannot_write(settings: Settings) -> None:
    """The rebinding page's Origin matches its Host: the Host check is what stops it."""
    chosen = settings.model_copy(update={"allowed_hosts": None, "public_url": None})
    entry = {"date": "2025-03-15", "service": "orders", "what_failed": "x", "caught_by": "y"}
    with TestClient(create_app(chosen), base_url="http://localhost:8000") as client:
        rebound = {"Host": "rebind.example:8000", "Origin": "http://rebind.example:8000"}
        reply = client.post("/api/near-misses", json=entry, headers=rebound)
        assert reply.status_code == 400
        assert _near_misses(client) == 0
        own = {"Origin": "http://localhost:8000"}
        assert client.post("/api/near-misses", json=entry, headers=own).status_code == 201


def test_repeated_identity_headers_are_refused(settings: Settings) -> None:
    proxied = settings.model_copy(update={"auth": "proxy", "trusted_proxies": f"{PROXY}/32"})
    with TestClient(create_app(proxied), client=(PROXY, 1)) as client:
        for name in ("X-Forwarded-User", "X-Forwarded-Groups"):
            headers = [(name, "eve"), (name, "root")]
            if name == "X-Forwarded-Groups":
                headers.append(("X-Forwarded-User", "sam"))
            reply = client.get("/api/postmortems", headers=headers)
            assert reply.status_code == 400 and name.lower() in reply.text
        once = {"X-Forwarded-User": "sam", "X-Forwarded-Groups": "sre"}
        assert client.get("/api/postmortems", headers=once).status_code == 200


@pytest.mark.parametrize("route", FILTERED)
def test_a_nul_in_a_query_parameter_is_bad_input(client: TestClient, route: str) -> None:
    reply = client.get(f"{route}?service=a%00b&as_of=2025-03-31")
    assert reply.status_code == 400, reply.text
    assert "'service'" in reply.json()["detail"] and "NUL" in reply.json()["detail"]
    assert client.get(f"{route}?service=orders&as_of=2025-03-31").status_code == 200


def test_a_nul_in_the_path_is_bad_input(client: TestClient) -> None:
    reply = client.get("/api/postmortems/2025-03-12-a%00")
    assert reply.status_code == 400 and "NUL" in reply.text


def test_a_nul_in_a_near_miss_names_the_field(client: TestClient) -> None:
    entry = {"date": "2025-03-15", "service": "orders", "what_failed": "a\u0000b", "caught_by": "y"}
    reply = client.post(
        "/api/near-misses", content=json.dumps(entry), headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 422 and "what_failed" in reply.text and "NUL" in reply.text
    page = client.get("/near-misses").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    body = f"date=2025-03-15&service=orders&what_failed=disk&caught_by=a%00b&csrf_token={token[1]}"
    form = client.post("/near-misses", content=body, headers={"Content-Type": FORM})
    assert form.status_code == 422 and "NUL" in form.text
    assert _near_misses(client) == 0
    entry["what_failed"] = "disk"
    assert client.post("/api/near-misses", json=entry).status_code == 201


def test_an_import_keeps_its_good_rows_around_a_nul(client: TestClient) -> None:
    rows = [
        "source_id,title,service,started_at",
        "INC-1,Good one,orders,2025-03-01T10:00:00Z",
        "INC-2,Bad \x00 title,orders,2025-03-02T10:00:00Z",
        "INC-3,Good two,orders,2025-03-03T10:00:00Z",
    ]
    reply = client.post(
        "/api/incidents/import?source=csv",
        content="\n".join(rows).encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert reply.status_code == 200, reply.text
    report = reply.json()
    assert report["added"] == 2
    assert [
        (e["row"], "title" in e["message"] and "NUL" in e["message"]) for e in report["errors"]
    ] == [(3, True)]


def test_tokens_in_query_strings_never_reach_the_access_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with serve(tmp_path / "data", extra={"PML_LOG_LEVEL": "info"}, log=log) as base:
        assert (
            httpx.get(f"{base}/api/search?q=pool&token=pml_secretsecret", timeout=30).status_code
            == 200
        )
    written = log.read_text("utf-8")
    assert "GET /api/search?… HTTP/1.1" in written
    assert "secretsecret" not in written and "q=pool" not in written


def test_the_service_log_is_plain_lines_with_its_own_events(tmp_path: Path) -> None:
    """One line per event in uvicorn's format, pml's own among them; no terminal drawing
    (the MCP SDK once installed a rich console handler on the root logger)."""
    log = tmp_path / "server.log"
    with serve(tmp_path / "data", extra={"PML_LOG_LEVEL": "info"}, log=log) as base:
        assert httpx.get(f"{base}/api/search?q=pool", timeout=30).status_code == 200
    lines = log.read_text("utf-8").splitlines()
    assert any(line.startswith("INFO:     pml: indexed ") for line in lines), lines
    assert all(line.split(":", 1)[0] in ("INFO", "WARNING", "ERROR") for line in lines), lines


def test_a_postmortem_with_a_nul_fails_lint_and_the_library_still_starts(
    settings: Settings,
) -> None:
    """Issue 29: the file passed `pml lint`, then PostgreSQL refused to start the library."""
    text = postmortem_text(id="2025-03-13-nul", title="Has a NUL", summary="bytes \x00 here")
    write(settings.library, "2025/nul.md", text)
    write(settings.library, "2025/fine.md", postmortem_text(id="2025-03-12-fine", title="Fine"))
    result = CliRunner().invoke(main, ["lint", str(settings.library)])
    line = text.split("\n").index("bytes \x00 here") + 1
    assert result.exit_code == 1 and f"nul.md:{line}: error:" in result.output
    assert "NUL" in result.output
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/postmortems/2025-03-12-fine").status_code == 200
        assert client.get("/api/postmortems/2025-03-13-nul").status_code == 404
        problems = client.get("/api/problems").json()["items"]
        (problem,) = [p for p in problems if p["path"] == "2025/nul.md"]
        assert problem["line"] == line and "NUL" in problem["message"]
