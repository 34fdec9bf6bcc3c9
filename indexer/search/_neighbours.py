"""Stored related lists: each postmortem's neighbours, kept up to date at index time.

A related list costs a vector product over the library, a few queries and a
tf-idf among ~50 candidates; under load that made the postmortem page the
slowest request. So `refresh` runs after every update of the vectors (it is
a listener of `SemanticIndex.sync`, which every indexing path ends with:
`pml index`, `pml serve`'s poller, a git sync, a replica catching up) and
stores each list in the `neighbour` table; pages, the pack and the API read
them.

Lists are computed over the postmortems everyone may read (the shared ones),
exactly as `_related.ranked` scores them for a reader without groups, so an
outsider's stored list is the one the library without restricted
postmortems gives. A reader who may see some restricted postmortem gets a
list computed per request (`_related.compute`), as does a request for more
than STORED items.

Incremental: a postmortem whose content hash changed (or that is new, or no
longer shared) gets its own list recomputed, and so does every list it may
leave (the lists that hold it) or enter (lists whose candidate cutoff it now
reaches by document cosine; lists of postmortems sharing an error class with
it, when it is among that class's SHARED_CLASS_CANDIDATES newest, the only
ones taken as candidates by class; lists linked to or from it). Other lists
keep their items; their tf-idf context (the candidates' words) may drift
slightly until they are next recomputed.

A list records the model and the ranking (RANKING) it was computed with;
another model or a release that ranks differently makes every list stale,
and all are recomputed once (in the background, after the vectors load;
pages compute lists per request meanwhile).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
from sqlalchemy import delete, insert
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from indexer.db import catalog, store
from indexer.db.models import NeighbourList, NeighbourRow, PostmortemRow
from indexer.search import _related
from indexer.search._related import Scored, Summary
from indexer.search._semantic import SemanticIndex

log = logging.getLogger("pml.related")

STORED = 25  # items kept per list (and up to STORED earlier ones for scope=past)
EVERYONE: frozenset[str] = frozenset()
_BATCH = 200  # lists written per transaction
_IN = 500  # ids per SQL IN list
# Bumped whenever `_related` scores differently: lists stored by another ranking are stale.
RANKING = 1


def related(
    engine: Engine,
    semantic: SemanticIndex,
    postmortem_id: str,
    *,
    limit: int = 5,
    groups: frozenset[str] = frozenset(),
    past_only: bool = False,
) -> list[dict[str, Any]] | None:
    """The postmortems most related to one, best first; None if it is not visible.

    Each item says `when` it happened relative to this one (earlier, later)
    and its `strength`; `past_only` keeps the earlier ones. Read from the
    stored list when there is a current one for this reader.
    """
    if limit <= STORED and not _sees_restricted(engine, groups):
        found = _read(engine, semantic, postmortem_id, limit, past_only)
        if found is not None:
            return found
    return _related.compute(
        engine, semantic, postmortem_id, limit=limit, groups=groups, past_only=past_only
    )


def refresh(engine: Engine, semantic: SemanticIndex) -> int:
    """Recompute the stored lists that changes since the last refresh may touch.

    Returns how many lists were computed. Needs the vectors (call after
    `SemanticIndex.sync`); without a model it does nothing.
    """
    embedder, vectors = semantic.embedder, semantic.vectors
    if embedder is None or vectors is None:
        return 0
    started = time.perf_counter()
    with store.session(engine) as db:
        shared = dict(
            db.exec(
                select(PostmortemRow.id, PostmortemRow.content_hash).where(
                    catalog.visible(EVERYONE)
                )
            ).all()
        )
        lists = {row.postmortem_id: row for row in db.exec(select(NeighbourList))}
    removed = set(lists) - set(shared)
    changed = {
        i
        for i, digest in shared.items()
        if i not in lists
        or lists[i].content_hash != digest
        or lists[i].model != _made_by(embedder.name)
    }
    if not changed and not removed:
        return 0
    visible = _related.Visible.load(engine, EVERYONE)
    affected = _affected(engine, semantic, visible, changed, removed, lists) & set(shared)
    hidden = _related._hidden(engine, EVERYONE)
    done = 0
    for start in range(0, len(affected), _BATCH):
        if semantic.stopping:  # shutting down: the lists not written yet are built next time
            break
        batch = sorted(affected)[start : start + _BATCH]
        computed = [_compute(engine, semantic, i, hidden, visible) for i in batch]
        _write(engine, [c for c in computed if c is not None], _made_by(embedder.name), [])
        done += len(batch)
    _write(engine, [], _made_by(embedder.name), sorted(removed))
    log.info(
        "related lists: %d recomputed (%d changed, %d removed) in %.1f s",
        done,
        len(changed),
        len(removed),
        time.perf_counter() - started,
    )
    return done


def _affected(
    engine: Engine,
    semantic: SemanticIndex,
    visible: _related.Visible,
    changed: set[str],
    removed: set[str],
    lists: dict[str, NeighbourList],
) -> set[str]:
    """The lists a change to `changed` and `removed` may touch (see the module docstring)."""
    vectors = semantic.vectors
    assert vectors is not None
    if len(changed) * 4 >= len(lists):  # a first build or a big change: recompute all
        return changed | set(lists)
    found = set(changed)
    with store.session(engine) as db:  # lists it may leave
        for chunk in _chunks(changed | removed):
            holding = col(NeighbourRow.other_id).in_(chunk)
            found.update(db.exec(select(NeighbourRow.postmortem_id).where(holding)))
    for identifier in changed:  # lists whose vocabulary candidates it now is
        summary = visible.summaries.get(identifier)
        if summary is None:
            continue
        for error_class in summary.error_classes:
            sharing = visible.by_class.get(error_class, [])
            # A candidate by class only among the class's newest: older ones enter no pool.
            if identifier in sharing[: _related.SHARED_CLASS_CANDIDATES]:
                found.update(sharing)
        found.update(summary.related)
        found.update(visible.linking.get(identifier, set()))
    rows = [vectors.position[i] for i in changed if i in vectors.position]
    if rows:  # lists whose nearest candidates by vector it now reaches
        documents = vectors.document_vectors()
        closest = (documents[rows] @ documents.T).max(axis=0)
        ids = [i for i in lists if i in vectors.position]
        positions = np.asarray([vectors.position[i] for i in ids], dtype=np.int64)
        cutoffs = np.asarray([lists[i].cutoff for i in ids], dtype=np.float32)
        reached = closest[positions] >= cutoffs
        found.update(i for i, hit in zip(ids, reached.tolist(), strict=True) if hit)
    return found


def _compute(
    engine: Engine,
    semantic: SemanticIndex,
    postmortem_id: str,
    hidden: set[str],
    visible: _related.Visible,
) -> tuple[Summary, list[Scored], float, list[tuple[int, float] | None]] | None:
    """One shared postmortem's list as everyone sees it, with each item's closest passage."""
    target = visible.summaries.get(postmortem_id)
    if target is None:
        return None
    scored, cutoff = _related.ranked(engine, semantic, target, hidden=hidden, visible=visible)
    earlier = [item for item in scored[STORED:] if item.other.date <= target.date]
    kept_earlier = sum(item.other.date <= target.date for item in scored[:STORED])
    # The top STORED, and enough earlier ones beyond them for scope=past.
    kept = scored[:STORED] + earlier[: max(0, STORED - kept_earlier)]
    kept.sort(key=lambda item: (-item.score, item.other.date, item.other.id))
    pairs = [_related.closest_pair(semantic, postmortem_id, item.other.id) for item in kept]
    return target, kept, cutoff, pairs


def _write(
    engine: Engine,
    computed: list[tuple[Summary, list[Scored], float, list[tuple[int, float] | None]]],
    model: str,
    removed: list[str],
) -> None:
    """Replace the stored lists of `computed` and drop those of `removed` (one transaction)."""
    ids = [target.id for target, *_ in computed] + removed
    if not ids:
        return
    with store.session(engine) as db:
        for chunk in _chunks(ids):
            db.exec(delete(NeighbourRow).where(col(NeighbourRow.postmortem_id).in_(chunk)))
            db.exec(delete(NeighbourList).where(col(NeighbourList.postmortem_id).in_(chunk)))
        lists = [
            {"postmortem_id": t.id, "content_hash": t.content_hash, "model": model, "cutoff": c}
            for t, _, c, _ in computed
        ]
        items = [
            {
                "postmortem_id": target.id,
                "rank": rank,
                "other_id": item.other.id,
                "score": item.score,
                "ordinal": pair[0] if pair else None,
                "similarity": pair[1] if pair else None,
            }
            for target, kept, _, pairs in computed
            for rank, (item, pair) in enumerate(zip(kept, pairs, strict=True))
        ]
        if lists:  # one executemany per table, not an ORM object per row
            db.execute(insert(NeighbourList), lists)
        if items:
            db.execute(insert(NeighbourRow), items)
        db.commit()


def _read(
    engine: Engine, semantic: SemanticIndex, postmortem_id: str, limit: int, past_only: bool
) -> list[dict[str, Any]] | None:
    """The stored list for everyone, if there is one for this version of the postmortem."""
    target = _related.target_summary(engine, postmortem_id, EVERYONE)
    if target is None:
        return None
    with store.session(engine) as db:
        stored = db.get(NeighbourList, postmortem_id)
        embedder = semantic.embedder
        if stored is None or stored.content_hash != target.content_hash:
            return None
        if embedder is not None and stored.model != _made_by(embedder.name):
            return None
        rows = list(
            db.exec(
                select(NeighbourRow)
                .where(NeighbourRow.postmortem_id == postmortem_id)
                .order_by(col(NeighbourRow.rank))
            )
        )
    # Visible now: a postmortem deleted or restricted since the list was stored is left out.
    others = _related._summaries(engine, EVERYONE, [row.other_id for row in rows])
    items = []
    for row in rows:
        other = others.get(row.other_id)
        if other is None or (past_only and other.date > target.date):
            continue
        items.append((row, _scored(target, other, row.score)))
        if len(items) == limit:
            break
    keys = [(row.other_id, row.ordinal) for row, _ in items if row.ordinal is not None]
    passages = semantic.passages(keys)
    return [_related.describe(target, item, _passage(passages, row)) for row, item in items]


def _passage(passages: dict[tuple[str, int], Any], row: NeighbourRow) -> dict[str, Any] | None:
    if row.ordinal is None or row.similarity is None:
        return None
    return _related.passage_reason(passages.get((row.other_id, row.ordinal)), row.similarity)


def _scored(target: Summary, other: Summary, score: float) -> Scored:
    return Scored(
        score,
        other,
        sorted(set(target.error_classes) & set(other.error_classes)),
        sorted(set(target.services) & set(other.services)),
        other.id in target.related or target.id in other.related,
    )


def _sees_restricted(engine: Engine, groups: frozenset[str]) -> bool:
    """May this reader see some restricted postmortem (so the shared lists are not theirs)?"""
    if not groups:
        return False
    query = (
        select(PostmortemRow.id).where(~catalog.visible(EVERYONE), catalog.visible(groups)).limit(1)
    )
    with store.session(engine) as db:
        return db.exec(query).first() is not None


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), _IN):
        yield ordered[start : start + _IN]


def _made_by(model: str) -> str:
    """What a stored list records it was computed with: the model and the ranking."""
    return f"{model} / ranking {RANKING}"
