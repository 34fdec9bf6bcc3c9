"""Stored related lists: computed at index time, kept current incrementally, read by pages."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import col, select

from api.app import create_app
from indexer.config import Settings
from indexer.db import store
from indexer.db.models import NeighbourList, NeighbourRow
from indexer.search import _neighbours, _related, refresh_neighbours, related
from tests.conftest import SAMPLE_LIBRARY, postmortem_text, write

POOL = "2025-02-11-orders-pgbouncer-pool-exhaustion"


def _recurrence(**fields: Any) -> str:
    return postmortem_text(
        id="pool-again",
        title="PgBouncer pool exhaustion on orders, again",
        date="2026-06-01",
        error_classes=["connection-pool-exhaustion"],
        services=["orders"],
        summary="PgBouncer ran out of server connections; orders queued and timed out. "
        "The connection pool was exhausted by a retry loop.",
        **fields,
    )


RECURRENCE = _recurrence()


def _library(tmp_path: Path, open_library: Any) -> Any:
    folder = tmp_path / "library"
    shutil.copytree(SAMPLE_LIBRARY, folder)
    settings = Settings(library=folder, data_dir=tmp_path / "data", embedding_model="hash")
    library = open_library(settings)
    library.refresh()
    library.semantic.sync()
    return library


def _index(library: Any) -> None:
    library.refresh()  # embeds and refreshes the stored lists (the model is loaded)


def _stored(library: Any) -> dict[str, list[str]]:
    with store.session(library.engine) as db:
        rows = db.exec(select(NeighbourRow).order_by(col(NeighbourRow.rank)))
        found: dict[str, list[str]] = {}
        for row in rows:
            found.setdefault(row.postmortem_id, []).append(row.other_id)
        for listed in db.exec(select(NeighbourList.postmortem_id)):
            found.setdefault(listed, [])
    return found


def _computed(library: Any, postmortem_id: str, **options: Any) -> list[dict[str, Any]]:
    found = _related.compute(library.engine, library.semantic, postmortem_id, **options)
    assert found is not None
    return found


def test_every_list_is_stored_and_read_as_computed(tmp_path: Path, open_library: Any) -> None:
    library = _library(tmp_path, open_library)
    stored = _stored(library)
    with store.session(library.engine) as db:
        ids = list(db.exec(select(NeighbourList.postmortem_id)))
    assert POOL in stored and len(stored) == len(ids) > 10
    for identifier in ids:
        for past_only in (False, True):
            read = related(
                library.engine, library.semantic, identifier, limit=10, past_only=past_only
            )
            assert read == _computed(library, identifier, limit=10, past_only=past_only)
    items = related(library.engine, library.semantic, POOL)
    assert items and {item["when"] for item in items} <= {"earlier", "later"}
    assert all(item["strength"] in {"strong", "partial", "weak"} for item in items)
    assert any(reason["kind"] == "similar_passage" for reason in items[0]["reasons"])


def test_pages_read_the_stored_list(tmp_path: Path, open_library: Any) -> None:
    library = _library(tmp_path, open_library)
    first = related(library.engine, library.semantic, POOL)
    assert first
    with store.session(library.engine) as db:  # what only a stored list can know
        db.exec(
            update(NeighbourRow)  # type: ignore[call-overload]
            .where(col(NeighbourRow.postmortem_id) == POOL, col(NeighbourRow.rank) == 0)
            .values(score=7.5)
        )
        db.commit()
    settings = library.settings
    library.close()
    with TestClient(create_app(settings)) as client:
        body = client.get(f"/api/postmortems/{POOL}/related").json()
        assert body["items"][0]["score"] == 7.5
        assert body["items"][0]["id"] == first[0]["id"]
        page = client.get(f"/postmortems/{POOL}")
        assert page.status_code == 200 and first[0]["title"] in page.text


def test_an_added_edited_and_deleted_postmortem_enters_and_leaves_lists(
    tmp_path: Path, open_library: Any
) -> None:
    library = _library(tmp_path, open_library)
    write(library.root, "2026/2026-06-01-pool-again.md", RECURRENCE)
    _index(library)
    assert "pool-again" in _stored(library)[POOL]
    assert "pool-again" in [i["id"] for i in related(library.engine, library.semantic, POOL) or []]
    later = related(library.engine, library.semantic, POOL, limit=10)
    assert later == _computed(library, POOL, limit=10)

    # Edited into something else: it leaves the pool list, and its own list follows.
    unrelated = postmortem_text(
        id="pool-again",
        title="Marketing site typo in the footer",
        date="2026-06-01",
        error_classes=["content-error"],
        services=["website"],
        summary="A typo in the footer copy was published; nobody was paged.",
    )
    write(library.root, "2026/2026-06-01-pool-again.md", unrelated)
    _index(library)
    assert related(library.engine, library.semantic, "pool-again") == _computed(
        library, "pool-again"
    )
    assert related(library.engine, library.semantic, POOL, limit=10) == _computed(
        library, POOL, limit=10
    )

    (library.root / "2026/2026-06-01-pool-again.md").unlink()
    _index(library)
    stored = _stored(library)
    assert "pool-again" not in stored
    assert not any("pool-again" in items for items in stored.values())


def test_a_restricted_postmortem_never_enters_a_stored_list(
    tmp_path: Path, open_library: Any
) -> None:
    library = _library(tmp_path, open_library)
    secret = _recurrence(visibility="restricted", audience=["security"])
    write(library.root, "2026/2026-06-01-pool-again.md", secret)
    _index(library)
    stored = _stored(library)
    assert "pool-again" not in stored
    assert not any("pool-again" in items for items in stored.values())
    outsider = related(library.engine, library.semantic, POOL, limit=25) or []
    assert "pool-again" not in [item["id"] for item in outsider]
    insider = related(library.engine, library.semantic, POOL, groups=frozenset({"security"}))
    assert "pool-again" in [item["id"] for item in insider or []]

    # Shared first, then restricted: it leaves every list.
    write(library.root, "2026/2026-06-01-pool-again.md", RECURRENCE)
    _index(library)
    assert "pool-again" in _stored(library)[POOL]
    write(library.root, "2026/2026-06-01-pool-again.md", secret)
    _index(library)
    assert not any("pool-again" in items for items in _stored(library).values())


def test_one_change_recomputes_only_the_lists_it_may_touch(
    tmp_path: Path, open_library: Any
) -> None:
    topics = [
        ("dns", "DNS resolver timeouts after a zone transfer", "resolver zone records"),
        ("disk", "Disk full on the logging hosts", "disk volume logs rotation"),
        ("cert", "Expired TLS certificate on the edge", "certificate expiry renewal"),
        ("queue", "Kafka consumer lag on billing", "kafka consumer lag partitions"),
        ("deploy", "Bad config push to the checkout fleet", "config push rollback canary"),
    ]
    folder = tmp_path / "many"
    for n in range(100):
        name, title, words = topics[n % len(topics)]
        text = postmortem_text(
            id=f"{name}-{n}",
            title=f"{title} ({n})",
            date=f"2025-{n % 12 + 1:02d}-{n % 27 + 1:02d}",
            error_classes=[f"{name}-failure-{n}"],
            services=[f"service-{n}"],
            summary=f"{title}. The {words} went wrong in region {n}.",
        )
        write(folder, f"{name}-{n}.md", text)
    settings = Settings(library=folder, data_dir=tmp_path / "data", embedding_model="hash")
    library = open_library(settings)
    library.refresh()
    library.semantic.sync()
    assert len(_stored(library)) == 100
    write(folder, "dns-new.md", postmortem_text(id="dns-new", title="DNS resolver timeouts"))
    library.refresh()  # the listener recomputes some lists...
    assert refresh_neighbours(library.engine, library.semantic) == 0  # ...and they are current
    assert "dns-new" in _stored(library)
    # Compare: touching the new postmortem's hash forces one more incremental round.
    with store.session(library.engine) as db:
        db.exec(
            update(NeighbourList)  # type: ignore[call-overload]
            .where(col(NeighbourList.postmortem_id) == "dns-new")
            .values(content_hash="stale")
        )
        db.commit()
    recomputed = refresh_neighbours(library.engine, library.semantic)
    assert 1 <= recomputed < 101


def test_a_release_that_ranks_differently_recomputes_every_list_once(
    tmp_path: Path, open_library: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = _library(tmp_path, open_library)
    count = len(_stored(library))
    assert refresh_neighbours(library.engine, library.semantic) == 0
    monkeypatch.setattr(_neighbours, "RANKING", _neighbours.RANKING + 1)
    # Until they are recomputed, a stored list of the old ranking is never served.
    assert _neighbours._read(library.engine, library.semantic, POOL, 10, False) is None
    assert related(library.engine, library.semantic, POOL) == _computed(library, POOL)
    assert refresh_neighbours(library.engine, library.semantic) == count
    assert refresh_neighbours(library.engine, library.semantic) == 0
    assert _neighbours._read(library.engine, library.semantic, POOL, 10, False) is not None
