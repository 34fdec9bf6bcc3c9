"""Incident trends: counts per failure mode and service, time to resolve/acknowledge/detect,
error budget per period, and the totals `/metrics` exports. docs/metrics.md has the formulas.

Every function takes `as_of` and looks only at incidents that started on or
before it, so a figure asked for "as of" a past date comes out the same
tomorrow (unless incidents from before that date are imported later). Counts
and sums are SQL GROUP BYs; medians and p90s are read by ORDER BY .. OFFSET
walks over covering indexes, so no report pulls every incident into Python
or sorts a whole window. `TrendCache` keeps the figures of settled periods.
"""

from __future__ import annotations

import datetime as dt
import statistics
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, case, func, select
from sqlmodel import Session, col

from indexer import incidents, periods
from indexer.db import store
from indexer.db.models import IncidentClass, IncidentRow
from indexer.filters import Filters
from indexer.incidents import DURATIONS
from indexer.periods import Period

Metric = Literal["mttr", "mtta", "mttd"]
TREND_THRESHOLD = 0.10  # a change under 10% either way is "flat"
TREND_PERIODS = 3


Names = str | Sequence[str] | None  # one value, any of several, or no narrowing


def _names(value: Names) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class Scope:
    """Optional narrowing to some services and/or error classes (any of each).

    Built from a request's `Filters` over `filters.SCOPE_FIELDS` (`Scope.of`).
    Narrowed to one class, figures read `incident_by_class` (one row per
    incident and class, with the incident's columns copied in); otherwise
    `incident`, so an incident of two of the classes asked for counts once.
    """

    service: tuple[str, ...] = ()
    error_class: tuple[str, ...] = ()

    def __init__(self, service: Names = None, error_class: Names = None) -> None:
        object.__setattr__(self, "service", _names(service))
        object.__setattr__(self, "error_class", _names(error_class))

    @classmethod
    def of(cls, chosen: Filters) -> Scope:
        return cls(chosen.get("service"), chosen.get("error_class"))

    @property
    def table(self) -> Any:
        model: Any = IncidentClass if len(self.error_class) == 1 else IncidentRow
        return model.__table__

    def conditions(self, as_of: dt.date | None) -> list[Any]:
        """Started by `as_of` (None: no limit), in the services and classes asked for."""
        columns = self.table.c
        result = [] if as_of is None else [columns.started_day <= as_of]
        if self.service:
            result.append(columns.service.in_(self.service))
        if len(self.error_class) == 1:
            result.append(columns.error_class == self.error_class[0])
        elif self.error_class:
            classed = select(col(IncidentClass.incident_id)).where(
                col(IncidentClass.error_class).in_(self.error_class)
            )
            result.append(columns.id.in_(classed))
        return result

    def echo(self) -> dict[str, str | list[str] | None]:
        """The scope as the reports state it: a name, a list of several, or null."""
        return {"service": _echo(self.service), "error_class": _echo(self.error_class)}


def _echo(names: tuple[str, ...]) -> str | list[str] | None:
    if len(names) <= 1:
        return names[0] if names else None
    return list(names)


def _window_json(window: periods.Window) -> dict[str, str]:
    return {"since": window.since.isoformat(), "until": window.until.isoformat()}


def failure_modes(
    db: Session, as_of: dt.date, days: int = 90, scope: Scope | None = None
) -> dict[str, Any]:
    """Incidents per error class in the window, with the count in the window before."""
    scope = scope or Scope()
    now = periods.window(as_of, days)
    before = periods.previous(now)
    day = col(IncidentClass.started_day)
    current = func.sum(case((day >= now.since, 1), else_=0))
    statement = (
        select(col(IncidentClass.error_class), current, func.count())
        .where(day >= before.since, day <= now.until)
        .group_by(col(IncidentClass.error_class))
    )
    if scope.service:
        statement = statement.where(col(IncidentClass.service).in_(scope.service))
    if scope.error_class:
        statement = statement.where(col(IncidentClass.error_class).in_(scope.error_class))
    items = [
        {"error_class": name, "incidents": int(n), "previous": int(total - n)}
        for name, n, total in db.execute(statement)
    ]
    for item in items:
        item["change"] = item["incidents"] - item["previous"]
    items.sort(key=lambda i: (-i["incidents"], -i["previous"], i["error_class"]))
    return {**_window_json(now), "days": days, "items": items}


