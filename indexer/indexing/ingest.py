"""Indexing: `run` makes the database and the search index hold exactly a library's files.

Incremental by content hash: unchanged files are not parsed again, deleted
files leave both stores. The two stores move as one step: the database rows
are written first and held uncommitted (so anything the database refuses
stops the run before the index changes), then the search index commits, then
the database. A run killed between the two commits leaves an index ahead of
the database; the next run sees the database's hashes, redoes those files and,
when the counts disagree, rebuilds. If the index and the database disagree on the number of
postmortems, or the index layout changed, everything is rebuilt.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from indexer import incidents
from indexer.db import store
from indexer.format import lint, taxonomy, visibility
from indexer.format.files import SourceFile
from indexer.format.postmortem import Finding, MalformedPostmortem, Postmortem, content_hash, parse
from indexer.indexing import replicas
from indexer.indexing.stores import LibraryStores
from indexer.search import PASSAGES_VERSION, cut_passages

Progress = Callable[[int, int], None]
log = logging.getLogger("pml")


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
    # Files indexed and served with a lint error, which /api/problems and their page show.
    flagged: list[Finding] = field(default_factory=list)

    @property
    def indexed(self) -> int:
        return self.added + self.updated

    def summary(self) -> str:
        flagged = len({finding.path for finding in self.flagged})
        return (
            f"{self.added} added, {self.updated} updated, {self.removed} removed, "
            f"{self.unchanged} unchanged, {len(self.problems)} skipped"
            + (f", {flagged} indexed with lint errors" if flagged else "")
            + (" (full rebuild)" if self.rebuilt else "")
            + f" in {self.seconds:.2f}s"
        )


@dataclass
class _Plan:
    write: list[Postmortem] = field(default_factory=list)
    delete_ids: set[str] = field(default_factory=set)
    problems: list[Finding] = field(default_factory=list)
    shared: set[str] = field(default_factory=set)  # problem files everyone may know of
    flagged: list[Finding] = field(default_factory=list)
    kept: set[str] = field(default_factory=set)  # unchanged files: their problems stay
    added: int = 0
    updated: int = 0
    unchanged: int = 0


def run(
    library: LibraryStores,
    files: list[SourceFile],
    taxonomy_text: str,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> Report:
    """Make the library hold exactly `files` (from a folder, a git tree, ...), one run at a time.

    Every rebuild decision is made here: a forced run, a changed taxonomy
    (every file is linted against it: `_flag`), a new way of cutting
    passages, a new index layout, or an index and a database that disagree
    on the number of postmortems. Paths are relative to the library root, so
    moving the folder (or reading the same files out of git) reindexes nothing.
    """
    with library.lock:
        library.taxonomy = taxonomy.parse(taxonomy_text, library.root / taxonomy.FILE_NAME)
        digest = hashlib.sha256(taxonomy_text.encode("utf-8")).hexdigest()
        with store.session(library.engine) as db:
            force = force or store.get_meta(db, "taxonomy_hash") != digest
            force = force or store.get_meta(db, "chunks_version") != str(PASSAGES_VERSION)
        in_step = replicas.in_step(library)  # before this run bumps the generation
        report = _index(files, library, force=force, progress=progress)
        if in_step or report.rebuilt:
            replicas.mark_in_step(library)  # else the replica follower catches up
        with store.session(library.engine) as db:
            store.set_meta(db, "taxonomy_hash", digest)
            store.set_meta(db, "chunks_version", str(PASSAGES_VERSION))
            db.commit()
        library.index.rebuilt = False
        incidents.relink(library.engine, library.taxonomy)  # postmortems or aliases changed
        if library.semantic.embedder is not None:  # else the background loader catches up
            library.semantic.sync()
        log.info("indexed %s: %s", library.root, report.summary())
        for problem in report.problems:
            log.warning("%s", problem)
        return report


def _index(
    files: list[SourceFile],
    library: LibraryStores,
    *,
    force: bool,
    progress: Progress | None,
) -> Report:
    """Write what changed: database rows (uncommitted), the index commit, the database commit."""
    started = time.perf_counter()
    engine, index = library.engine, library.index
    with store.session(engine) as db:
        stored = store.known_hashes(db)
    rebuild = force or index.rebuilt or index.count() != len(stored)
    plan = _plan(files, stored, rebuild, progress)
    _flag(plan, library.taxonomy)
    with store.session(engine) as db:
        # The rows go to the database first, uncommitted: whatever it refuses stops the run
        # before the search index moves, so search never returns what the database lacks.
        store.delete_postmortems(db, plan.delete_ids)
        db.flush()
        store.write_postmortems(db, plan.write, passage_rows(plan.write))
        store.replace_problems(db, [*plan.problems, *plan.flagged], plan.shared, plan.kept)
        store.set_meta(db, "indexed_at", datetime.now(UTC).isoformat())
        if plan.write or plan.delete_ids:
            replicas.bump(db)  # same transaction: other replicas see rows and generation together
        db.flush()
        with index.batch() as batch:
            if rebuild:
                batch.clear()
            for identifier in plan.delete_ids:
                batch.delete(identifier)
            for postmortem in plan.write:
                batch.upsert(postmortem)
        try:
            db.commit()
        except Exception:
            index.rebuilt = True  # the index moved alone: the next run rebuilds it from files
            raise
    return Report(
        added=plan.added,
        updated=plan.updated,
        removed=len(plan.delete_ids),
        unchanged=plan.unchanged,
        rebuilt=rebuild,
        problems=plan.problems,
        seconds=time.perf_counter() - started,
        flagged=plan.flagged,
    )


def _flag(plan: _Plan, vocabulary: taxonomy.Taxonomy) -> None:
    """Lint what is written: a file with a lint error is indexed, and its problem shown.

    Indexed rather than skipped, so a wrong service does not hide a whole
    postmortem; shown on its page and in /api/problems, so it is not served
    as if it were fine. `pml lint` in CI is what keeps such files out.
    """
    for postmortem in plan.write:
        errors = [f for f in lint.lint_postmortem(postmortem, vocabulary) if f.level == "error"]
        if not errors:
            continue
        first = errors[0]
        more = f" (and {len(errors) - 1} more: run pml lint)" if len(errors) > 1 else ""
        message = f"indexed with a lint error: {first.message}{more}"
        plan.flagged.append(Finding(first.path, first.line, "error", first.code, message))
        if postmortem.visibility == "internal":
            plan.shared.add(postmortem.path)


def passage_rows(postmortems: list[Postmortem]) -> list[dict[str, Any]]:
    """The passages semantic search embeds, as rows of the passage table."""
    return [
        {
            "postmortem_id": postmortem.id,
            "ordinal": passage.ordinal,
            "heading": passage.heading,
            "text": passage.text,
            "content_hash": passage.content_hash,
        }
        for postmortem in postmortems
        for passage in cut_passages(postmortem)
    ]


def _plan(
    files: list[SourceFile],
    stored: dict[str, tuple[str, str]],
    rebuild: bool,
    progress: Progress | None,
) -> _Plan:
    plan = _Plan()
    # id -> path of every postmortem that stays as it is, to catch duplicate ids.
    owners: dict[str, str] = {}
    # ids whose owning file is known to be for everyone (unchanged files are not re-read).
    public_owners: set[str] = set()
    candidates: list[Postmortem] = []
    for number, source in enumerate(files, start=1):
        display = source.path
        if progress:
            progress(number, len(files))
        previous = None if rebuild else stored.get(display)
        if previous and source.digest is not None and previous[1] == source.digest:
            owners[previous[0]] = display
            plan.unchanged += 1
            plan.kept.add(display)
            continue
        text = None
        try:
            text = source.read()
            if previous and previous[1] == content_hash(text):
                owners[previous[0]] = display
                plan.unchanged += 1
                plan.kept.add(display)
                continue
            candidates.append(parse(text, display))
        except MalformedPostmortem as error:
            plan.problems.append(error.finding)
            if text is not None and visibility.plainly_public(text):
                plan.shared.add(display)
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
            # The message names the owner: for everyone only when both files are.
            if postmortem.visibility == "internal" and postmortem.id in public_owners:
                plan.shared.add(postmortem.path)
            continue
        owners[postmortem.id] = postmortem.path
        if postmortem.visibility == "internal":
            public_owners.add(postmortem.id)
        previous = stored.get(postmortem.path)
        if previous is None:
            plan.added += 1
        else:
            plan.updated += 1
        plan.write.append(postmortem)
    # Whatever id no file carries any more leaves both stores (renames keep theirs).
    plan.delete_ids = {identifier for identifier, _ in stored.values()} - set(owners)
    return plan
