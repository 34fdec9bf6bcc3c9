"""Incident importers: one module per source, each turning a file into canonical incidents.

    report = import_bytes(engine, "pagerduty", data, vocabulary=library.taxonomy)

A file that cannot be read at all (not JSON, wrong CSV header, unknown shape)
raises `ImportFormatError`; a single bad record is left out and reported with
its CSV line or JSON index, and the good ones are stored. Nothing is lost
silently: a record stored with something missing, or repeated inside the
file (merged), is a warning; a service name no taxonomy service or alias
claims is kept as it is and listed in the report.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import IO

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from indexer import incidents
from indexer.db import store
from indexer.db.models import UNKNOWN_SERVICE, IncidentRow
from indexer.format import taxonomy
from indexer.incidents.importers import (
    canonical_csv,
    firehydrant,
    grafana_oncall,
    incident_io,
    opsgenie,
    pagerduty,
)
from indexer.incidents.importers._common import (
    ImportFormatError,
    Options,
    Parsed,
    RowError,
    load_json,
    timestamp,
    urgency_rule,
    zone,
)
from indexer.incidents.model import Incident

CHUNK_ROWS = 5000  # rows of a streamed CSV parsed and stored at a time
SOURCES: dict[str, Callable[[bytes, Options], Parsed]] = {
    "pagerduty": pagerduty.parse,
    "opsgenie": opsgenie.parse,
    "firehydrant": firehydrant.parse,
    "jsm": opsgenie.parse_jsm,
    "incident-io": incident_io.parse,
    "grafana-oncall": grafana_oncall.parse,
    "csv": canonical_csv.parse,
}

__all__ = [
    "SOURCES",
    "ImportFormatError",
    "Options",
    "Parsed",
    "RowError",
    "import_bytes",
    "import_file",
    "load_history",
    "load_history_data",
    "load_json",
    "parse",
    "timestamp",
    "urgency_rule",
    "zone",
]
log = logging.getLogger("pml")


def parse(source: str, data: bytes, options: Options | None = None) -> Parsed:
    """The incidents in `data` and the records that could not be read."""
    reader = SOURCES.get(source)
    if reader is None:
        raise ImportFormatError(f"unknown source '{source}'; use one of {', '.join(SOURCES)}")
    return reader(data, options or Options())


def import_bytes(
    engine: Engine,
    source: str,
    data: bytes,
    *,
    vocabulary: taxonomy.Taxonomy | None = None,
    options: Options | None = None,
    dry_run: bool = False,
) -> incidents.ImportReport:
    """Parse, map services through the taxonomy and upsert (or, with `dry_run`, only count)."""
    parsed = parse(source, data, options)
    report = incidents.ImportReport(
        source=source, errors=list(parsed.errors), warnings=list(parsed.warnings), dry_run=dry_run
    )
    good = _merge_repeats(parsed.incidents, report)
    good = _complete_partials(engine, good, report)
    report.unmapped_services = _map_services(good, vocabulary)
    report.errors.sort()
    report.warnings.sort()
    incidents.upsert(engine, good, report, dry_run=dry_run)
    return report


def import_file(
    engine: Engine,
    source: str,
    handle: IO[bytes],
    *,
    vocabulary: taxonomy.Taxonomy | None = None,
    options: Options | None = None,
    dry_run: bool = False,
) -> incidents.ImportReport:
    """Import an open file; the canonical CSV streams, `CHUNK_ROWS` rows at a time.

    Memory stays bounded however long the file is: each chunk is parsed,
    merged, mapped and stored before the next is read, and the report lists
    at most `MAX_LISTED` (model.py) errors and warnings (it counts the rest).
    A repeated id is merged with a warning inside a chunk; across chunks the
    later row updates the stored one, keeping the times it lacks. The vendor
    exports are JSON documents, read whole (within PML_IMPORT_MAX_BYTES).
    """
    if source != "csv":
        return import_bytes(
            engine, source, handle.read(), vocabulary=vocabulary, options=options, dry_run=dry_run
        )
    canonical_csv.check(handle)  # a file-level problem stores nothing
    report = incidents.ImportReport(source=source, dry_run=dry_run)
    unmapped: set[str] = set()
    for parsed in canonical_csv.parse_chunks(handle, options, CHUNK_ROWS):
        report.note(parsed.errors, parsed.warnings)
        good = _merge_repeats(parsed.incidents, report)
        good = _complete_partials(engine, good, report)
        unmapped.update(_map_services(good, vocabulary))
        incidents.upsert(engine, good, report, dry_run=dry_run)
        report.note([], [])  # keep what the merge added within the bound too
    report.unmapped_services = sorted(unmapped)
    report.errors.sort()
    report.warnings.sort()
    return report


def _merge_repeats(
    found: list[tuple[int, Incident]], report: incidents.ImportReport
) -> list[Incident]:
    """One incident per id: a repeat is merged over the earlier record, with a warning."""
    kept: dict[str, tuple[int, Incident]] = {}
    for position, incident in found:
        earlier = kept.get(incident.source_id)
        if earlier is not None:
            incident = incident.merged_over(earlier[1])
            report.warnings.append(
                (
                    position,
                    f"{incident.source_id} repeats record {earlier[0]}: merged, this record's "
                    "values kept and the times it lacks taken from the earlier one",
                )
            )
        for note in incident.drop_out_of_order():
            report.warnings.append((position, f"{incident.source_id}: {note}: left out"))
        problem = incident.problem()
        if problem:
            report.errors.append((position, problem))
            kept.pop(incident.source_id, None)
            continue
        kept[incident.source_id] = (position, incident)
    return [incident for _, incident in kept.values()]


def _complete_partials(
    engine: Engine, found: list[Incident], report: incidents.ImportReport
) -> list[Incident]:
    """Put incidents built from log entries alone onto the stored incident they belong to."""
    partial = {i.source_id: i for i in found if i.partial}
    if not partial:
        return found
    stored = _stored(engine, found[0].source, list(partial))
    result = [i for i in found if not i.partial]
    for identifier, incident in partial.items():
        position = int(incident.raw.get("first_record", 0))
        row = stored.get(identifier)
        if row is not None and incident.partial == "event":  # the stored start, the event's rest
            merged = dataclasses.replace(
                incident, started_at=row.started_at, detected_at=row.detected_at, partial=""
            ).merged_over(row)
            problem = merged.problem()
            if problem:
                report.errors.append((position, f"{identifier}: {problem}"))
            else:
                result.append(merged)
        elif row is not None:  # the stored record, with the times the log entries add
            merged = incidents.Incident(**{**vars(row), **_times(incident)}).merged_over(row)
            problem = merged.problem()
            if problem:
                report.errors.append((position, f"log entries of {identifier}: {problem}"))
            else:
                result.append(merged)
        elif incident.partial == "start":
            result.append(incident)
        elif incident.partial == "event":
            report.errors.append(
                (
                    position,
                    f"the event about {identifier} does not say when it started, and the "
                    "incident is not stored yet: replay it once its trigger is in",
                )
            )
        else:
            report.errors.append(
                (
                    position,
                    f"log entries of {identifier} date its acknowledgement or resolution, but "
                    "the incident is neither in this file nor stored: import it first",
                )
            )
    return result


def _times(incident: Incident) -> dict[str, object]:
    names = ("detected_at", "acknowledged_at", "mitigated_at", "resolved_at")
    return {name: getattr(incident, name) for name in names if getattr(incident, name)}


def _stored(engine: Engine, source: str, ids: list[str]) -> dict[str, Incident]:
    """The stored incidents of these ids, as importers build them (times only matter)."""
    found: dict[str, Incident] = {}
    with store.session(engine) as db:
        query = select(IncidentRow).where(
            col(IncidentRow.source) == source, col(IncidentRow.source_id).in_(ids)
        )
        for row in db.exec(query):
            started = store.as_utc(row.started_at)
            assert started is not None
            raw = dict(row.raw or {})
            keys = tuple(raw.pop(incidents.model.SERVICE_KEYS, None) or ())
            found[row.source_id] = Incident(
                source=row.source,
                source_id=row.source_id,
                started_at=started,
                title=row.title,
                service=row.service,
                severity=row.severity,
                detected_at=store.as_utc(row.detected_at),
                acknowledged_at=store.as_utc(row.acknowledged_at),
                mitigated_at=store.as_utc(row.mitigated_at),
                resolved_at=store.as_utc(row.resolved_at),
                error_class=row.error_class,
                error_budget_minutes=row.error_budget_minutes,
                postmortem=row.postmortem_ref,
                raw=raw,
                service_keys=keys,
            )
    return found


def _map_services(found: list[Incident], vocabulary: taxonomy.Taxonomy | None) -> list[str]:
    """Give each incident its taxonomy service; returns the names nothing claimed."""
    if vocabulary is None or not vocabulary.services:
        return []
    unmapped: set[str] = set()
    known: dict[tuple[str, ...], str | None] = {}
    for incident in found:
        keys = incident.service_keys or (incident.service,)
        if keys not in known:
            known[keys] = vocabulary.service_for(keys)
        target = known[keys]
        if target is not None:
            incident.service = target
        elif incident.service != UNKNOWN_SERVICE:
            unmapped.add(incident.service)
    return sorted(unmapped)


def load_history(engine: Engine, library: Path) -> incidents.ImportReport | None:
    """Import the library folder's `incidents.csv` when it is new or changed since the last load."""
    path = library / incidents.HISTORY_FILE
    if not path.is_file():
        return None
    try:
        vocabulary: taxonomy.Taxonomy | None = taxonomy.load(library)
    except taxonomy.TaxonomyError:
        vocabulary = None  # the indexer reports the broken taxonomy; keep the history
    return load_history_data(engine, path.read_bytes(), str(path), vocabulary)


def load_history_data(
    engine: Engine, data: bytes, origin: str, vocabulary: taxonomy.Taxonomy | None
) -> incidents.ImportReport | None:
    """Import an incident history (canonical CSV) unless these exact bytes were loaded last.

    The folder's `incidents.csv` at start-up and the repository's on every git
    sync come here; `origin` names the file in the log.
    """
    digest = hashlib.sha256(data).hexdigest()
    with store.session(engine) as db:
        if store.get_meta(db, "incident_history_hash") == digest:
            return None
    report = import_bytes(engine, "csv", data, vocabulary=vocabulary)
    with store.session(engine) as db:
        store.set_meta(db, "incident_history_hash", digest)
        db.commit()
    log.info("loaded %s: %s added, %s updated", origin, report.added, report.updated)
    for row, message in report.errors:
        log.warning("%s:%s: %s", origin, row, message)
    return report
