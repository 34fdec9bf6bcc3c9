"""Indexing a library folder into the database and the full-text index.

Incremental by content hash: unchanged files are not parsed again, deleted
files leave both stores. Crash safety comes from the order of the two
commits: the search index commits first, the database second, and the
database's hashes are what the next run compares against. A run killed
between the two leaves the previous index searchable (tantivy commits are
atomic) and the next run simply redoes the files whose hash the database does
not yet have. If the index and the database disagree on the number of
postmortems, or the index layout changed, everything is rebuilt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from indexer import library, replicas, store
from indexer.postmortem import Finding, MalformedPostmortem, Postmortem, content_hash, parse
from indexer.search import SearchIndex
from indexer.taxonomy import Taxonomy

Progress = Callable[[int, int], None]


@dataclass
class Report:
    """What one indexing run did."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    rebuilt: bool = False
    problems: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def indexed(self) -> int:
        return self.added + self.updated

    def summary(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.removed} removed, "
            f"{self.unchanged} unchanged, {len(self.problems)} skipped"
            + (" (full rebuild)" if self.rebuilt else "")
            + f" in {self.seconds:.2f}s"
        )


@dataclass
class _Plan:
    write: list[Postmortem] = field(default_factory=list)
    delete_ids: set[str] = field(default_factory=set)
    problems: list[Finding] = field(default_factory=list)
    added: int = 0
    updated: int = 0
    unchanged: int = 0


def index_library(
    root: Path,
    engine: Engine,
    index: SearchIndex,
    taxonomy: Taxonomy,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> Report:
    """Bring the database and the search index in line with the files under `root`."""
    files = library.folder_files(root)
    return index_files(files, engine, index, taxonomy, force=force, progress=progress)


def index_files(
    files: list[library.SourceFile],
    engine: Engine,
    index: SearchIndex,
    taxonomy: Taxonomy,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> Report:
    """Make the stores hold exactly these files (from a folder, a git tree, ...)."""
    started = time.perf_counter()
    with store.session(engine) as db:
        stored = store.known_hashes(db)
    rebuild = force or index.rebuilt or index.count() != len(stored)
    plan = _plan(files, stored, rebuild, progress)
    with index.batch(taxonomy) as batch:
        if rebuild:
            batch.clear()
        for identifier in plan.delete_ids:
            batch.delete(identifier)
        for postmortem in plan.write:
            batch.upsert(postmortem)
    with store.session(engine) as db:
        store.delete_postmortems(db, plan.delete_ids)
        db.flush()
        store.write_postmortems(db, plan.write)
        store.replace_problems(db, plan.problems)
        store.set_meta(db, "indexed_at", datetime.now(UTC).isoformat())
        if plan.write or plan.delete_ids:
            replicas.bump(db)  # same transaction: other replicas see rows and generation together
        db.commit()
    return Report(
        added=plan.added,
        updated=plan.updated,
        removed=len(plan.delete_ids),
        unchanged=plan.unchanged,
        rebuilt=rebuild,
        problems=plan.problems,
        seconds=time.perf_counter() - started,
    )


def _plan(
    files: list[library.SourceFile],
    stored: dict[str, tuple[str, str]],
    rebuild: bool,
    progress: Progress | None,
) -> _Plan:
    plan = _Plan()
    # id -> path of every postmortem that stays as it is, to catch duplicate ids.
    owners: dict[str, str] = {}
    candidates: list[Postmortem] = []
    for number, source in enumerate(files, start=1):
        display = source.path
        if progress:
            progress(number, len(files))
        previous = None if rebuild else stored.get(display)
        if previous and source.digest is not None and previous[1] == source.digest:
            owners[previous[0]] = display
            plan.unchanged += 1
            continue
        try:
            text = source.read()
            if previous and previous[1] == content_hash(text):
                owners[previous[0]] = display
                plan.unchanged += 1
                continue
            candidates.append(parse(text, display))
        except MalformedPostmortem as error:
            plan.problems.append(error.finding)
        except OSError as error:
            plan.problems.append(Finding(display, 1, "error", "unreadable", str(error)))
    for postmortem in candidates:
        owner = owners.get(postmortem.id)
        if owner is not None and owner != postmortem.path:
            plan.problems.append(
                Finding(
                    postmortem.path,
                    postmortem.line_of("id"),
                    "error",
                    "duplicate-id",
                    f"id '{postmortem.id}' is already used by {owner}; this file was skipped",
                )
            )
            continue
        owners[postmortem.id] = postmortem.path
        previous = stored.get(postmortem.path)
        if previous is None:
            plan.added += 1
        else:
            plan.updated += 1
        plan.write.append(postmortem)
    # Whatever id no file carries any more leaves both stores (renames keep theirs).
    plan.delete_ids = {identifier for identifier, _ in stored.values()} - set(owners)
    return plan
