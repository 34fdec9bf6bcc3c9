"""`pml index` beside a running `pml serve` (folder mode): new postmortems reach every ranker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import select

from api.app import create_app
from indexer.config import Settings
from indexer.db import store
from indexer.db.models import NeighbourRow
from tests.conftest import postmortem_text, write

ROOT = Path(__file__).resolve().parents[2]
TITLE = "Quasar ledger froze during the zircon migration"


def _wait(check: object, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.1)


def _stored_pairs(settings: Settings) -> set[tuple[str, str]]:
    """(postmortem, related one) of every stored related list."""
    engine = store.make_engine(settings.resolved_database_url)
    try:
        with store.session(engine) as db:
            return set(db.exec(select(NeighbourRow.postmortem_id, NeighbourRow.other_id)))
    finally:
        engine.dispose()


def test_a_postmortem_indexed_by_another_process_reaches_semantic_search_and_related(
    settings: Settings,
) -> None:
    write(settings.library, "a.md", postmortem_text(id="a", title="Orders API timeouts"))
    settings.replica_poll = 0.2
    # The semantic index's own counts are for admins (they include restricted postmortems).
    settings = settings.model_copy(
        update={"auth": "proxy", "trusted_proxies": "10.0.0.5/32", "admin_group": "ops"}
    )
    admin = {"X-Forwarded-User": "root", "X-Forwarded-Groups": "ops"}
    with TestClient(create_app(settings), client=("10.0.0.5", 1)) as client:
        _wait(lambda: client.get("/readyz").json()["semantic"])
        before = client.get("/readyz", headers=admin).json()["semantic_status"]["postmortems"]
        write(
            settings.library,
            "quasar.md",
            postmortem_text(id="quasar", title=TITLE, summary="The zircon migration froze it."),
        )
        env = {
            **os.environ,
            "PML_LIBRARY": str(settings.library),
            "PML_DATA_DIR": str(settings.data_dir),
            "PML_DATABASE_URL": settings.database_url or "",
            "PML_EMBEDDING_MODEL": "hash",
        }
        subprocess.run(
            [sys.executable, "-m", "api.cli", "index"], cwd=ROOT, env=env, check=True, timeout=120
        )

        def semantic_finds_it() -> bool:
            body = client.get("/api/search", params={"q": TITLE, "mode": "semantic"}).json()
            return bool(body["results"]) and body["results"][0]["id"] == "quasar"

        _wait(semantic_finds_it, 120)  # only stops a test that would never pass
        status = client.get("/readyz", headers=admin).json()["semantic_status"]
        assert status["postmortems"] == before + 1
        related = client.get("/api/postmortems/a/related").json()["items"]
        assert "quasar" in [item["id"] for item in related]
        # The lists were stored at index time: pages read them, nobody recomputes them.
        assert {("a", "quasar"), ("quasar", "a")} <= _stored_pairs(settings)

        (settings.library / "quasar.md").unlink()
        subprocess.run(
            [sys.executable, "-m", "api.cli", "index"], cwd=ROOT, env=env, check=True, timeout=120
        )

        def related_forgets_it() -> bool:
            items = client.get("/api/postmortems/a/related").json()["items"]
            return "quasar" not in [item["id"] for item in items]

        _wait(related_forgets_it, 10)
        assert not any("quasar" in pair for pair in _stored_pairs(settings))
