"""Resilience targets (`targets.yaml` beside the postmortems) and how each one is going.

A target says: this error class (or service) had `baseline` incidents a
quarter; after `investment`, started in quarter `start`, it will have at
most `target` a quarter by quarter `deadline`. `evaluate` counts the actual
incidents per quarter as of a date and gives a status; docs/metrics.md has
the rules, and "did_not_move_the_metric" is the cue to revisit the root cause.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from indexer import periods
from indexer.db import store
from indexer.db.models import IncidentClass, IncidentRow
from indexer.format import frontmatter

FILE_NAME = "targets.yaml"
SYNCED_KEY = "git_targets_yaml"  # meta: the followed repository's targets.yaml
STATUSES = ("met", "on_track", "at_risk", "missed", "did_not_move_the_metric")


class TargetsError(ValueError):
    """targets.yaml cannot be used; the message names the target and the field."""


@dataclass(frozen=True)
class Target:
    id: str
    baseline: float
    target: float
    start: dt.date
    deadline: dt.date
    error_class: str | None = None
    service: str | None = None
    owner: str | None = None
    investment: str | None = None

    @property
    def quarters(self) -> list[dt.date]:
        """First days of the quarters from `start` to `deadline`, both included."""
        result, quarter = [], self.start
        while quarter <= self.deadline:
            result.append(quarter)
            quarter = periods.next_quarter(quarter)
        return result


def load(library: Path, synced: str | None = None) -> list[Target]:
    """The library's targets; no file means no targets.

    `synced` is the text of the followed repository's targets.yaml (git mode,
    stored by the sync under `SYNCED_KEY`), used when the folder has none.
    """
    path = library / FILE_NAME
    if path.is_file():
        text = path.read_text(encoding="utf-8")
    elif synced:
        text = synced
    else:
        return []
    try:
        data = frontmatter.load(text)
    except frontmatter.FrontMatterError as error:
        raise TargetsError(f"{path}:{error.line}: {error.message}") from None
    entries = data.get("targets") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise TargetsError(f"{path}: expected a mapping with a 'targets' list")
    return [_target(entry, position) for position, entry in enumerate(entries)]


def _number(entry: dict[str, Any], key: str, name: str) -> float:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise TargetsError(f"target {name}: {key} must be a number >= 0, got {value!r}")
    return float(value)


def _target(entry: Any, position: int) -> Target:
    if not isinstance(entry, dict) or not entry.get("id"):
        raise TargetsError(f"target #{position + 1}: needs an id")
    name = str(entry["id"])
    if bool(entry.get("error_class")) == bool(entry.get("service")):
        raise TargetsError(f"target {name}: give exactly one of error_class or service")
    try:
        start = periods.parse_quarter(str(entry.get("start")))
        deadline = periods.parse_quarter(str(entry.get("deadline")))
    except periods.PeriodError as error:
        raise TargetsError(f"target {name}: {error}") from None
    if deadline < start:
        raise TargetsError(f"target {name}: deadline is before start")
    return Target(
        id=name,
        baseline=_number(entry, "baseline", name),
        target=_number(entry, "target", name),
        start=start,
        deadline=deadline,
        error_class=entry.get("error_class"),
        service=entry.get("service"),
        owner=entry.get("owner"),
        investment=entry.get("investment"),
    )


def _counts(db: Session, target: Target, as_of: dt.date) -> dict[str, int]:
    """Incidents per quarter label from the start quarter up to `as_of`."""
    model: Any = IncidentClass if target.error_class else IncidentRow
    columns = model.__table__.c
    statement = select(columns.started_quarter, func.count()).where(
        columns.started_day >= target.start, columns.started_day <= as_of
    )
    if target.error_class:
        statement = statement.where(columns.error_class == target.error_class)
    else:
        statement = statement.where(columns.service == target.service)
    rows = db.execute(statement.group_by(columns.started_quarter))
    return {label: int(n) for label, n in rows}


def status(target: Target, counts: list[int]) -> str:
    """The status from the counts of the complete quarters since the start, oldest first."""
    if not counts:
        return "on_track"  # nothing complete to judge yet
    latest, done = counts[-1], len(counts)
    total = len(target.quarters)
    if done == total:  # the deadline quarter is over
        if latest <= target.target:
            return "met"
        return "did_not_move_the_metric" if latest >= target.baseline else "missed"
    if latest <= target.target:
        return "met"
    if latest >= target.baseline:
        return "did_not_move_the_metric"
    allowed = target.baseline - (target.baseline - target.target) * done / total
    return "on_track" if latest <= allowed else "at_risk"


def evaluate(db: Session, target: Target, as_of: dt.date) -> dict[str, Any]:
    counts = _counts(db, target, as_of)
    quarters: list[dict[str, Any]] = []
    for first in target.quarters:
        if first > as_of:
            break
        label = periods.label(first, "quarter")
        complete = periods.next_quarter(first) - dt.timedelta(days=1) <= as_of
        quarters.append({"quarter": label, "incidents": counts.get(label, 0), "complete": complete})
    done = [int(q["incidents"]) for q in quarters if q["complete"]]
    return {
        "id": target.id,
        "error_class": target.error_class,
        "service": target.service,
        "baseline_per_quarter": target.baseline,
        "target_per_quarter": target.target,
        "start": periods.label(target.start, "quarter"),
        "deadline": periods.label(target.deadline, "quarter"),
        "owner": target.owner,
        "investment": target.investment,
        "quarters": quarters,
        "status": status(target, done),
    }


def report(db: Session, library: Path, as_of: dt.date) -> dict[str, Any]:
    synced = store.get_meta(db, SYNCED_KEY)
    items = [evaluate(db, target, as_of) for target in load(library, synced)]
    return {"as_of": as_of.isoformat(), "items": items}
