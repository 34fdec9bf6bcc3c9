"""Incident trends: counts per failure mode and service, time to resolve/acknowledge/detect,
error budget per period, and the totals `/metrics` exports. docs/metrics.md has the formulas.

Every function takes `as_of` and looks only at incidents that started on or
before it, so a figure asked for "as of" a past date comes out the same
tomorrow (unless incidents from before that date are imported later). Counts
and sums are SQL GROUP BYs; medians and p90s are picked by window functions
in the database, so no report pulls every incident into Python.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, case, func, or_, select
from sqlmodel import Session, col

from indexer import periods
from indexer.incidents import IncidentClass, IncidentRow
from indexer.periods import Period

Metric = Literal["mttr", "mtta", "mttd"]
TREND_THRESHOLD = 0.10  # a change under 10% either way is "flat"
TREND_PERIODS = 3
# metric -> (duration column, the timestamp that ends it)
_DURATIONS: dict[str, tuple[Any, Any]] = {
    "mttr": (col(IncidentRow.ttr_seconds), col(IncidentRow.resolved_at)),
    "mtta": (col(IncidentRow.tta_seconds), col(IncidentRow.acknowledged_at)),
    "mttd": (col(IncidentRow.ttd_seconds), col(IncidentRow.detected_at)),
}
_PERIOD_COLUMNS: dict[str, Any] = {
    "week": col(IncidentRow.started_week),
    "month": col(IncidentRow.started_month),
    "quarter": col(IncidentRow.started_quarter),
}


@dataclass(frozen=True)
class Scope:
    """Optional narrowing to one service and/or one error class."""

    service: str | None = None
    error_class: str | None = None

    def apply(self, statement: Any) -> Any:
        if self.service:
            statement = statement.where(col(IncidentRow.service) == self.service)
        if self.error_class:
            statement = statement.join(
                IncidentClass, col(IncidentClass.incident_id) == col(IncidentRow.id)
            ).where(col(IncidentClass.error_class) == self.error_class)
        return statement


def _window_json(window: periods.Window) -> dict[str, str]:
    return {"since": window.since.isoformat(), "until": window.until.isoformat()}


def failure_modes(db: Session, as_of: dt.date, days: int = 90) -> dict[str, Any]:
    """Incidents per error class in the window, with the count in the window before."""
    now = periods.window(as_of, days)
    before = periods.previous(now)
    day = col(IncidentClass.started_day)
    current = func.sum(case((day >= now.since, 1), else_=0))
    statement = (
        select(col(IncidentClass.error_class), current, func.count())
        .where(day >= before.since, day <= now.until)
        .group_by(col(IncidentClass.error_class))
    )
    items = [
        {"error_class": name, "incidents": int(n), "previous": int(total - n)}
        for name, n, total in db.execute(statement)
    ]
    for item in items:
        item["change"] = item["incidents"] - item["previous"]
    items.sort(key=lambda i: (-i["incidents"], -i["previous"], i["error_class"]))
    return {**_window_json(now), "days": days, "items": items}


def services(db: Session, as_of: dt.date, days: int = 90) -> dict[str, Any]:
    """Incidents (pages) per service in the window, most first."""
    now = periods.window(as_of, days)
    day = col(IncidentRow.started_day)
    statement = (
        select(col(IncidentRow.service), func.count())
        .where(day >= now.since, day <= now.until)
        .group_by(col(IncidentRow.service))
    )
    items = [{"service": name, "incidents": int(n)} for name, n in db.execute(statement)]
    items.sort(key=lambda i: (-i["incidents"], i["service"]))
    return {**_window_json(now), "days": days, "items": items}


def _bounds(as_of: dt.date, period: Period, count: int) -> tuple[list[str], dt.date]:
    labels = periods.last_periods(as_of, period, count)
    return [label for label, _ in labels], labels[0][1]


def _counts(
    db: Session, as_of: dt.date, period: Period, first: dt.date, scope: Scope
) -> dict[str, int]:
    column = _PERIOD_COLUMNS[period]
    day = col(IncidentRow.started_day)
    statement = scope.apply(
        select(column, func.count()).where(day >= first, day <= as_of).group_by(column)
    )
    return {label: int(n) for label, n in db.execute(statement)}


def _stats(
    db: Session, metric: Metric, as_of: dt.date, period: Period, first: dt.date, scope: Scope
) -> dict[str, dict[str, float]]:
    """period -> count, mean, median and p90 of the metric's durations (ended by `as_of`).

    Ranks come from ROW_NUMBER() over each period's sorted durations: the
    median averages the two middle ranks, p90 is the nearest rank ceil(0.9 n).
    """
    duration, end = _DURATIONS[metric]
    column = _PERIOD_COLUMNS[period]
    day = col(IncidentRow.started_day)
    ranked = scope.apply(
        select(
            column.label("period"),
            duration.label("value"),
            func.row_number().over(partition_by=column, order_by=duration).label("rank"),
            func.count().over(partition_by=column).label("n"),
            func.avg(duration).over(partition_by=column).label("mean"),
        ).where(
            day >= first,
            day <= as_of,
            duration.is_not(None),
            end <= periods.end_of_day(as_of),
        )
    ).subquery()
    n, rank = ranked.c.n, ranked.c.rank
    picked = select(ranked).where(
        or_(rank == (n + 1) // 2, rank == (n + 2) // 2, rank == (9 * n + 9) // 10)
    )
    return _assemble(db.execute(picked))


def _assemble(rows: Any) -> dict[str, dict[str, float]]:
    picked: dict[str, tuple[int, float, dict[int, float]]] = {}
    for label, value, rank, n, mean in rows:
        picked.setdefault(label, (int(n), float(mean), {}))[2][int(rank)] = float(value)
    result = {}
    for label, (n, mean, ranks) in picked.items():
        median = (ranks[(n + 1) // 2] + ranks[(n + 2) // 2]) / 2
        result[label] = {"n": n, "mean": mean, "median": median, "p90": ranks[(9 * n + 9) // 10]}
    return result


def duration_trend(
    db: Session,
    metric: Metric,
    as_of: dt.date,
    *,
    period: Period = "month",
    count: int = 12,
    scope: Scope | None = None,
) -> dict[str, Any]:
    """Per-period median, mean and p90 of a duration, and whether it is getting better."""
    scope = scope or Scope()
    span = max(count, 2 * TREND_PERIODS)
    labels, first = _bounds(as_of, period, span)
    counts = _counts(db, as_of, period, first, scope)
    stats = _stats(db, metric, as_of, period, first, scope)
    series = [_point(metric, label, counts.get(label, 0), stats.get(label)) for label in labels]
    trend, change = _trend([stats.get(label, {}).get("median") for label in labels])
    return {
        "metric": metric,
        "period": period,
        "as_of": as_of.isoformat(),
        "series": series[-count:],
        "trend": trend,
        "trend_change": change,
    }


def _point(metric: str, label: str, incidents: int, stats: dict[str, float] | None) -> Any:
    stats = stats or {}
    return {
        "period": label,
        "incidents": incidents,
        "measured": int(stats.get("n", 0)),
        f"{metric}_seconds_median": stats.get("median"),
        f"{metric}_seconds_mean": stats.get("mean"),
        f"{metric}_seconds_p90": stats.get("p90"),
    }


def _trend(medians: list[float | None]) -> tuple[str, float | None]:
    """Mean of the last three periods' medians against the three before (empty ones skipped)."""
    recent = [m for m in medians[-TREND_PERIODS:] if m is not None]
    earlier = [m for m in medians[-2 * TREND_PERIODS : -TREND_PERIODS] if m is not None]
    if not recent or not earlier or statistics.fmean(earlier) == 0:
        return "flat", None
    # Rounded first, so a change of exactly 10% is not lost to floating point.
    change = round(statistics.fmean(recent) / statistics.fmean(earlier) - 1, 4)
    if change <= -TREND_THRESHOLD:
        return "improving", change
    if change >= TREND_THRESHOLD:
        return "regressing", change
    return "flat", change


