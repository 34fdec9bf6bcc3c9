"""Several `pml serve` replicas on one PostgreSQL: each keeps its own search index in step.

The database is shared; the tantivy index and the vectors are per process.
Every indexing run that changes postmortems writes a new random `generation`
into `pml_meta` in the same transaction as the rows (`bump`). Each replica
polls that one value every `PML_REPLICA_POLL` seconds; when it changed, the
replica compares the database's (id, content hash) pairs with what its own
index holds and re-indexes only the difference, from the database rows (not
from files: the replica that indexed them may be the only one that has them,
e.g. a git checkout). A random token rather than a counter means two writers
never need to read-modify-write it.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlmodel import Session, col, select

from indexer.db import store
from indexer.db.models import PostmortemRow
from indexer.format.postmortem import Postmortem, parse
from indexer.indexing.stores import LibraryStores

GENERATION = "generation"
STATE_FILE = "replica.json"  # the generation this index last caught up with
_CHUNK = 500
log = logging.getLogger("pml.replicas")


def bump(db: Session) -> None:
    """Tell the other replicas that postmortems changed (call inside the writing transaction)."""
    store.set_meta(db, GENERATION, uuid.uuid4().hex)


def from_row(row: PostmortemRow) -> Postmortem:
    """The postmortem as its file said, rebuilt from the stored front matter and body.

    Front matter is plain YAML data (strings, numbers, lists, maps), so the
    JSON copy in the row dumps back to equivalent YAML.
    """
    header = yaml.safe_dump(json.loads(json.dumps(row.front_matter)), sort_keys=False)
    postmortem = parse(f"---\n{header}---\n{row.body}", row.path)
    postmortem.content_hash = row.content_hash
    return postmortem


def _state_file(library: LibraryStores) -> Path:
    return library.settings.index_dir / STATE_FILE


def seen_generation(library: LibraryStores) -> str | None:
    """The generation this data directory's index last matched, if it remembers one."""
    try:
        seen = json.loads(_state_file(library).read_text(encoding="utf-8")).get("generation")
    except (OSError, ValueError, AttributeError):
        return None
    return seen if isinstance(seen, str) else None


def in_step(library: LibraryStores) -> bool:
    """Does the local index hold what the database does (as far as this directory knows)?"""
    with store.session(library.engine) as db:
        current = store.get_meta(db, GENERATION)
    return current is None or current == seen_generation(library)


def mark_in_step(library: LibraryStores) -> str | None:
    """Record that the local index now matches the database's current generation."""
    with store.session(library.engine) as db:
        current = store.get_meta(db, GENERATION)
    _state_file(library).write_text(json.dumps({"generation": current}), encoding="utf-8")
    return current


@dataclass
class Follower:
    """What this replica's index holds, and the poller that keeps it current."""

    library: LibraryStores
    interval: float
    generation: str | None = None
    hashes: dict[str, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def resume(self) -> None:
        """Trust the local index only if it is in step with the database.

        Otherwise (a new data directory, or changes made while this process was
        down) the first catch-up re-indexes every postmortem from the database.
        """
        if in_step(self.library):
            with store.session(self.library.engine) as db:
                self.generation = store.get_meta(db, GENERATION)
                self.hashes = _stored_hashes(db)

    def catch_up(self) -> int:
        """Re-index what another replica changed; returns how many postmortems changed."""
        semantic = self.library.semantic
        changed: list[str] = []
        removed: set[str] = set()
        with self.library.lock, store.session(self.library.engine) as db:
            generation = store.get_meta(db, GENERATION)
            if generation == self.generation:
                pass  # nothing new (the vectors may still be stale: see below)
            elif generation == seen_generation(self.library):
                # Indexed into this data directory: by this process, or by `pml index`
                # beside `pml serve` (same folder). The full-text index on disk is
                # current; the vectors in memory may not be.
                self.generation, self.hashes = generation, _stored_hashes(db)
                semantic.stale = True
            else:
                stored = _stored_hashes(db)
                changed = [i for i, digest in stored.items() if self.hashes.get(i) != digest]
                removed = set(self.hashes) - set(stored)
                postmortems = _load(db, changed)
                with self.library.index.batch() as batch:
                    for identifier in removed:
                        batch.delete(identifier)
                    for postmortem in postmortems:
                        batch.upsert(postmortem)
                self.generation, self.hashes = generation, stored
                mark_in_step(self.library)
                semantic.stale = True
        if semantic.embedder is not None and semantic.stale:
            # Vectors (and related lists, read from them) come from the database:
            # embed what is new and reload, whoever indexed it. A sync that failed
            # (a database blip) is tried again on the next poll.
            semantic.sync()
        if changed or removed:
            log.info("replica caught up: %d changed, %d removed", len(changed), len(removed))
        return len(changed) + len(removed)

    def start(self) -> None:
        """Resume, catch up at once in the background, then poll every `interval` seconds."""
        if self.interval <= 0:
            return
        self.resume()
        self._thread = threading.Thread(target=self._run, name="pml-replica", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        while True:
            try:
                self.catch_up()
            except Exception:  # a database blip must not end the poller
                log.exception("replica catch-up failed; retrying")
            if self._stop.wait(self.interval):
                return


def _stored_hashes(db: Session) -> dict[str, str]:
    rows = db.exec(select(PostmortemRow.id, PostmortemRow.content_hash))
    return {identifier: digest for identifier, digest in rows}


def _load(db: Session, ids: list[str]) -> list[Postmortem]:
    postmortems = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for row in db.exec(select(PostmortemRow).where(col(PostmortemRow.id).in_(chunk))):
            postmortems.append(from_row(row))
    return postmortems
