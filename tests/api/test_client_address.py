"""Client addresses behind a proxy, against a real `pml serve` (uvicorn) on 127.0.0.1.

uvicorn's defaults rewrite the client address from `X-Forwarded-For` for any
request from 127.0.0.1. `pml serve` must not: forwarded headers count only
from `PML_TRUSTED_PROXIES`, and the trust check sees the real peer, so a
local client cannot pose as the proxy, and a proxy on 127.0.0.1 that sends
`X-Forwarded-For` still passes its users' identities.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from indexer.config import Settings
from tests.conftest import postmortem_text, write
from tests.live_server import serve

SECRET = "2025-03-13-vault-keys"
INSIDER = {"X-Forwarded-User": "sam", "X-Forwarded-Groups": "security,admins"}
ENTRY = {"date": "2025-03-15", "service": "orders", "what_failed": "pool", "caught_by": "alert"}


@pytest.fixture
def library(settings: Settings) -> Settings:
    write(settings.library, "a.md", postmortem_text(id="2025-03-12-a", date="2025-03-12"))
    write(settings.library, "secret.md", postmortem_text(
        id=SECRET, date="2025-03-13", visibility="restricted", audience=["security"],
    ))  # fmt: skip
    return settings


@contextmanager
def _server(settings: Settings, tmp_path: Path, trusted: str) -> Iterator[str]:
    extra = {
        "PML_AUTH": "proxy",
        "PML_TRUSTED_PROXIES": trusted,
        "PML_ADMIN_GROUP": "admins",
        "PML_DATABASE_URL": settings.resolved_database_url,
    }
    with serve(tmp_path / "live", settings.library, extra) as base:
        yield base


def test_a_local_client_cannot_pose_as_the_trusted_proxy(library: Settings, tmp_path: Path) -> None:
    with _server(library, tmp_path, "10.9.9.9") as base:
        spoofed = {**INSIDER, "X-Forwarded-For": "10.9.9.9"}
        assert httpx.get(f"{base}/api/postmortems/{SECRET}", headers=spoofed).status_code == 404
        listed = httpx.get(f"{base}/api/postmortems", headers=spoofed).json()
        assert SECRET not in [item["id"] for item in listed["items"]]
        wrote = httpx.post(f"{base}/api/near-misses", json=ENTRY, headers=spoofed)
        assert wrote.status_code == 401
        assert "server" not in wrote.headers  # no `server: uvicorn` either


def test_a_proxy_on_loopback_that_forwards_addresses_keeps_its_users(
    library: Settings, tmp_path: Path
) -> None:
    with _server(library, tmp_path, "127.0.0.1") as base:
        forwarded = {**INSIDER, "X-Forwarded-For": "198.51.100.1, 203.0.113.7"}
        detail = httpx.get(f"{base}/api/postmortems/{SECRET}", headers=forwarded)
        assert detail.status_code == 200 and detail.json()["id"] == SECRET
        wrote = httpx.post(f"{base}/api/near-misses", json=ENTRY, headers=forwarded)
        assert wrote.status_code == 201
        log = httpx.get(f"{base}/api/audit", headers=INSIDER).json()["items"]
        # The audit log names the client the proxy saw, the right-most address it added.
        writes = [entry["address"] for entry in log if entry["action"] == "write"]
        assert writes == ["203.0.113.7"]
        # Without the proxy's user header nobody is signed in, whatever the address says.
        anonymous = httpx.get(
            f"{base}/api/postmortems/{SECRET}", headers={"X-Forwarded-For": "1.2.3.4"}
        )
        assert anonymous.status_code == 404
