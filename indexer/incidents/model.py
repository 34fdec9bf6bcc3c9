"""Incidents: the canonical incident table, idempotent upserts and the link to postmortems.

Every importer (`indexer.incidents.importers`) turns a vendor's record into one
`Incident`; `upsert` stores them keyed on (source, source_id), so importing
the same file twice changes nothing. Durations and calendar labels are
computed once here, at write time, so every trend is a plain SQL GROUP BY.

An incident's error classes (`IncidentClass`) are derived: its own
`error_class` if it has one, else the error classes of its postmortem, else
"unclassified". `relink` recomputes them after imports and after the library
is re-indexed, because either side of the join can change.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from indexer import periods
from indexer.db import store
from indexer.db.models import (
    UNKNOWN_SERVICE,
    ExternalRef,
    IncidentClass,
    IncidentRow,
    PostmortemLink,
    PostmortemRow,
)
from indexer.format.postmortem import TIMESTAMP_FIELDS

log = logging.getLogger("pml.incidents")

UNCLASSIFIED = "unclassified"
HISTORY_FILE = "incidents.csv"
VERSION_KEY = "incidents_version"  # changes whenever incident figures may have changed
_CHUNK = 500


@dataclass
class Incident:
    """One incident from any source, timestamps aware (stored as UTC)."""

    source: str
    source_id: str
    started_at: dt.datetime
    title: str = ""
    service: str = UNKNOWN_SERVICE
    severity: str | None = None
    detected_at: dt.datetime | None = None
    acknowledged_at: dt.datetime | None = None
    mitigated_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    error_class: str | None = None
    error_budget_minutes: float | None = None
    postmortem: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def problem(self) -> str | None:
        """Why this incident cannot be stored, or None."""
        present = [(name, getattr(self, name)) for name in TIMESTAMP_FIELDS if getattr(self, name)]
        for name, value in present:
            if value.tzinfo is None:
                return f"{name} has no time zone"
        for (first, early), (second, late) in itertools.pairwise(present):
            if late < early:
                return f"{second} ({late.isoformat()}) is before {first} ({early.isoformat()})"
        if self.error_budget_minutes is not None and self.error_budget_minutes < 0:
            return "error_budget_minutes is negative"
        return None


@dataclass
class ImportReport:
    """What an import did; `errors` are (line or index, reason) of the rows left out."""

    source: str
    added: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "added": self.added,
            "updated": self.updated,
            "rejected": len(self.errors),
            "errors": [{"row": row, "message": message} for row, message in self.errors],
        }


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def _row(incident: Incident) -> dict[str, Any]:
    stamps = {name: store.as_utc(getattr(incident, name)) for name in TIMESTAMP_FIELDS}
    started = stamps["started_at"]
    assert started is not None  # the dataclass requires it
    day = started.date()
    return {
        "source": incident.source,
        "source_id": incident.source_id,
        "title": incident.title,
        "service": incident.service or UNKNOWN_SERVICE,
        "severity": incident.severity,
        **stamps,
        "error_class": incident.error_class,
        "error_budget_minutes": incident.error_budget_minutes,
        "postmortem_ref": incident.postmortem,
        "started_day": day,
        "started_week": periods.label(day, "week"),
        "started_month": periods.label(day, "month"),
        "started_quarter": periods.label(day, "quarter"),
        "ttd_seconds": _seconds(started, stamps["detected_at"]),
        "tta_seconds": _seconds(stamps["detected_at"], stamps["acknowledged_at"]),
        "ttr_seconds": _seconds(started, stamps["resolved_at"]),
        "raw": incident.raw,
    }


def _upsert_statement(engine: Engine) -> Any:
    """INSERT ... ON CONFLICT (source, source_id) DO UPDATE, compiled once per import.

    Executed with a list of rows (executemany): a multi-row VALUES clause
    would be recompiled for every chunk, which costs more than the insert.
    """
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(IncidentRow.__table__)  # type: ignore[attr-defined]
    changing = {
        column.name: statement.excluded[column.name]
        for column in IncidentRow.__table__.columns  # type: ignore[attr-defined]
        if column.name not in ("id", "source", "source_id")
    }
    return statement.on_conflict_do_update(index_elements=["source", "source_id"], set_=changing)


def upsert(engine: Engine, incidents: list[Incident], report: ImportReport) -> None:
    """Store the incidents (new or changed), then relink. Duplicates in one batch: last wins."""
    unique = {(i.source, i.source_id): i for i in incidents}
    rows = [_row(incident) for incident in unique.values()]
    statement = _upsert_statement(engine)
    with store.session(engine) as db:
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            known = _existing(db, chunk)
            report.updated += known
            report.added += len(chunk) - known
            db.execute(statement, chunk)
            _relink_ids(db, _ids(db, chunk))
        store.set_meta(db, VERSION_KEY, uuid.uuid4().hex)
        db.commit()


def _existing(db: Session, rows: list[dict[str, Any]]) -> int:
    """How many of these rows (all from one import, so one source) are already stored."""
    query = (
        select(func.count())
        .select_from(IncidentRow)
        .where(col(IncidentRow.source) == rows[0]["source"])
        .where(col(IncidentRow.source_id).in_([row["source_id"] for row in rows]))
    )
    return int(db.execute(query).scalar_one())


def version(db: Session) -> str:
    """An opaque token that changes whenever incidents or their links change (for caches)."""
    return store.get_meta(db, VERSION_KEY) or ""


def _ids(db: Session, rows: list[dict[str, Any]]) -> list[int]:
    query = select(col(IncidentRow.id)).where(
        col(IncidentRow.source) == rows[0]["source"],
        col(IncidentRow.source_id).in_([row["source_id"] for row in rows]),
    )
    return list(db.execute(query).scalars())


def relink(engine: Engine) -> None:
    """Recompute postmortems and error classes after the library changed.

    Only incidents that are or could be joined to a postmortem can change:
    the rest keep their own class or "unclassified". With 100,000 incidents
    and a few hundred postmortems this is a few hundred rows, not all of them.
    """
    joinable = (
        col(IncidentRow.postmortem_ref).is_not(None)
        | col(IncidentRow.postmortem_id).is_not(None)
        | col(IncidentRow.source_id).in_(select(col(ExternalRef.ref)))
    )
    with store.session(engine) as db:
        ids = list(db.execute(select(col(IncidentRow.id)).where(joinable)).scalars())
        for start in range(0, len(ids), _CHUNK):
            _relink_ids(db, ids[start : start + _CHUNK])
        store.set_meta(db, VERSION_KEY, uuid.uuid4().hex)
        db.commit()


def _relink_ids(db: Session, ids: list[int]) -> None:
    """Recompute the postmortem and the error-class rows of these incidents."""
    chosen = col(IncidentRow.id).in_(ids)
    db.execute(update(IncidentRow).where(chosen).values(postmortem_id=_postmortem_for()))
    db.execute(delete(IncidentClass).where(col(IncidentClass.incident_id).in_(ids)))
    for target, query in (_own_classes(), _postmortem_classes(), _unclassified()):
        db.execute(insert(IncidentClass).from_select(target, query.where(chosen)))


def _postmortem_for() -> Any:
    """SQL: the named postmortem if it exists, else one whose external_refs name the incident.

    A CSV row has no vendor, so its id matches a ref of any source.
    """
    named = (
        select(col(PostmortemRow.id))
        .where(col(PostmortemRow.id) == col(IncidentRow.postmortem_ref))
        .scalar_subquery()
    )
    referenced = (
        select(col(ExternalRef.postmortem_id))
        .where(col(ExternalRef.ref) == col(IncidentRow.source_id))
        .where(
            (col(ExternalRef.source) == col(IncidentRow.source))
            | (col(IncidentRow.source) == "csv")
        )
        .order_by(col(ExternalRef.postmortem_id))
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(named, referenced)


_COPIED = (
    "service",
    "started_day",
    "started_week",
    "started_month",
    "started_quarter",
    "detected_at",
    "acknowledged_at",
    "resolved_at",
    "ttd_seconds",
    "tta_seconds",
    "ttr_seconds",
    "error_budget_minutes",
)
_TARGET = ["incident_id", "error_class", *_COPIED]


def _facts(error_class: Any) -> Any:
    """SELECT of the incident columns copied into every IncidentClass row."""
    return select(
        col(IncidentRow.id),
        error_class.label("error_class"),
        *(getattr(IncidentRow.__table__.c, name) for name in _COPIED),  # type: ignore[attr-defined]
    )


def _own_classes() -> tuple[list[str], Any]:
    query = _facts(col(IncidentRow.error_class)).where(col(IncidentRow.error_class).is_not(None))
    return _TARGET, query


def _postmortem_classes() -> tuple[list[str], Any]:
    """An unclassified incident takes its postmortem's error classes, if everyone may read it.

    Trends, reviews, investments and /metrics are shared views: a class that
    only a restricted postmortem names would reveal it to people outside its
    audience, so an incident linked to one stays as its source classified it.
    """
    query = (
        _facts(col(PostmortemLink.value))
        .join(PostmortemLink, col(PostmortemLink.postmortem_id) == col(IncidentRow.postmortem_id))
        .join(PostmortemRow, col(PostmortemRow.id) == col(IncidentRow.postmortem_id))
        .where(
            col(IncidentRow.error_class).is_(None),
            col(PostmortemLink.kind) == "error_class",
            col(PostmortemRow.visibility) == "internal",
        )
    )
    return _TARGET, query


def _unclassified() -> tuple[list[str], Any]:
    has_class = exists().where(col(IncidentClass.incident_id) == col(IncidentRow.id))
    return _TARGET, _facts(literal(UNCLASSIFIED)).where(~has_class)
