"""The project's own CSV: one incident per row, the columns of `HEADER` by name.

Comma- or semicolon-separated (spreadsheets in many locales write `;`); the
header names the columns in any order, and unnamed (empty) trailing columns
are ignored. Only `source_id` and `started_at` must be present; a column
that is missing, unknown or misspelled is named in the error, with a
did-you-mean. Times are ISO 8601 with a time zone, or local times read in
`Options.timezone` (`--timezone`). Severities are read like every other
importer's (`SEV2`, `P2`, `2`, `high`). Errors name the file line (the
header is line 1).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Iterator
from typing import IO, Any

from indexer.format.postmortem import TIMESTAMP_FIELDS
from indexer.format.taxonomy import suggest
from indexer.incidents.importers._common import (
    ImportFormatError,
    Options,
    Parsed,
    RowError,
    severity,
    timestamp,
)
from indexer.incidents.model import Incident

SOURCE = "csv"
HEADER = (
    "source_id,title,service,severity,started_at,detected_at,acknowledged_at,"
    "mitigated_at,resolved_at,error_class,error_budget_minutes,postmortem"
).split(",")
REQUIRED = ("source_id", "started_at")


def parse(data: bytes, options: Options | None = None) -> Parsed:
    """Every row of a file held in memory (small files, the library's incident history)."""
    parsed = Parsed()
    for chunk in parse_chunks(io.BytesIO(data), options, rows=None):
        parsed.incidents += chunk.incidents
        parsed.errors += chunk.errors
    return parsed


def check(handle: IO[bytes]) -> None:
    """Read the whole file once without keeping it: `ImportFormatError` if it cannot be read.

    A streamed import stores as it goes, so what would refuse the whole file
    (not UTF-8, a bad header, a broken quote) is found before the first row is stored.
    """
    for _ in _rows(handle):
        pass
    handle.seek(0)


def parse_chunks(
    handle: IO[bytes], options: Options | None = None, rows: int | None = 5000
) -> Iterator[Parsed]:
    """The file's incidents `rows` at a time (all at once with None), read as a stream."""
    options = options or Options()
    parsed = Parsed()
    columns: dict[str, int] = {}
    for line, row in _rows(handle):
        if line == 1:
            columns = _columns(row)
            continue
        if not any(cell.strip() for cell in row):
            continue
        try:
            parsed.incidents.append((line, _incident(row, columns, options)))
        except RowError as error:
            parsed.errors.append((line, str(error)))
        if rows is not None and len(parsed.incidents) + len(parsed.errors) >= rows:
            yield parsed
            parsed = Parsed()
    if not columns:
        _columns([])  # an empty file: missing columns
    yield parsed


def _rows(handle: IO[bytes]) -> Iterator[tuple[int, list[str]]]:
    """(file line, cells) of every row, the header's line 1; the delimiter guessed from it."""
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    try:
        first = text.readline()
        delimiter = ";" if first.count(";") > first.count(",") else ","
        reader = csv.reader(itertools.chain([first], text), delimiter=delimiter)
        for row in reader:
            yield reader.line_num, row
    except UnicodeDecodeError:
        raise ImportFormatError("file is not UTF-8 text") from None
    except csv.Error as error:  # e.g. a "line" longer than the csv module's field limit
        raise ImportFormatError(f"line {reader.line_num or 1}: {error}") from None
    finally:
        text.detach()  # the caller's handle stays open


def _columns(header: list[str]) -> dict[str, int]:
    """Column name -> position; ImportFormatError names what is missing, unknown or repeated."""
    names = [cell.strip().lower() for cell in header]
    while names and not names[-1]:
        names.pop()
    columns: dict[str, int] = {}
    unknown, repeated = [], []
    for position, name in enumerate(names):
        if not name:
            continue
        if name in columns:
            repeated.append(name)
        elif name in HEADER:
            columns[name] = position
        else:
            unknown.append(name)
    missing = [name for name in REQUIRED if name not in columns]
    if not (unknown or repeated or missing):
        return columns
    problems = []
    if missing:
        problems.append("missing column " + ", ".join(missing))
    for name in unknown:
        guess = suggest(name, [n for n in HEADER if n not in columns])
        hint = f" (did you mean {guess}?)" if guess else ""
        problems.append(f"unknown column {name!r}{hint}")
    if repeated:
        problems.append("repeated column " + ", ".join(repeated))
    raise ImportFormatError(
        f"line 1: {'; '.join(problems)}. The columns are: {','.join(HEADER)} "
        f"(only {' and '.join(REQUIRED)} are required)"
    )


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


def _incident(row: list[str], columns: dict[str, int], options: Options) -> Incident:
    width = max(columns.values()) + 1
    if len(row) != width and (len(row) < width or any(cell.strip() for cell in row[width:])):
        found = len([cell for cell in row if cell.strip()]) if len(row) > width else len(row)
        raise RowError(f"expected {width} columns, found {found}")
    cells = {name: row[position].strip() for name, position in columns.items()}
    if len(cells) < len(HEADER):
        cells.update({name: "" for name in HEADER if name not in cells})
    if not cells["source_id"]:
        raise RowError("source_id is missing")
    level = severity(cells["severity"]) if cells["severity"] else None
    if cells["severity"] and level is None:
        raise RowError(
            f"severity must be SEV1..SEV4 (or P1..P4, critical..low), got {cells['severity']!r}"
        )
    stamps = {
        name: timestamp(cells[name], name, naive=options.timezone) for name in TIMESTAMP_FIELDS
    }
    started = stamps.pop("started_at")
    if started is None:
        raise RowError("started_at is missing")
    # The dataclass fields are typed one by one; the stamps are all datetimes or None.
    times: dict[str, Any] = stamps
    return Incident(
        source=SOURCE,
        source_id=cells["source_id"],
        started_at=started,
        title=cells["title"],
        service=cells["service"] or "unknown",
        service_keys=(cells["service"],) if cells["service"] else (),
        severity=level,
        error_class=cells["error_class"] or None,
        error_budget_minutes=_minutes(cells["error_budget_minutes"]),
        postmortem=cells["postmortem"] or None,
        raw=cells,
        **times,
    )
