"""Related postmortems: earlier and later, with a strength; nothing a reader may not see."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from indexer.config import Settings
from indexer.search import related
from tests.conftest import SAMPLE_LIBRARY, postmortem_text, write

POOL = "2025-02-11-orders-pgbouncer-pool-exhaustion"
SECRET = postmortem_text(
    id="secret-pool",
    title="PgBouncer pool exhaustion on the vault cluster",
    date="2025-09-01",
    visibility="restricted",
    audience=["security"],
    error_classes=["connection-pool-exhaustion"],
    services=["orders"],
    summary="PgBouncer ran out of server connections; orders queued and timed out. "
    "The connection pool was exhausted by a retry loop.",
)


def _related(settings: Settings, postmortem_id: str, **params: Any) -> dict[str, Any]:
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 30
        while not client.get("/readyz").json()["semantic"]:  # vectors loaded: the full answer
            assert time.monotonic() < deadline
            time.sleep(0.05)
        response = client.get(f"/api/postmortems/{postmortem_id}/related", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def _settings(tmp_path: Path, name: str, secret: bool) -> Settings:
    folder = tmp_path / name
    shutil.copytree(SAMPLE_LIBRARY, folder)
    if secret:
        write(folder, "2025/2025-09-01-secret-pool.md", SECRET)
    return Settings(library=folder, data_dir=tmp_path / f"{name}-data", embedding_model="hash")


def test_later_recurrences_are_listed_with_a_strength(tmp_path: Path) -> None:
    items = _related(_settings(tmp_path, "library", secret=False), POOL)["items"]
    later = [item for item in items if item["when"] == "later"]
    assert later, "the recurrences after 2025-02-11 are 'this happened again'"
    assert all(item["date"] > "2025-02-11" for item in later)
    assert all(item["strength"] in {"strong", "partial", "weak"} for item in items)
    assert any("pool" in item["id"] for item in later)
    past = _related(_settings(tmp_path, "again", secret=False), POOL, scope="past")["items"]
    assert all(item["when"] == "earlier" for item in past)


def test_an_outsider_sees_exactly_the_list_of_the_library_without_restricted_ones(
    tmp_path: Path,
) -> None:
    with_secret = _settings(tmp_path, "with", secret=True)
    without = _settings(tmp_path, "without", secret=False)
    for scope in ("all", "past"):
        seen = _related(with_secret, POOL, scope=scope, limit=10)
        plain = _related(without, POOL, scope=scope, limit=10)
        assert seen == plain
        assert "secret-pool" not in str(seen)


def test_the_restricted_postmortem_is_related_for_its_audience(
    tmp_path: Path, open_library: Any
) -> None:
    library = open_library(_settings(tmp_path, "with", secret=True))
    library.refresh()
    library.semantic.sync()
    insider = related(
        library.engine, library.semantic, POOL, limit=10, groups=frozenset({"security"})
    )
    assert insider is not None and "secret-pool" in [item["id"] for item in insider]