def services(
    db: Session, as_of: dt.date, days: int = 90, scope: Scope | None = None
) -> dict[str, Any]:
    """Incidents (pages) per service in the window, most first."""
    scope = scope or Scope()
    now = periods.window(as_of, days)
    columns = scope.table.c  # per class only when narrowed to one class
    statement = (
        select(columns.service, func.count())
        .where(columns.started_day >= now.since, *scope.conditions(now.until))
        .group_by(columns.service)
    )
    items = [{"service": name, "incidents": int(n)} for name, n in db.execute(statement)]
    items.sort(key=lambda i: (-i["incidents"], i["service"]))
    return {**_window_json(now), "days": days, "items": items}


def _stats(
    db: Session,
    metric: Metric,
    as_of: dt.date | None,
    period: Period,
    labels: list[str],
    scope: Scope,
) -> dict[str, dict[str, Any]]:
    """period -> incidents, and count, mean, median and p90 of the durations ended by `as_of`.

    `as_of=None` takes everything stored (what TrendCache keeps). Counts and
    the mean are one GROUP BY. The median (mean of the two middle values)
    and p90 (nearest rank, ceil(0.9 n)) are read with ORDER BY duration
    LIMIT .. OFFSET .. inside each period: with the covering indexes of
    `indexer.incidents` that walks an index instead of sorting, from the
    top for the p90 so the walk stays short.
    """
    duration_name, end_name = DURATIONS[metric]
    columns = scope.table.c
    duration, label, end = columns[duration_name], columns[f"started_{period}"], columns[end_name]
    ended = duration.is_not(None)
    if as_of is not None:
        ended = and_(ended, end <= periods.end_of_day(as_of))
    measured = case((ended, duration))
    last_end = func.max(case((ended, end)))
    totals = (
        select(label, func.count(), func.count(measured), func.avg(measured), last_end)
        .where(label.in_(labels), *scope.conditions(as_of))
        .group_by(label)
    )
    result: dict[str, dict[str, Any]] = {}
    for name, started, n, mean, latest in db.execute(totals):
        result[name] = {"incidents": started, "n": n, "last_end": _aware(latest)}
        if n:
            middle, p90 = _ranked(db, duration, label, name, [*scope.conditions(as_of), ended], n)
            result[name].update({"mean": float(mean), "median": middle, "p90": p90})
    return result


