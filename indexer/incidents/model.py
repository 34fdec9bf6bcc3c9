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

import dataclasses
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
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from indexer import periods, storable
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
from indexer.format.taxonomy import Taxonomy, suggest
from indexer.incidents import nearmiss

log = logging.getLogger("pml.incidents")

UNCLASSIFIED = "unclassified"
HISTORY_FILE = "incidents.csv"
VERSION_KEY = "incidents_version"  # changes whenever incident figures may have changed
SERVICE_KEYS = "pml_service_keys"  # in `raw`: the record's own service names, for re-mapping
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
    # What the record calls its service (names, vendor ids), for taxonomy aliases.
    service_keys: tuple[str, ...] = ()
    # Built from log entries alone: "start" (a trigger entry dated it) or "times" (only
    # acknowledge/resolve times); "event": a webhook event that does not date the start.
    # Merged onto the stored incident when there is one.
    partial: str = ""
    # The vendor's own time for this record (a webhook event's): a stored record with a
    # later one is not rolled back by it (see `upsert`).
    event_at: dt.datetime | None = None

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
        return self._unstorable()

    def _unstorable(self) -> str | None:
        """The first text field the database cannot store (a NUL), named, or None."""
        texts = {
            name: getattr(self, name)
            for name in ("source_id", "title", "service", "severity", "error_class", "postmortem")
        }
        problem = storable.first_problem({**texts, "raw": self.raw})
        return f"{problem}; the database cannot store it" if problem else None

    def drop_out_of_order(self) -> list[str]:
        """Drop the fewest times that break start <= detected <= acknowledged <= mitigated <=
        resolved (keeping the resolution when it is one or the other); says what went.

        A vendor record whose times disagree (resolved before acknowledged, in
        PagerDuty's own examples) is still an incident that happened: its count
        and its start stay, only the time that cannot be true is left out.
        """
        present = [name for name in _OPTIONAL_TIMES if getattr(self, name) is not None]
        if any(getattr(self, name).tzinfo is None for name in ("started_at", *present)):
            return []  # problem() names the missing zone
        values = [self.started_at, *(getattr(self, name) for name in present)]
        if all(a <= b for a, b in itertools.pairwise(values)):
            return []  # the usual case: nothing to choose
        best: tuple[float, tuple[str, ...]] = (-1.0, ())
        for size in range(len(present), -1, -1):
            for kept in itertools.combinations(present, size):
                values = [self.started_at, *(getattr(self, name) for name in kept)]
                if all(a <= b for a, b in itertools.pairwise(values)):
                    weight = sum(1.5 if name == "resolved_at" else 1.0 for name in kept)
                    best = max(best, (weight, kept))
        dropped = [name for name in present if name not in best[1]]
        notes = []
        for name in dropped:
            value = getattr(self, name)
            notes.append(f"{name} ({value.isoformat()}) is out of order with the other times")
            setattr(self, name, None)
        return notes

    def merged_over(self, older: Incident) -> Incident:
        """This record, with the times it lacks taken from an older record of the same incident.

        PagerDuty's incident list forgets acknowledgements once an incident is
        resolved, and an export paged twice holds an alert open on one page and
        closed on the next: neither may erase a time already known.
        """
        for name in _OPTIONAL_TIMES:
            if getattr(self, name) is None and getattr(older, name) is not None:
                setattr(self, name, getattr(older, name))
        if older.acknowledged_at and self.acknowledged_at:  # MTTA counts the first one
            self.acknowledged_at = min(older.acknowledged_at, self.acknowledged_at)
        return self


_OPTIONAL_TIMES = ("detected_at", "acknowledged_at", "mitigated_at", "resolved_at")


MAX_LISTED = 1000  # errors (and warnings) an import report lists; the rest are counted


