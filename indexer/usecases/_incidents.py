"""Incident data: the stored incidents, the near-miss log, and the library's incident history.

`load_history` is the one way the library folder's `incidents.csv` gets into
the database: `pml serve` calls it at start-up and `pml index` after
indexing (a followed git repository loads its own copy on every sync,
through the same importer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from indexer.db import catalog, store
from indexer.db.models import UNKNOWN_SERVICE, IncidentRow
from indexer.filters import Filters
from indexer.format.postmortem import TIMESTAMP_FIELDS
from indexer.incidents import importers, model, nearmiss, query
from indexer.incidents.model import ImportReport
from indexer.library import Library


def incident_list(
    library: Library,
    groups: frozenset[str],
    chosen: Filters,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """Stored incidents, newest first; postmortems and their classes only where visible.

    `chosen` filters by `filters.INCIDENT_FIELDS` and the start day."""
    with store.session(library.engine) as db:
        total, items = query.incidents(db, groups, chosen, limit=limit, offset=offset)
    return {"total": total, "limit": limit, "offset": offset, "items": items}


def incident(
    library: Library, groups: frozenset[str], source: str, source_id: str
) -> dict[str, Any] | None:
    """One stored incident by its source and the source's id, as the reader may see it."""
    with store.session(library.engine) as db:
        return query.incident(db, groups, source, source_id)


def incident_choices(library: Library, groups: frozenset[str]) -> dict[str, list[str]]:
    """The values each incident filter can take, as stored: what the page's selects offer."""
    with store.session(library.engine) as db:
        return query.choices(db, groups)


def unmapped_services(library: Library) -> list[dict[str, Any]]:
    """Service names of stored incidents that no taxonomy service or alias claims."""
    with store.session(library.engine) as db:
        return model.unmapped_services(db, library.taxonomy)


@dataclass
class IncidentFacts:
    """What an imported incident says about the postmortem to write (`pml new --from-incident`)."""

    title: str
    timestamps: dict[str, datetime]
    severity: str | None
    services: list[str] = field(default_factory=list)


def incident_facts(library: Library, source: str, source_id: str) -> IncidentFacts | None:
    """The stored incident `source:source_id` as facts for a new postmortem, or None."""
    with store.session(library.engine) as db:
        row = db.exec(
            select(IncidentRow).where(
                col(IncidentRow.source) == source, col(IncidentRow.source_id) == source_id
            )
        ).first()
    if row is None:
        return None
    stamps = {
        name: stamp
        for name in TIMESTAMP_FIELDS
        if (stamp := store.as_utc(getattr(row, name))) is not None
    }
    services = [] if row.service == UNKNOWN_SERVICE else [row.service]
    return IncidentFacts(row.title, stamps, row.severity, services)


def record_near_miss(library: Library, entry: nearmiss.NearMiss) -> dict[str, Any]:
    """Log and commit a near-miss; raises nearmiss.NearMissError for an unusable entry."""
    with store.session(library.engine) as db:
        recorded = nearmiss.record(db, entry, today=nearmiss.latest_day())
        db.commit()
    return recorded


def near_miss_log(library: Library, as_of: date, days: int | None) -> dict[str, Any]:
    """Near-misses grouped by repeat, "postmortem recommended" from the third on."""
    with store.session(library.engine) as db:
        return nearmiss.log(db, as_of, days)


def near_miss_group(library: Library, service: str, what_failed: str) -> dict[str, Any] | None:
    """The near-miss log's group of `what_failed` on `service`, or None."""
    key = nearmiss.group_key(service, what_failed)
    with store.session(library.engine) as db:
        found = nearmiss.groups(db, nearmiss.latest_day())
    return next((group for group in found if group["key"] == key), None)


def near_miss_postmortems(
    library: Library, groups: frozenset[str], as_of: date, days: int | None
) -> list[dict[str, Any]]:
    """Postmortems of type near_miss the reader may see, newest first, within the log's window."""
    since = as_of - timedelta(days=days - 1) if days else None
    chosen = Filters({"type": ["near_miss"]}, since=since, until=as_of)
    with store.session(library.engine) as db:
        _, found = catalog.list_postmortems(db, chosen, limit=catalog.MAX_PAGE, groups=groups)
    return found


def load_history(library: Library) -> ImportReport | None:
    """Import the library folder's `incidents.csv` when it is new or changed since the last load.

    Targets (`targets.yaml`) need no loading in folder mode: every report reads
    the file as it is (a followed repository stores its copy on each sync).
    """
    return importers.load_history(library.engine, library.root)