def _aware(value: Any) -> dt.datetime | None:
    """MAX() of a timestamp comes back as text on SQLite."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return store.as_utc(value)


def _ranked(
    db: Session, duration: Any, label: Any, name: str, where: list[Any], n: int
) -> tuple[float, float]:
    """(median, p90) of the `n` durations of one period that match `where`."""
    inside = select(duration).where(label == name, *where)
    size, skip = 2 - n % 2, (n - 1) // 2
    middle = [float(v) for (v,) in db.execute(inside.order_by(duration).limit(size).offset(skip))]
    top = n - (9 * n + 9) // 10  # rank ceil(0.9 n), counted from the longest
    p90 = db.execute(inside.order_by(duration.desc()).limit(1).offset(top)).scalar_one()
    return sum(middle) / len(middle), float(p90)


class TrendCache:
    """Statistics of whole periods over everything stored, for one data version.

    A period is *settled* as of a date when it ended by then and every
    duration in it ended by then too; its figures as of that date are then
    exactly its figures over everything stored, so they are computed once
    per data version and reused for any later `as_of`. Only the periods
    around `as_of` are computed per request.
    """

    def __init__(self, size: int = 20_000) -> None:
        self._size = size
        self._version: str | None = None
        self._entries: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def whole(
        self,
        db: Session,
        key: tuple[Any, ...],
        labels: list[str],
        compute: Callable[[list[str]], dict[str, Any]],
    ) -> dict[str, Any]:
        """label -> `compute`d figures over everything stored ({} where it found nothing)."""
        current = incidents.version(db)
        with self._lock:
            if current != self._version or len(self._entries) > self._size:
                self._entries, self._version = {}, current
            known = self._entries.setdefault(key, {})
            missing = [label for label in labels if label not in known]
        if missing:
            found = compute(missing)
            with self._lock:
                known.update({label: found.get(label, {}) for label in missing})
        return {label: known[label] for label in labels}


def _settled(stats: dict[str, Any], last_day: dt.date, as_of: dt.date) -> bool:
    last_end = stats.get("last_end")
    return last_day <= as_of and (last_end is None or last_end <= periods.end_of_day(as_of))


def _period_stats(
    db: Session,
    metric: Metric,
    as_of: dt.date,
    period: Period,
    starts: list[tuple[str, dt.date]],
    scope: Scope,
    cache: TrendCache | None,
) -> dict[str, dict[str, Any]]:
    labels = [label for label, _ in starts]
    if cache is None:
        return _stats(db, metric, as_of, period, labels, scope)
    key = ("duration", metric, period, scope.service, scope.error_class)
    whole = cache.whole(
        db, key, labels, lambda missing: _stats(db, metric, None, period, missing, scope)
    )
    live = [
        label
        for label, first in starts
        if not _settled(whole[label], periods.last_day(first, period), as_of)
    ]
    result = {label: whole[label] for label in labels if label not in live}
    if live:
        result.update(_stats(db, metric, as_of, period, live, scope))
    return result


def duration_trend(
    db: Session,
    metric: Metric,
    as_of: dt.date,
    *,
    period: Period = "month",
    count: int = 12,
    scope: Scope | None = None,
    cache: TrendCache | None = None,
) -> dict[str, Any]:
    """Per-period median, mean and p90 of a duration, and whether it is getting better."""
    scope = scope or Scope()
    starts = periods.last_periods(as_of, period, max(count, 2 * TREND_PERIODS))
    stats = _period_stats(db, metric, as_of, period, starts, scope, cache)
    labels = [label for label, _ in starts]
    series = [_point(metric, label, stats.get(label)) for label in labels]
    trend, change = _trend([stats.get(label, {}).get("median") for label in labels])
    return {
        "metric": metric,
        "period": period,
        "as_of": as_of.isoformat(),
        "series": series[-count:],
        "trend": trend,
        "trend_change": change,
    }


def _point(metric: str, label: str, stats: dict[str, Any] | None) -> Any:
    stats = stats or {}
    return {
        "period": label,
        "incidents": int(stats.get("incidents", 0)),
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
    service: Names = None,
    cache: TrendCache | None = None,
) -> dict[str, Any]:
    """Error-budget minutes consumed per service and period (incidents that carry a figure)."""
    service = _names(service)
    starts = periods.last_periods(as_of, period, count)
    labels = [label for label, _ in starts]
    live = labels
    cells: dict[str, Any] = {}
    if cache is not None:  # a period over by as_of holds the same sums for any later as_of
        whole = cache.whole(
            db,
            ("budget", period, service),
            labels,
            lambda missing: _budget_cells(db, None, period, missing, service),
        )
        live = [name for name, first in starts if periods.last_day(first, period) > as_of]
        cells = {label: whole[label] for label in labels if label not in live}
    if live:
        cells.update(_budget_cells(db, as_of, period, live, service))
    table: dict[str, dict[str, tuple[float, int]]] = {}
    for label, by_service in cells.items():
        for name, value in by_service.items():
            table.setdefault(name, {})[label] = value
    items = [_budget_item(name, labels, row) for name, row in table.items()]
    items.sort(key=lambda i: (-i["minutes"], i["service"]))
    return {"period": period, "as_of": as_of.isoformat(), "periods": labels, "items": items}


def _budget_cells(
    db: Session, as_of: dt.date | None, period: Period, labels: list[str], service: Names
) -> dict[str, dict[str, tuple[float, int]]]:
    """label -> service -> (minutes, incidents with a figure), started by `as_of`."""
    scope = Scope(service=service)
    columns = scope.table.c
    label, minutes = columns[f"started_{period}"], columns.error_budget_minutes
    statement = (
        select(label, columns.service, func.sum(minutes), func.count(minutes))
        .where(label.in_(labels), *scope.conditions(as_of))
        .group_by(label, columns.service)
    )
    result: dict[str, dict[str, tuple[float, int]]] = {}
    for name, owner, total, n in db.execute(statement):
        result.setdefault(name, {})[owner] = (float(total or 0), int(n))
    return result


def _budget_item(name: str, labels: list[str], cells: dict[str, tuple[float, int]]) -> Any:
    series = []
    for label in labels:
        minutes, measured = cells.get(label, (0.0, 0))
        series.append({"period": label, "minutes": minutes, "incidents_with_budget": measured})
    return {"service": name, "minutes": sum(p["minutes"] for p in series), "series": series}


def totals(db: Session) -> list[dict[str, Any]]:
    """All-time totals per (service, error class) for the Prometheus exposition."""
    facts = IncidentClass.__table__.c  # type: ignore[attr-defined]
    statement = select(
        facts.service,
        facts.error_class,
        func.count(),
        func.sum(facts.ttr_seconds),
        func.count(facts.ttr_seconds),
        func.sum(facts.error_budget_minutes),
    ).group_by(facts.service, facts.error_class)
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
