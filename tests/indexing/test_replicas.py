"""Replicas: two `pml serve` processes on one PostgreSQL schema, each with its own index.

A postmortem indexed by another process (here `pml index`, as a deploy job or
a third replica would) must become searchable on both without a restart.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from indexer.config import Settings
from indexer.db.models import PostmortemRow
from indexer.db.store import session
from indexer.format.files import folder_files
from indexer.format.postmortem import MalformedPostmortem, parse
from indexer.indexing import replicas
from indexer.library import Library
from tests.conftest import postmortem_text, write
from tests.live_server import free_port


def _env(settings: Settings, data_dir: Path, model: str = "none") -> dict[str, str]:
    return {
        **os.environ,
        "PML_LIBRARY": str(settings.library),
        "PML_DATA_DIR": str(data_dir),
        "PML_DATABASE_URL": settings.resolved_database_url,
        "PML_EMBEDDING_MODEL": model,
        "PML_REPLICA_POLL": "0.5",
        "PML_LOG_LEVEL": "warning",
    }


@contextmanager
def _replica(settings: Settings, data_dir: Path, model: str = "none") -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "api.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=_env(settings, data_dir, model))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the replica exited"
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the replica never became ready"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(20)


def _ids(base: str, query: str) -> list[str]:
    body = httpx.get(f"{base}/api/search", params={"q": query, "mode": "fulltext"}).json()
    return [hit["id"] for hit in body["results"]]


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_postmortem_indexed_elsewhere_becomes_searchable_on_every_replica(
    settings: Settings, tmp_path: Path
) -> None:
    write(settings.library, "a.md", postmortem_text(id="first", title="Orders pool exhausted"))
    with ExitStack() as stack:
        one = stack.enter_context(_replica(settings, tmp_path / "one"))
        two = stack.enter_context(_replica(settings, tmp_path / "two"))
        assert _ids(one, "pool") == ["first"] and _ids(two, "pool") == ["first"]
        write(settings.library, "b.md", postmortem_text(id="second", title="Kafka lag wombat"))
        (settings.library / "a.md").unlink()
        indexed = subprocess.run(
            [sys.executable, "-m", "api.cli", "index"],
            env=_env(settings, tmp_path / "writer"),
            capture_output=True,
            text=True,
        )
        assert indexed.returncode == 0, indexed.stderr
        deadline = time.monotonic() + 30
        while not all(_ids(b, "wombat") == ["second"] and not _ids(b, "pool") for b in (one, two)):
            assert time.monotonic() < deadline, (_ids(one, "wombat"), _ids(two, "wombat"))
            time.sleep(0.3)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_postmortem_indexed_elsewhere_reaches_every_replicas_vectors_and_related_lists(
    settings: Settings, tmp_path: Path
) -> None:
    title = "Wombat ledger froze during the zircon migration"
    write(settings.library, "a.md", postmortem_text(id="first", title="Orders pool exhausted"))
    with ExitStack() as stack:
        replicas_ = [
            stack.enter_context(_replica(settings, tmp_path / name, "hash")) for name in ("1", "2")
        ]
        write(settings.library, "b.md", postmortem_text(id="second", title=title))
        indexed = subprocess.run(
            [sys.executable, "-m", "api.cli", "index"],
            env=_env(settings, tmp_path / "writer", "hash"),
            capture_output=True,
            text=True,
        )
        assert indexed.returncode == 0, indexed.stderr
        started = time.monotonic()

        def everywhere() -> bool:
            for base in replicas_:
                params = {"q": title, "mode": "semantic"}
                hits = httpx.get(f"{base}/api/search", params=params).json()["results"]
                related = httpx.get(f"{base}/api/postmortems/first/related").json()["items"]
                if (
                    not hits
                    or hits[0]["id"] != "second"
                    or "second" not in {item["id"] for item in related}
                ):
                    return False
            return True

        while not everywhere():
            # Only stops a test that would never pass; how soon is bench_gitsync.py's to say.
            assert time.monotonic() - started < 120, "never reached every replica"
            time.sleep(0.3)


def test_rows_rebuild_the_same_postmortem(sample_settings: Settings, open_library: object) -> None:
    library: Library = open_library(sample_settings)  # type: ignore[operator]
    library.refresh()
    originals = {}
    for source in folder_files(library.root):
        try:
            postmortem = parse(source.read(), source.path)
        except MalformedPostmortem:
            continue
        originals[postmortem.id] = postmortem
    with session(library.engine) as db:
        for row in db.exec(select(PostmortemRow)):
            rebuilt = replicas.from_row(row)
            original = originals[row.id]
            for name in ("title", "body", "services", "error_classes", "audience", "timestamps"):
                assert getattr(rebuilt, name) == getattr(original, name), (row.id, name)
            assert rebuilt.content_hash == original.content_hash
