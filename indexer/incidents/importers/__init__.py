"""Incident importers: one module per source, each turning a file into canonical incidents.

    report = import_bytes(engine, "pagerduty", data)

A file that cannot be read at all (not JSON, wrong CSV header, unknown shape)
raises `ImportFormatError`; a single bad record is left out and reported with
its CSV line or JSON index, and the good ones are stored.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine

from indexer import incidents
from indexer.db import store
from indexer.incidents.importers import canonical_csv, firehydrant, opsgenie, pagerduty
from indexer.incidents.importers._common import ImportFormatError, Parsed

SOURCES: dict[str, Callable[[bytes], Parsed]] = {
    "pagerduty": pagerduty.parse,
    "opsgenie": opsgenie.parse,
    "firehydrant": firehydrant.parse,
    "csv": canonical_csv.parse,
}

__all__ = ["SOURCES", "ImportFormatError", "Parsed", "import_bytes", "load_history", "parse"]
log = logging.getLogger("pml")


def parse(source: str, data: bytes) -> Parsed:
    """The incidents in `data` and the records that could not be read."""
    reader = SOURCES.get(source)
    if reader is None:
        raise ImportFormatError(f"unknown source '{source}'; use one of {', '.join(SOURCES)}")
    return reader(data)


def import_bytes(engine: Engine, source: str, data: bytes) -> incidents.ImportReport:
    """Parse and upsert; the report counts added and updated incidents and lists the rejects."""
    parsed = parse(source, data)
    report = incidents.ImportReport(source=source, errors=list(parsed.errors))
    good = []
    for position, incident in parsed.incidents:
        problem = incident.problem()
        if problem:
            report.errors.append((position, problem))
        else:
            good.append(incident)
    report.errors.sort()
    incidents.upsert(engine, good, report)
    return report


def load_history(engine: Engine, library: Path) -> incidents.ImportReport | None:
    """Import the library's `incidents.csv` when it is new or changed since the last load."""
    path = library / incidents.HISTORY_FILE
    if not path.is_file():
        return None
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    with store.session(engine) as db:
        if store.get_meta(db, "incident_history_hash") == digest:
            return None
    report = import_bytes(engine, "csv", data)
    with store.session(engine) as db:
        store.set_meta(db, "incident_history_hash", digest)
        db.commit()
    log.info("loaded %s: %s added, %s updated", path, report.added, report.updated)
    for row, message in report.errors:
        log.warning("%s:%s: %s", path, row, message)
    return report
