"""Indexing: incremental by content hash, deletions, renames, broken files, repair."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from indexer.config import Settings
from indexer.db import store
from indexer.filters import Filters
from indexer.library import Library
from indexer.search import _schema
from tests.conftest import ROOT, postmortem_text, write


def titles(library: Library, query: str = "") -> list[str]:
    return [hit.title for hit in library.index.search(query, limit=100).results]


def test_incremental_add_change_delete(settings: Settings, open_library: Any) -> None:
    lib = settings.library
    write(lib, "2025/a.md", postmortem_text(id="a", title="Pool exhausted in orders"))
    write(lib, "2025/b.md", postmortem_text(id="b", title="Certificate expired on api"))
    library = open_library(settings)
    first = library.refresh()
    assert (first.added, first.unchanged) == (2, 0)

    again = library.refresh()
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 2)

    write(lib, "2025/b.md", postmortem_text(id="b", title="Certificate rotated too late"))
    (lib / "2025/a.md").unlink()
    write(lib, "2025/c.md", postmortem_text(id="c", title="Disk full on search nodes"))
    report = library.refresh()
    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 1, 1, 0)
    assert sorted(titles(library)) == ["Certificate rotated too late", "Disk full on search nodes"]
    assert titles(library, "pool") == []
    with store.session(library.engine) as db:
        assert store.count_postmortems(db) == 2


def test_rename_keeps_the_postmortem(settings: Settings, open_library: Any) -> None:
    write(settings.library, "old-name.md", postmortem_text(id="stable", title="Renamed one"))
    library = open_library(settings)
    library.refresh()
    (settings.library / "old-name.md").rename(settings.library / "new-name.md")
    report = library.refresh()
    assert report.removed == 0
    hits = library.index.search("renamed").results
    assert [h.id for h in hits] == ["stable"]
    with store.session(library.engine) as db:
        assert store.known_hashes(db).keys() == {"new-name.md"}


def test_malformed_files_are_skipped_and_reported(settings: Settings, open_library: Any) -> None:
    write(settings.library, "good.md", postmortem_text(title="Good one"))
    write(settings.library, "no-title.md", postmortem_text(title=None))
    write(settings.library, "bomb.md", "---\na: &a [x, x]\nb: [*a, *a]\ntitle: t\n---\n")
    write(settings.library, "binary.md", "")
    (settings.library / "binary.md").write_bytes(b"---\ntitle: \xff\xfe\n---\n")
    write(settings.library, "z-dupe.md", postmortem_text(id="good", title="Same id"))
    library = open_library(settings)
    report = library.refresh()
    assert report.added == 1
    problems = {p.path: p.message for p in report.problems}
    assert problems["no-title.md"] == "missing required field 'title'"
    assert "anchors" in problems["bomb.md"]
    assert "not UTF-8" in problems["binary.md"]
    assert "id 'good' is already used by good.md" in problems["z-dupe.md"]
    assert titles(library) == ["Good one"]


def test_vocabulary_problems_do_not_stop_indexing(settings: Settings, open_library: Any) -> None:
    write(
        settings.library,
        "odd.md",
        postmortem_text(title="Imported", services=["mainframe"], error_classes=["gremlins"]),
    )
    library = open_library(settings)
    assert library.refresh().added == 1
    assert library.index.search("", limit=5).facets["service"] == {"mainframe": 1}


def test_lost_index_is_rebuilt(settings: Settings, open_library: Any) -> None:
    write(settings.library, "a.md", postmortem_text(title="Queue backlog"))
    library = open_library(settings)
    library.refresh()
    import shutil

    shutil.rmtree(settings.index_dir)
    library = open_library(settings)
    report = library.refresh()
    assert report.rebuilt
    assert titles(library, "backlog") == ["Queue backlog"]


def test_schema_version_bump_forces_rebuild(
    settings: Settings, open_library: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(settings.library, "a.md", postmortem_text(title="Queue backlog"))
    library = open_library(settings)
    library.refresh()
    monkeypatch.setattr(_schema, "SCHEMA_VERSION", _schema.SCHEMA_VERSION + 1)
    library = open_library(settings)
    report = library.refresh()
    assert report.rebuilt and report.unchanged == 0
    assert titles(library, "backlog") == ["Queue backlog"]


def test_a_new_taxonomy_alias_finds_the_postmortems_of_its_class(
    settings: Settings, open_library: Any
) -> None:
    write(settings.library, "a.md", postmortem_text(title="Stuck", error_classes=["queue-backlog"]))
    library = open_library(settings)
    library.refresh()

    def found(query: str) -> list[str]:
        return [hit.title for hit in library.searcher.search(query, mode="fulltext").results]

    assert found("mailbox overflow") == []
    taxonomy = settings.library / "taxonomy.yaml"
    taxonomy.write_text(
        taxonomy.read_text().replace(
            "aliases: [consumer lag,", "aliases: [mailbox overflow, consumer lag,"
        )
    )
    assert library.refresh().rebuilt  # every file is linted against the taxonomy again
    assert found("mailbox overflow") == ["Stuck"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_killed_indexing_leaves_old_index_and_next_run_repairs(
    settings: Settings, open_library: Any
) -> None:
    for number in range(300):
        write(
            settings.library,
            f"2025/pm-{number:03}.md",
            postmortem_text(id=f"pm-{number:03}", title=f"Incident number {number}"),
        )
    library = open_library(settings)
    library.refresh()
    for number in range(300):  # change every file, then kill the indexer part-way
        write(
            settings.library,
            f"2025/pm-{number:03}.md",
            postmortem_text(id=f"pm-{number:03}", title=f"Changed incident {number}"),
        )
    env = {
        **os.environ,
        "PML_LIBRARY": str(settings.library),
        "PML_DATA_DIR": str(settings.data_dir),
        "PML_DATABASE_URL": settings.database_url or "",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "index"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.8)
    process.send_signal(signal.SIGKILL)
    process.wait()

    library = open_library(settings)
    searchable = library.index.search("incident", limit=5)
    assert searchable.total == 300  # old or new, the index still answers
    library.refresh()
    assert library.index.search("changed", limit=5).total == 300
    with store.session(library.engine) as db:
        assert store.count_postmortems(db) == 300
    assert library.index.count() == 300


def test_a_reopened_index_names_its_hits_and_sees_other_writers(
    settings: Settings, open_library: Any
) -> None:
    """Ranking reads ids from a fast field; a new process must still name every hit."""
    for n, title in enumerate(["Queue backlog", "Queue consumers stalled", "Disk full"]):
        write(settings.library, f"{n}.md", postmortem_text(id=f"pm-{n}", title=title))
    open_library(settings).refresh()
    server = open_library(settings)  # a restarted server: its index has learned no ids yet
    ranked = server.index.rank("queue", Filters(), frozenset(), 10)
    assert sorted(identifier for identifier, _ in ranked) == ["pm-0", "pm-1"]
    assert server.index.ids() == {"pm-0", "pm-1", "pm-2"}

    write(settings.library, "3.md", postmortem_text(id="pm-3", title="Queue replay"))
    open_library(settings).refresh()  # `pml index` beside `pml serve`
    deadline = time.monotonic() + 10
    while len(server.index.rank("queue", Filters(), frozenset(), 10)) < 3:
        assert time.monotonic() < deadline, "the other writer's commit never showed"
        time.sleep(0.1)
    assert {i for i, _ in server.index.rank("queue", Filters(), frozenset(), 10)} == {
        "pm-0",
        "pm-1",
        "pm-3",
    }
