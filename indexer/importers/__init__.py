"""Incident importers: one module per source, each turning a file into canonical incidents.

    report = import_bytes(engine, "pagerduty", data)

A file that cannot be read at all (not JSON, wrong CSV header, unknown shape)
raises `ImportFormatError`; a single bad record is left out and reported with
its CSV line or JSON index, and the good ones are stored.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine

from indexer import incidents
from indexer.importers import canonical_csv, firehydrant, opsgenie, pagerduty
from indexer.importers._common import ImportFormatError, Parsed

SOURCES: dict[str, Callable[[bytes], Parsed]] = {
    "pagerduty": pagerduty.parse,
    "opsgenie": opsgenie.parse,
    "firehydrant": firehydrant.parse,
    "csv": canonical_csv.parse,
}

__all__ = ["SOURCES", "ImportFormatError", "Parsed", "import_bytes", "parse"]


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
