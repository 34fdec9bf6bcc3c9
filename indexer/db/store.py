"""The database: SQLModel tables for postmortems, their vocabulary links and action items.

Everything here is derived from the library and can be rebuilt from it. The
default is a SQLite file in the data directory (WAL mode, busy timeout);
`PML_DATABASE_URL` points it at PostgreSQL instead.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, func, insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, create_engine, delete, select

from indexer.db import migrate
from indexer.db.models import (
    ActionItemRow,
    ChunkRow,
    ExternalRef,
    IngestProblem,
    MetaRow,
    PostmortemLink,
    PostmortemRow,
)
from indexer.format.postmortem import TIMESTAMP_FIELDS, Finding, Postmortem

_CHUNK = 500


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """Timestamps are stored in UTC; SQLite keeps no offset, so a naive value read back is UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def make_engine(url: str) -> Engine:
    """An engine for `url` whose schema is at the newest migration."""
    engine = plain_engine(url)
    migrate.upgrade(engine)  # a fresh, an older or a create_all-made database: all end at head
    return engine


# The server runs up to 40 requests at once (anyio's worker threads), and one
# request can hold two connections: its session and a read inside it (related
# postmortems, passages). SQLAlchemy's default of 15 let 32 load-test clients
# end up all holding one and waiting 30 s for a second (benchmarks/bench_load.py).
POOL_SIZE = 10
OVERFLOW = 70  # opened as needed, closed when returned beyond POOL_SIZE


def plain_engine(url: str) -> Engine:
    """An engine for `url`, schema untouched; SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=POOL_SIZE,
            max_overflow=OVERFLOW,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=OVERFLOW)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def upsert_into(engine: Engine, table: Any) -> Any:
    """INSERT into `table` in the engine's own dialect, so it takes ON CONFLICT clauses."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


@contextmanager
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as db:
        yield db


def get_meta(db: Session, key: str) -> str | None:
    row = db.get(MetaRow, key)
    return row.value if row else None


def set_meta(db: Session, key: str, value: str) -> None:
    row = db.get(MetaRow, key)
    if row is None:
        db.add(MetaRow(key=key, value=value))
    else:
        row.value = value
        db.add(row)


def known_hashes(db: Session) -> dict[str, tuple[str, str]]:
    """path -> (id, content hash) of every stored postmortem."""
    rows = db.exec(select(PostmortemRow.path, PostmortemRow.id, PostmortemRow.content_hash))
    return {path: (identifier, digest) for path, identifier, digest in rows}


def _links(postmortem: Postmortem) -> Iterable[tuple[str, str]]:
    fields = (
        ("service", postmortem.services),
        ("error_class", postmortem.error_classes),
        ("contributing_factor", postmortem.contributing_factors),
        ("team", postmortem.teams),
        ("tag", postmortem.tags),
        ("author", postmortem.authors),
        ("related", postmortem.related),
        ("audience", postmortem.audience),
    )
    for kind, values in fields:
        yield from ((kind, value) for value in dict.fromkeys(values))


def delete_postmortems(db: Session, ids: Iterable[str]) -> None:
    ids = list(ids)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for table in (PostmortemLink, ExternalRef, ActionItemRow, ChunkRow):
            db.exec(delete(table).where(col(table.postmortem_id).in_(chunk)))
        db.exec(delete(PostmortemRow).where(col(PostmortemRow.id).in_(chunk)))


def write_postmortems(
    db: Session, postmortems: list[Postmortem], passages: list[dict[str, Any]]
) -> None:
    """Replace everything stored about these postmortems with the parsed files.

    `passages` are their rows of the passage table (cut by indexing for
    semantic search: `indexer.search.cut_passages`).

    Rows go in as one multi-row insert per table: indexing thousands of files
    is dominated by per-row ORM overhead otherwise.
    """
    ids = [p.id for p in postmortems]
    seen = _first_seen(db, ids)
    delete_postmortems(db, ids)
    now = dt.datetime.now(dt.UTC)
    rows: dict[Any, list[dict[str, Any]]] = {
        PostmortemRow: [],
        PostmortemLink: [],
        ExternalRef: [],
        ActionItemRow: [],
        ChunkRow: passages,
    }
    for postmortem in postmortems:
        rows[PostmortemRow].append(_row(postmortem, _changed_at(postmortem, seen, now)))
        rows[PostmortemLink].extend(
            {"postmortem_id": postmortem.id, "kind": kind, "value": value}
            for kind, value in _links(postmortem)
        )
        rows[ExternalRef].extend(
            {"postmortem_id": postmortem.id, "source": source, "ref": ref}
            for source, refs in postmortem.external_refs.items()
            for ref in dict.fromkeys(refs)
        )
        rows[ActionItemRow].extend(_action_items(postmortem))
    for table, values in rows.items():
        for start in range(0, len(values), _CHUNK):
            db.execute(insert(table.__table__), values[start : start + _CHUNK])


