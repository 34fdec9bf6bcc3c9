"""Incidents: the canonical incident table, idempotent upserts and the link to postmortems.

Every importer (`indexer.importers`) turns a vendor's record into one
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
import hashlib
import itertools
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Index,
    UniqueConstraint,
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
from sqlalchemy.types import JSON, DateTime
from sqlmodel import Field, Session, SQLModel, col

from indexer import periods, store
from indexer.store import ExternalRef, PostmortemLink, PostmortemRow

log = logging.getLogger("pml.incidents")

UNCLASSIFIED = "unclassified"
UNKNOWN_SERVICE = "unknown"
HISTORY_FILE = "incidents.csv"
VERSION_KEY = "incidents_version"  # changes whenever incident figures may have changed
_CHUNK = 500
STAMPS = ("started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at")


# metric -> (duration column, the timestamp that ends the duration)
DURATIONS = {
    "mttr": ("ttr_seconds", "resolved_at"),
    "mtta": ("tta_seconds", "acknowledged_at"),
    "mttd": ("ttd_seconds", "detected_at"),
}


def _duration_indexes(prefix: str, *leading: str) -> list[Index]:
    """Covering indexes that make a period's k-th shortest duration an index walk, not a sort.

    indexer.metrics reads medians and p90s with ORDER BY duration LIMIT 1
    OFFSET k inside one week, month or quarter; every other column it
    filters on is in the index too, so the table is never read.
    """
    return [
        Index(f"{prefix}_{metric}_{period}", *leading, f"started_{period}", duration, end,
              "started_day", "service")
        for metric, (duration, end) in DURATIONS.items()
        for period in ("week", "month", "quarter")
    ]  # fmt: skip


class IncidentRow(SQLModel, table=True):
    __tablename__ = "incident"
    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_incident_source"),
        Index("ix_incident_day_service", "started_day", "service", "started_quarter"),
        Index("ix_incident_source_id", "source_id"),
        Index("ix_incident_postmortem_ref", "postmortem_ref"),
        Index(
            "ix_incident_budget", "started_month", "service", "started_day", "error_budget_minutes"
        ),
        *_duration_indexes("ix_incident"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    source_id: str = Field(max_length=128)
    title: str = ""
    service: str = Field(default=UNKNOWN_SERVICE, max_length=128)
    severity: str | None = Field(default=None, max_length=8)
    started_at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    detected_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    acknowledged_at: dt.datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True))
    )
    mitigated_at: dt.datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True))
    )
    resolved_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    error_class: str | None = Field(default=None, max_length=128)
    error_budget_minutes: float | None = None
    postmortem_ref: str | None = Field(default=None, max_length=128)
    postmortem_id: str | None = Field(default=None, max_length=128, index=True)
    # Derived at write time (UTC) so reports group and filter without date functions,
    # which SQLite and PostgreSQL spell differently.
    started_day: dt.date
    started_week: str = Field(max_length=8)
    started_month: str = Field(max_length=7)
    started_quarter: str = Field(max_length=7)
    ttd_seconds: float | None = None
    tta_seconds: float | None = None
    ttr_seconds: float | None = None
    raw: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


class IncidentClass(SQLModel, table=True):
    """Derived: one row per incident and error class it counts under (see module docstring).

    The incident's service, periods, durations and end times are copied in,
    so per-class trends read this table and its indexes without a join.
    """

    __tablename__ = "incident_by_class"
    __table_args__ = (
        Index(
            "ix_by_class_day", "started_day", "error_class", "error_budget_minutes", "ttd_seconds"
        ),
        Index(
            "ix_by_class_totals", "service", "error_class", "ttr_seconds", "error_budget_minutes"
        ),
        Index("ix_by_class_detection", "error_class", "ttd_seconds", "started_day"),
        *_duration_indexes("ix_by_class", "error_class"),
    )

    incident_id: int = Field(foreign_key="incident.id", primary_key=True)
    error_class: str = Field(primary_key=True, max_length=128)
    service: str = Field(max_length=128)
    started_day: dt.date
    started_week: str = Field(max_length=8)
    started_month: str = Field(max_length=7)
    started_quarter: str = Field(max_length=7)
    detected_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    acknowledged_at: dt.datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True))
    )
    resolved_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    ttd_seconds: float | None = None
    tta_seconds: float | None = None
    ttr_seconds: float | None = None
    error_budget_minutes: float | None = None


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
        present = [(name, getattr(self, name)) for name in STAMPS if getattr(self, name)]
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
    stamps = {name: store.as_utc(getattr(incident, name)) for name in STAMPS}
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
    query = (
        _facts(col(PostmortemLink.value))
        .join(PostmortemLink, col(PostmortemLink.postmortem_id) == col(IncidentRow.postmortem_id))
        .where(col(IncidentRow.error_class).is_(None), col(PostmortemLink.kind) == "error_class")
    )
    return _TARGET, query


def _unclassified() -> tuple[list[str], Any]:
    has_class = exists().where(col(IncidentClass.incident_id) == col(IncidentRow.id))
    return _TARGET, _facts(literal(UNCLASSIFIED)).where(~has_class)


def load_history(engine: Engine, library: Path) -> ImportReport | None:
    """Import the library's `incidents.csv` when it is new or changed since the last load."""
    from indexer import importers

    path = library / HISTORY_FILE
    if not path.is_file():
        return None
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    with store.session(engine) as db:
        if store.get_meta(db, "incident_history_hash") == digest:
            return None
    report = importers.import_bytes(engine, "csv", data)
    with store.session(engine) as db:
        store.set_meta(db, "incident_history_hash", digest)
        db.commit()
    log.info("loaded %s: %s added, %s updated", path, report.added, report.updated)
    for row, message in report.errors:
        log.warning("%s:%s: %s", path, row, message)
    return report