@dataclass
class ImportReport:
    """What an import did (or, with `dry_run`, would do).

    `errors` are (line or index, reason) of the rows left out; `warnings` are
    rows stored with something missing or merged (a field it could not read, a
    repeated id, no resolve time); `unmapped_services` are service names no
    taxonomy service or alias claims (stored as they are).
    """

    source: str
    added: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)
    unmapped_services: list[str] = field(default_factory=list)
    dry_run: bool = False
    # (source, source_id) of the incidents stored for the first time: what a caller
    # announces (a webhook's "new incident"), in the order they were stored.
    new_incidents: list[tuple[str, str]] = field(default_factory=list)
    # Incidents whose stored record was newer than this one's event (only times added).
    stale: list[str] = field(default_factory=list)
    # Errors and warnings beyond MAX_LISTED, counted but not kept (a streamed import).
    unlisted_errors: int = 0
    unlisted_warnings: int = 0

    def note(self, errors: list[tuple[int, str]], warnings: list[tuple[int, str]]) -> None:
        """Add errors and warnings, keeping at most MAX_LISTED of each and counting the rest."""
        self.errors += errors
        self.warnings += warnings
        if len(self.errors) > MAX_LISTED:
            self.unlisted_errors += len(self.errors) - MAX_LISTED
            del self.errors[MAX_LISTED:]
        if len(self.warnings) > MAX_LISTED:
            self.unlisted_warnings += len(self.warnings) - MAX_LISTED
            del self.warnings[MAX_LISTED:]

    def as_dict(self) -> dict[str, Any]:
        answer = {
            "source": self.source,
            "dry_run": self.dry_run,
            "added": self.added,
            "updated": self.updated,
            "rejected": len(self.errors) + self.unlisted_errors,
            "errors": [{"row": row, "message": message} for row, message in self.errors],
            "warnings": [{"row": row, "message": message} for row, message in self.warnings],
            "unmapped_services": self.unmapped_services,
            "stale": self.stale,
        }
        if self.unlisted_errors or self.unlisted_warnings:
            answer["unlisted"] = {
                "errors": self.unlisted_errors,
                "warnings": self.unlisted_warnings,
            }
        return answer


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def _telling(keys: tuple[str, ...], incident: Incident) -> bool:
    """Whether the record's service names say more than its stored service (kept for re-mapping)."""
    return len(keys) > 1 or (len(keys) == 1 and keys[0] != incident.service)


def _row(incident: Incident) -> dict[str, Any]:
    keys = incident.service_keys
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
        "event_at": store.as_utc(incident.event_at),
        "raw": {**incident.raw, SERVICE_KEYS: list(keys)}
        if _telling(keys, incident)
        else incident.raw,
    }


def _upsert_statement(engine: Engine) -> Any:
    """INSERT ... ON CONFLICT (source, source_id) DO UPDATE, compiled once per import.

    Executed with a list of rows (executemany): a multi-row VALUES clause
    would be recompiled for every chunk, which costs more than the insert.
    """
    statement = store.upsert_into(engine, IncidentRow.__table__)  # type: ignore[attr-defined]
    changing = {
        column.name: statement.excluded[column.name]
        for column in IncidentRow.__table__.columns  # type: ignore[attr-defined]
        if column.name not in ("id", "source", "source_id")
    }
    return statement.on_conflict_do_update(index_elements=["source", "source_id"], set_=changing)


def upsert(
    engine: Engine, incidents: list[Incident], report: ImportReport, *, dry_run: bool = False
) -> None:
    """Store the incidents (new or changed), keeping known times a record lacks, then relink.

    With `dry_run` nothing is written; the report counts what would be added
    and updated. Duplicates in one batch: the last wins (callers merge first).
    A record older than the stored one (its `event_at` earlier: a replayed or
    late webhook event) only adds the times the stored one lacks. The
    incidents stored for the first time are listed in `report.new_incidents`.
    """
    unique = list({(i.source, i.source_id): i for i in incidents}.values())
    statement = _upsert_statement(engine)
    with store.session(engine) as db:
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            known = _stored(db, chunk)
            _add_latest(db, chunk, known)
            report.updated += len(known)
            report.added += len(chunk) - len(known)
            report.new_incidents.extend(
                (i.source, i.source_id) for i in chunk if i.source_id not in known
            )
            if dry_run:
                continue
            rows = [_row(_with_known(incident, known, report)) for incident in chunk]
            db.execute(statement, rows)
            _relink_ids(db, _ids(db, rows))
        if not dry_run:
            store.set_meta(db, VERSION_KEY, uuid.uuid4().hex)
            db.commit()


# Stored columns an older record may not overwrite (its times are merged instead).
_LATEST = ("title", "service", "severity", "error_class", "error_budget_minutes", "raw")


def _with_known(
    incident: Incident, known: dict[str, dict[str, Any]], report: ImportReport
) -> Incident:
    """The incident with the stored times it lacks; as it came if they would not fit in order.

    An event older than the stored record keeps the stored title, service,
    severity and the rest: it only fills times.
    """
    stored = known.get(incident.source_id)
    if stored is None:
        return incident
    older = Incident(incident.source, incident.source_id, incident.started_at)
    for name in _OPTIONAL_TIMES:
        setattr(older, name, store.as_utc(stored[name]))
    merged = dataclasses.replace(incident).merged_over(older)
    result = dataclasses.replace(incident) if merged.problem() else merged
    stored_event = store.as_utc(stored["event_at"])
    if stored_event is not None and (result.event_at is None or result.event_at < stored_event):
        if result.event_at is not None and "raw" in stored:
            report.stale.append(incident.source_id)
            result = dataclasses.replace(result, service_keys=())
            for name in _LATEST:
                setattr(result, name, stored[name])
            result.postmortem = stored["postmortem_ref"]
        result.event_at = stored_event
    return result


