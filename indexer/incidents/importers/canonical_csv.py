"""The project's own CSV: one incident per row, header exactly `HEADER`.

Times are ISO 8601 with a time zone. `error_class`, `error_budget_minutes`
and `postmortem` may be empty; so may every timestamp but `started_at`.
Errors name the file line (the header is line 1).
"""

from __future__ import annotations

import csv
import io
import math

from indexer.format.postmortem import SEVERITIES, TIMESTAMP_FIELDS
from indexer.incidents.importers._common import ImportFormatError, Parsed, RowError, timestamp
from indexer.incidents.model import Incident

SOURCE = "csv"
HEADER = (
    "source_id,title,service,severity,started_at,detected_at,acknowledged_at,"
    "mitigated_at,resolved_at,error_class,error_budget_minutes,postmortem"
).split(",")


def parse(data: bytes) -> Parsed:
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFormatError("file is not UTF-8 text") from None
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as error:  # e.g. a first "line" longer than the csv module's field limit
        raise ImportFormatError(f"line 1: {error}") from None
    if header is None or [h.strip() for h in header] != HEADER:
        raise ImportFormatError(f"line 1: the header must be exactly: {','.join(HEADER)}")
    parsed = Parsed()
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            try:
                parsed.incidents.append((reader.line_num, _incident(row)))
            except RowError as error:
                parsed.errors.append((reader.line_num, str(error)))
    except csv.Error as error:
        raise ImportFormatError(f"line {reader.line_num}: {error}") from None
    return parsed


def _minutes(value: str) -> float | None:
    if not value:
        return None
    try:
        minutes = float(value)
    except ValueError:
        raise RowError(f"error_budget_minutes is not a number: {value!r}") from None
    if not math.isfinite(minutes) or minutes < 0:
        raise RowError(f"error_budget_minutes must be a number >= 0, got {value!r}")
    return minutes


def _incident(row: list[str]) -> Incident:
    if len(row) != len(HEADER):
        raise RowError(f"expected {len(HEADER)} columns, found {len(row)}")
    cells = {name: value.strip() for name, value in zip(HEADER, row, strict=True)}
    if not cells["source_id"]:
        raise RowError("source_id is missing")
    if cells["severity"] and cells["severity"] not in SEVERITIES:
        raise RowError(f"severity must be SEV1..SEV4, got {cells['severity']!r}")
    stamps = {name: timestamp(cells[name], name) for name in TIMESTAMP_FIELDS}
    started = stamps.pop("started_at")
    if started is None:
        raise RowError("started_at is missing")
    return Incident(
        source=SOURCE,
        source_id=cells["source_id"],
        started_at=started,
        title=cells["title"],
        service=cells["service"] or "unknown",
        severity=cells["severity"] or None,
        error_class=cells["error_class"] or None,
        error_budget_minutes=_minutes(cells["error_budget_minutes"]),
        postmortem=cells["postmortem"] or None,
        raw=cells,
        **stamps,
    )