def _first_seen(db: Session, ids: list[str]) -> dict[str, tuple[str, dt.datetime]]:
    """id -> (content hash, indexed_at) of the stored rows of these postmortems."""
    seen: dict[str, tuple[str, dt.datetime]] = {}
    for start in range(0, len(ids), _CHUNK):
        query = select(PostmortemRow.id, PostmortemRow.content_hash, PostmortemRow.indexed_at)
        for identifier, content, at in db.exec(
            query.where(col(PostmortemRow.id).in_(ids[start : start + _CHUNK]))
        ):
            seen[identifier] = (content, at)
    return seen


def _changed_at(
    postmortem: Postmortem, seen: dict[str, tuple[str, dt.datetime]], now: dt.datetime
) -> dt.datetime:
    """The postmortem's `indexed_at`: when its text last changed, as far as indexing knows.

    A new postmortem: its incident day (midnight UTC), so two servers indexing
    one library agree and nothing depends on when they started. An edit: the
    moment it was indexed. The same text again (a rebuild): unchanged. The
    feeds' `updated` reads it when there is no git history.
    """
    before = seen.get(postmortem.id)
    if before is None:
        return dt.datetime.combine(postmortem.date, dt.time(), tzinfo=dt.UTC)
    return before[1] if before[0] == postmortem.content_hash else now


def _row(postmortem: Postmortem, now: dt.datetime) -> dict[str, Any]:
    stamps = {name: as_utc(value) for name, value in postmortem.timestamps.items()}
    return {
        "id": postmortem.id,
        "path": postmortem.path,
        "content_hash": postmortem.content_hash,
        "title": postmortem.title,
        "date": postmortem.date,
        "status": postmortem.status,
        "visibility": postmortem.visibility,
        "severity": postmortem.severity,
        "type": postmortem.type,
        "owner": postmortem.owner,
        "trigger": postmortem.trigger,
        "detection_method": postmortem.detection_method,
        "detection_alert": postmortem.detection_alert,
        **{name: stamps.get(name) for name in TIMESTAMP_FIELDS},
        "customer_facing": postmortem.customer_facing,
        "impact_summary": postmortem.impact_summary,
        "slo": postmortem.slo,
        "error_budget_minutes": postmortem.error_budget_minutes,
        "mitigation_maturity": postmortem.mitigation_maturity,
        "duplicate_of": postmortem.duplicate_of,
        "body": postmortem.body,
        "front_matter": json.loads(json.dumps(postmortem.front_matter, default=str)),
        "indexed_at": now,
    }


def _action_items(postmortem: Postmortem) -> list[dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    for position, item in enumerate(postmortem.action_items):
        items.setdefault(
            item.id,
            {
                "postmortem_id": postmortem.id,
                "item_id": item.id,
                "position": position,
                "title": item.title,
                "type": item.type,
                "priority": item.priority,
                "owner": item.owner,
                "due": item.due,
                "status": item.status,
                "ticket": item.ticket,
            },
        )
    return list(items.values())


def replace_problems(
    db: Session,
    problems: Iterable[Finding],
    shared: Collection[str] = (),
    keep: Collection[str] = (),
) -> None:
    """The files the last run could not index, or indexed with a lint error; those in
    `shared` are readable by everyone. The problems of the files in `keep` (unchanged
    since they were found, so not linted again) stay.
    """
    kept = set(keep)
    for row in db.exec(select(IngestProblem)):
        if row.path not in kept:
            db.delete(row)
    for finding in {f.path: f for f in problems}.values():
        db.add(
            IngestProblem(
                path=finding.path,
                line=finding.line,
                message=finding.message,
                restricted=finding.path not in shared,
            )
        )


def list_problems(db: Session, *, restricted: bool) -> list[dict[str, Any]]:
    """The problems of the last runs, by path (`restricted`: those of possibly restricted
    files too); `indexed` says whether the file is served anyway (a lint error)."""
    query = select(IngestProblem).order_by(col(IngestProblem.path))
    if not restricted:
        query = query.where(col(IngestProblem.restricted).is_(False))
    rows = list(db.exec(query))
    served = set(
        db.exec(
            select(PostmortemRow.path).where(col(PostmortemRow.path).in_([r.path for r in rows]))
        )
    )
    return [
        {"path": r.path, "line": r.line, "message": r.message, "indexed": r.path in served}
        for r in rows
    ]


def problems_of(db: Session, path: str) -> list[dict[str, Any]]:
    """The lint errors a served postmortem was indexed with (see `indexing.ingest`)."""
    rows = db.exec(select(IngestProblem).where(IngestProblem.path == path))
    return [{"line": r.line, "message": r.message} for r in rows]


def links_for(db: Session, ids: list[str]) -> dict[str, dict[str, list[str]]]:
    """postmortem id -> kind -> values, for a page of results."""
    result: dict[str, dict[str, list[str]]] = {i: {} for i in ids}
    if not ids:
        return result
    rows = db.exec(select(PostmortemLink).where(col(PostmortemLink.postmortem_id).in_(ids)))
    for row in rows:
        result[row.postmortem_id].setdefault(row.kind, []).append(row.value)
    return result


def count_postmortems(db: Session) -> int:
    return int(db.exec(select(func.count()).select_from(PostmortemRow)).one())


def ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
