"""Which failure classes deserve reliability investment: the seed's scoring model.

For each error class with incidents in the window:

    frequency  = incidents * 90 / days                 (incidents per quarter)
    impact     = mean error-budget minutes per incident (those that carry a figure)
    gap        = median started -> detected, minutes    (over 5: "instrument better")
    maturity   = the most recent postmortem's mitigation_maturity for the class
    score      = frequency * max(impact, 1) * MATURITY_WEIGHT[maturity] * (1.25 if gap > 5 else 1)

frequency * impact is the error budget the class burns per quarter; manual
runbooks and slow detection raise the priority. docs/metrics.md repeats this.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from indexer import periods
from indexer.db import catalog
from indexer.db.models import IncidentClass, PostmortemLink, PostmortemRow

DETECTION_GAP_MINUTES = 5
DETECTION_WEIGHT = 1.25
MATURITY_WEIGHT = {"none": 1.0, "manual": 1.0, "unknown": 1.0, "runbook": 0.75, "automated": 0.5}


_FACTS: Any = IncidentClass.__table__.c  # type: ignore[attr-defined]


def _per_class(db: Session, window: periods.Window) -> dict[str, tuple[int, float | None, int]]:
    """error class -> (incidents, mean error-budget minutes, incidents with a detection time)."""
    statement = (
        select(
            _FACTS.error_class,
            func.count(),
            func.avg(_FACTS.error_budget_minutes),
            func.count(_FACTS.ttd_seconds),
        )
        .where(_FACTS.started_day >= window.since, _FACTS.started_day <= window.until)
        .group_by(_FACTS.error_class)
    )
    rows = db.execute(statement)
    return {
        name: (int(n), None if avg is None else float(avg), int(detected))
        for name, n, avg, detected in rows
    }


def _detection_gap(db: Session, window: periods.Window, name: str, n: int) -> float | None:
    """Median started->detected seconds of the class's `n` timed incidents in the window.

    ORDER BY ... OFFSET on the (error_class, ttd_seconds, started_day) index:
    an index walk per class instead of sorting the window.
    """
    if n == 0:
        return None
    gap = _FACTS.ttd_seconds
    middle = db.execute(
        select(gap)
        .where(_FACTS.error_class == name, gap.is_not(None))
        .where(_FACTS.started_day >= window.since, _FACTS.started_day <= window.until)
        .order_by(gap)
        .limit(2 - n % 2)
        .offset((n - 1) // 2)
    )
    values = [float(value) for (value,) in middle]
    return sum(values) / len(values)


def _maturity(db: Session, as_of: dt.date) -> dict[str, str]:
    """error class -> mitigation maturity of its most recent readable postmortem that states one."""
    rows = db.execute(
        select(col(PostmortemLink.value), col(PostmortemRow.mitigation_maturity))
        .join(PostmortemRow, col(PostmortemRow.id) == col(PostmortemLink.postmortem_id))
        .where(col(PostmortemLink.kind) == "error_class", col(PostmortemRow.date) <= as_of)
        .where(col(PostmortemRow.mitigation_maturity).is_not(None))
        # A shared report: what restricted postmortems say stays with their audience.
        .where(catalog.visible(frozenset()))
        .order_by(col(PostmortemRow.date).desc(), col(PostmortemRow.id))
    )
    result: dict[str, str] = {}
    for error_class, maturity in rows:
        result.setdefault(error_class, maturity)
    return result


def rank(db: Session, as_of: dt.date, days: int = 90) -> dict[str, Any]:
    """Error classes by score, highest first, each with the components of its score."""
    window = periods.window(as_of, days)
    maturity = _maturity(db, as_of)
    items = []
    for name, (incidents, impact, detected) in _per_class(db, window).items():
        gap = _detection_gap(db, window, name, detected)
        items.append(_item(name, incidents * 90 / days, impact, gap, maturity.get(name)))
    items.sort(key=lambda item: (-item["score"], item["error_class"]))
    return {"since": window.since.isoformat(), "until": window.until.isoformat(), "items": items}


def _item(
    name: str, frequency: float, impact: float | None, gap: float | None, maturity: str | None
) -> dict[str, Any]:
    gap_minutes = None if gap is None else gap / 60
    slow = gap_minutes is not None and gap_minutes > DETECTION_GAP_MINUTES
    weight = MATURITY_WEIGHT.get(maturity or "unknown", 1.0)
    score = frequency * max(impact or 0.0, 1.0) * weight * (DETECTION_WEIGHT if slow else 1.0)
    return {
        "error_class": name,
        "frequency_per_quarter": round(frequency, 2),
        "impact_minutes": None if impact is None else round(impact, 2),
        "detection_gap_minutes": None if gap_minutes is None else round(gap_minutes, 2),
        "instrument_better": slow,
        "mitigation_maturity": maturity or "unknown",
        "maturity_weight": weight,
        "score": round(score, 2),
    }