def _stored(
    db: Session, incidents: list[Incident], names: tuple[str, ...] = (*_OPTIONAL_TIMES, "event_at")
) -> dict[str, dict[str, Any]]:
    """source_id -> these stored columns, for this chunk's incidents that are stored."""
    table = IncidentRow.__table__.c  # type: ignore[attr-defined]
    query = select(col(IncidentRow.source_id), *(getattr(table, n) for n in names)).where(
        col(IncidentRow.source) == incidents[0].source,
        col(IncidentRow.source_id).in_([incident.source_id for incident in incidents]),
    )
    return {row[0]: dict(zip(names, row[1:], strict=True)) for row in db.execute(query)}


def _add_latest(db: Session, chunk: list[Incident], known: dict[str, dict[str, Any]]) -> None:
    """Read the latest-record columns of the stored incidents this chunk's events are older
    than (rare: a replay or a late delivery), so only they pay for reading `raw`."""
    older = [
        incident
        for incident in chunk
        if incident.event_at is not None
        and incident.source_id in known
        and (stored := store.as_utc(known[incident.source_id]["event_at"])) is not None
        and incident.event_at < stored
    ]
    if older:
        for source_id, columns in _stored(db, older, (*_LATEST, "postmortem_ref")).items():
            known[source_id].update(columns)


def version(db: Session) -> str:
    """An opaque token that changes whenever incidents or their links change (for caches)."""
    return store.get_meta(db, VERSION_KEY) or ""


def _ids(db: Session, rows: list[dict[str, Any]]) -> list[int]:
    query = select(col(IncidentRow.id)).where(
        col(IncidentRow.source) == rows[0]["source"],
        col(IncidentRow.source_id).in_([row["source_id"] for row in rows]),
    )
    return list(db.execute(query).scalars())


def relink(engine: Engine, vocabulary: Taxonomy | None = None) -> None:
    """Recompute services, postmortems and error classes after the library changed.

    Services first: a name no taxonomy service claimed may be claimed now (a
    new alias), and its history moves to that service. Then only incidents
    that are or could be joined to a postmortem can change: the rest keep
    their own class or "unclassified". With 100,000 incidents and a few
    hundred postmortems this is a few hundred rows, not all of them.
    """
    if vocabulary is not None and vocabulary.services:
        remap_services(engine, vocabulary)
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


def remap_services(engine: Engine, vocabulary: Taxonomy) -> int:
    """Give incidents stored under an unmapped service name the taxonomy service it maps to now.

    Only unmapped rows are read (few, unless the taxonomy is new); returns how many moved.
    """
    known = sorted(vocabulary.services)
    moved: list[int] = []
    with store.session(engine) as db:
        query = select(col(IncidentRow.id), col(IncidentRow.service), col(IncidentRow.raw)).where(
            col(IncidentRow.service).not_in(known)
        )
        changes: dict[str, list[int]] = {}
        for identifier, service, raw in db.execute(query):
            keys = raw.get(SERVICE_KEYS) if isinstance(raw, dict) else None
            target = vocabulary.service_for([*(keys or []), service])
            if target is not None and target != service:
                changes.setdefault(target, []).append(identifier)
        for target, ids in changes.items():
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                db.execute(
                    update(IncidentRow).where(col(IncidentRow.id).in_(chunk)).values(service=target)
                )
                _relink_ids(db, chunk)
                moved.extend(chunk)
        if moved:
            store.set_meta(db, VERSION_KEY, uuid.uuid4().hex)
        nearmiss.remap_services(db, vocabulary)
        db.commit()
    if moved:
        log.info("re-attributed %s incidents to taxonomy services", len(moved))
    return len(moved)


def unmapped_services(db: Session, vocabulary: Taxonomy) -> list[dict[str, Any]]:
    """Service names of stored incidents that no taxonomy service claims, most incidents first."""
    query = (
        select(col(IncidentRow.service), col(IncidentRow.source), func.count())
        .where(col(IncidentRow.service).not_in([*sorted(vocabulary.services), UNKNOWN_SERVICE]))
        .group_by(col(IncidentRow.service), col(IncidentRow.source))
    )
    found: dict[str, dict[str, Any]] = {}
    for service, source, count in db.execute(query):
        entry = found.setdefault(service, {"service": service, "incidents": 0, "sources": []})
        entry["incidents"] += int(count)
        entry["sources"].append(source)
        entry["sources"].sort()
        entry["suggestion"] = suggest(service, list(vocabulary.services))
    return sorted(found.values(), key=lambda e: (-e["incidents"], e["service"]))


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