def error_budget(
    db: Session,
    as_of: dt.date,
    *,
    period: Period = "month",
    count: int = 12,
    service: str | None = None,
) -> dict[str, Any]:
    """Error-budget minutes consumed per service and period (incidents that carry a figure)."""
    labels, first = _bounds(as_of, period, count)
    column = _PERIOD_COLUMNS[period]
    day = col(IncidentRow.started_day)
    minutes = col(IncidentRow.error_budget_minutes)
    statement = Scope(service=service).apply(
        select(col(IncidentRow.service), column, func.sum(minutes), func.count(minutes))
        .where(day >= first, day <= as_of)
        .group_by(col(IncidentRow.service), column)
    )
    table: dict[str, dict[str, tuple[float, int]]] = {}
    for name, label, total, n in db.execute(statement):
        table.setdefault(name, {})[label] = (float(total or 0), int(n))
    items = [_budget_item(name, labels, cells) for name, cells in table.items()]
    items.sort(key=lambda i: (-i["minutes"], i["service"]))
    return {"period": period, "as_of": as_of.isoformat(), "periods": labels, "items": items}


def _budget_item(name: str, labels: list[str], cells: dict[str, tuple[float, int]]) -> Any:
    series = []
    for label in labels:
        minutes, measured = cells.get(label, (0.0, 0))
        series.append({"period": label, "minutes": minutes, "incidents_with_budget": measured})
    return {"service": name, "minutes": sum(p["minutes"] for p in series), "series": series}


def totals(db: Session) -> list[dict[str, Any]]:
    """All-time totals per (service, error class) for the Prometheus exposition."""
    ttr = col(IncidentRow.ttr_seconds)
    statement = (
        select(
            col(IncidentRow.service),
            col(IncidentClass.error_class),
            func.count(),
            func.sum(ttr),
            func.count(ttr),
            func.sum(col(IncidentRow.error_budget_minutes)),
        )
        .join(IncidentClass, and_(col(IncidentClass.incident_id) == col(IncidentRow.id)))
        .group_by(col(IncidentRow.service), col(IncidentClass.error_class))
    )
    return [
        {
            "service": service,
            "error_class": error_class,
            "incidents": int(n),
            "resolve_seconds_sum": float(ttr_sum or 0),
            "resolve_seconds_count": int(ttr_n),
            "error_budget_seconds": float(budget or 0) * 60,
        }
        for service, error_class, n, ttr_sum, ttr_n, budget in db.execute(statement)
    ]
