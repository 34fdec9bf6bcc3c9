"""Trend reports as tables: the numbers behind every chart, for HTML tables and CSV downloads.

The trends page draws each chart from its table, and the CSV download is the
same table, so a chart, its table and its CSV can never disagree. Durations
are shown in minutes (the reports carry seconds).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from indexer import periods

Cell = str | int | float | None


@dataclass
class Table:
    """A titled grid: one header row, then rows of plain values (None is an empty cell).

    `links` holds, per row, the page listing what the row counts (the filtered
    incident list): the table's row heading and the chart's bar lead there.
    """

    name: str
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    links: list[str | None] = field(default_factory=list)

    def link(self, position: int) -> str | None:
        return self.links[position] if position < len(self.links) else None

    def csv(self) -> str:
        """The table as CSV, every text cell made safe to open in a spreadsheet."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([csv_cell(name) for name in self.columns])
        writer.writerows([csv_cell(cell) for cell in row] for row in self.rows)
        return out.getvalue()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(cell: Cell) -> str | int | float:
    """A cell a spreadsheet will not run: text starting like a formula gets a leading `'`.

    Numbers are written as numbers, negative ones included (a change of -3 is a
    figure, and a number cannot carry a formula); only text is escaped, so a
    service named `-5` or `=cmd|' /C calc'!A0` from an import comes out as
    `'-5` and `'=cmd|' /C calc'!A0` (OWASP's rule for CSV injection).
    """
    if cell is None:
        return ""
    if isinstance(cell, (int, float)):
        return cell
    text = str(cell)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def minutes(seconds: float | None) -> float | None:
    """Seconds as minutes with one decimal, None stays None."""
    return None if seconds is None else round(seconds / 60, 1)


Value = str | Sequence[str] | None  # one name, any of several, or none


def incidents_url(**filters: Value) -> str:
    """The incident list with these filters (empty ones left out; several values repeat)."""
    pairs = [
        (name, one)
        for name, value in filters.items()
        if value
        for one in ([value] if isinstance(value, str) else value)
    ]
    return "/incidents?" + urlencode(pairs)


Scope = Mapping[str, Value] | None  # the services and error classes a report is narrowed to


def _scope(report: dict[str, Any], scope: Scope = None) -> dict[str, Value]:
    chosen = scope if scope is not None else (report.get("scope") or {})
    return {"service": chosen.get("service"), "error_class": chosen.get("error_class")}


def failure_modes(report: dict[str, Any], scope: Scope = None) -> Table:
    title = f"Top failure modes, {report['since']} to {report['until']}"
    columns = ["error class", "incidents", "previous window", "change"]
    rows: list[list[Cell]] = [
        [i["error_class"], i["incidents"], i["previous"], i["change"]] for i in report["items"]
    ]
    window = {"since": report["since"], "until": report["until"], **_scope(report, scope)}
    links: list[str | None] = [
        incidents_url(**{**window, "error_class": i["error_class"]}) for i in report["items"]
    ]
    return Table("failure-modes", title, columns, rows, links)


def services(report: dict[str, Any], scope: Scope = None) -> Table:
    title = f"Incidents by service, {report['since']} to {report['until']}"
    rows: list[list[Cell]] = [[i["service"], i["incidents"]] for i in report["items"]]
    window = {"since": report["since"], "until": report["until"], **_scope(report, scope)}
    links: list[str | None] = [
        incidents_url(**{**window, "service": i["service"]}) for i in report["items"]
    ]
    return Table("services", title, ["service", "incidents"], rows, links)


def _period_links(report: dict[str, Any], count: int, scope: Scope = None) -> list[str | None]:
    """The incident list of each of the report's last `count` periods, oldest first."""
    as_of = dt.date.fromisoformat(report["as_of"])
    bounds = periods.last_periods(as_of, report["period"], count)
    return [
        incidents_url(
            since=start.isoformat(),
            until=min(periods.last_day(start, report["period"]), as_of).isoformat(),
            **_scope(report, scope),
        )
        for _, start in bounds
    ]


def duration(report: dict[str, Any], scope: Scope = None) -> Table:
    """A duration trend (MTTR, MTTA or MTTD) per period, in minutes."""
    metric = report["metric"]
    columns = [
        report["period"],
        "incidents",
        "measured",
        "median (min)",
        "p90 (min)",
        "mean (min)",
    ]
    rows: list[list[Cell]] = [
        [
            point["period"],
            point["incidents"],
            point["measured"],
            minutes(point[f"{metric}_seconds_median"]),
            minutes(point[f"{metric}_seconds_p90"]),
            minutes(point[f"{metric}_seconds_mean"]),
        ]
        for point in report["series"]
    ]
    links = _period_links(report, len(rows), scope)
    return Table(metric, f"{metric.upper()} per {report['period']}", columns, rows, links)


def error_budget(report: dict[str, Any], scope: Scope = None) -> Table:
    """Error-budget minutes per period: all services, then one column per service.

    Periods are the rows, so the chart drawn from the first column shows what its
    title says: the minutes consumed in each period.
    """
    items = report["items"]
    columns = [report["period"], "all services (min)", *(f"{i['service']} (min)" for i in items)]
    rows: list[list[Cell]] = []
    for position, label in enumerate(report["periods"]):
        spent = [item["series"][position]["minutes"] for item in items]
        rows.append([label, round(sum(spent), 1), *(round(minutes, 1) for minutes in spent)])
    title = f"Error budget consumed per {report['period']} (minutes)"
    links = _period_links(report, len(rows), scope)
    return Table("error-budget", title, columns, rows, links)
