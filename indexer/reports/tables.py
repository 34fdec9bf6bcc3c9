"""Trend reports as tables: the numbers behind every chart, for HTML tables and CSV downloads.

The trends page draws each chart from its table, and the CSV download is the
same table, so a chart, its table and its CSV can never disagree. Durations
are shown in minutes (the reports carry seconds).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

Cell = str | int | float | None


@dataclass
class Table:
    """A titled grid: one header row, then rows of plain values (None is an empty cell)."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)

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


def failure_modes(report: dict[str, Any]) -> Table:
    title = f"Top failure modes, {report['since']} to {report['until']}"
    columns = ["error class", "incidents", "previous window", "change"]
    rows: list[list[Cell]] = [
        [i["error_class"], i["incidents"], i["previous"], i["change"]] for i in report["items"]
    ]
    return Table("failure-modes", title, columns, rows)


def services(report: dict[str, Any]) -> Table:
    title = f"Incidents by service, {report['since']} to {report['until']}"
    rows: list[list[Cell]] = [[i["service"], i["incidents"]] for i in report["items"]]
    return Table("services", title, ["service", "incidents"], rows)


def duration(report: dict[str, Any]) -> Table:
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
    return Table(metric, f"{metric.upper()} per {report['period']}", columns, rows)


def error_budget(report: dict[str, Any]) -> Table:
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
    return Table("error-budget", title, columns, rows)
