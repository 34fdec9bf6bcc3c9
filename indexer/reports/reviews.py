"""What each meeting of the incident review cycle needs, as of a date, and the action-item list.

- weekly: the last 7 days' incidents and postmortems, action items without an
  owner or due date, overdue items, suspected duplicate incidents, near-misses;
- monthly: the trends (30-day failure modes and services, 12 months of
  MTTR/MTTA/MTTD and error budget);
- quarterly: resilience targets and the investment ranking.

Postmortems and their action items pass through `catalog.visible(groups)`,
like every other surface: a restricted postmortem shows only to its audience.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from indexer import periods
from indexer.db import catalog, store
from indexer.db.models import ActionItemRow, IncidentClass, IncidentRow, PostmortemRow
from indexer.filters import Filters
from indexer.incidents import UNCLASSIFIED, nearmiss
from indexer.reports import investments, metrics, targets

OPEN = ("open", "in_progress")
DUPLICATE_MINUTES = 60
MAX_ITEMS = 500
RESTRICTED_TITLE = "(title hidden: its postmortem is not readable)"


def _incident(row: IncidentRow, classes: list[str], shown: set[str]) -> dict[str, Any]:
    """One incident; its postmortem, and the title it was filed with, only if the reader may see it.

    An incident filed with a `postmortem` the reader cannot read (restricted,
    or not in the library at all) hides its title, which often is that
    postmortem's title; both cases look the same, so a hidden title says
    nothing about whether a restricted postmortem exists. A restricted
    postmortem adds nothing else to its incidents for outsiders (no link, no
    error classes: see `incidents.model._postmortem_classes`).
    """
    started, resolved = store.as_utc(row.started_at), store.as_utc(row.resolved_at)
    hidden = row.postmortem_ref is not None and row.postmortem_ref not in shown
    return {
        "source": row.source,
        "source_id": row.source_id,
        "title": RESTRICTED_TITLE if hidden else row.title,
        "service": row.service,
        "severity": row.severity,
        "started_at": started.isoformat() if started else None,
        "resolved_at": resolved.isoformat() if resolved else None,
        "error_classes": sorted(classes),
        "postmortem": row.postmortem_id if row.postmortem_id in shown else None,
    }


def _visible_ids(db: Session, ids: set[str], groups: frozenset[str]) -> set[str]:
    if not ids:
        return set()
    query = select(PostmortemRow.id).where(col(PostmortemRow.id).in_(ids), catalog.visible(groups))
    return set(db.exec(query).all())


def incidents_between(
    db: Session, window: periods.Window, groups: frozenset[str]
) -> list[dict[str, Any]]:
    """Incidents started in the window, oldest first; postmortem links only when visible."""
    rows = db.exec(
        select(IncidentRow)
        .where(col(IncidentRow.started_day) >= window.since)
        .where(col(IncidentRow.started_day) <= window.until)
        .order_by(col(IncidentRow.started_at), col(IncidentRow.id))
        .limit(MAX_ITEMS)
    ).all()
    classes: dict[int, list[str]] = {}
    ids = [row.id for row in rows]
    for link in db.exec(select(IncidentClass).where(col(IncidentClass.incident_id).in_(ids))):
        classes.setdefault(link.incident_id, []).append(link.error_class)
    named = {r.postmortem_id for r in rows if r.postmortem_id}
    named |= {r.postmortem_ref for r in rows if r.postmortem_ref}
    shown = _visible_ids(db, named, groups)
    return [_incident(row, classes.get(row.id or 0, []), shown) for row in rows]


def linked_incidents(db: Session, postmortem_id: str) -> list[dict[str, Any]]:
    """Incidents joined to one postmortem, oldest first (the caller checked its visibility)."""
    rows = db.exec(
        select(IncidentRow)
        .where(col(IncidentRow.postmortem_id) == postmortem_id)
        .order_by(col(IncidentRow.started_at), col(IncidentRow.id))
        .limit(MAX_ITEMS)
    ).all()
    classes: dict[int, list[str]] = {}
    ids = [row.id for row in rows]
    for link in db.exec(select(IncidentClass).where(col(IncidentClass.incident_id).in_(ids))):
        classes.setdefault(link.incident_id, []).append(link.error_class)
    return [_incident(row, classes.get(row.id or 0, []), {postmortem_id}) for row in rows]


def suspected_duplicates(items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Incidents of one service and error class that started within an hour of each other."""
    groups: list[list[dict[str, Any]]] = []
    last: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for item in items:  # oldest first
        started = dt.datetime.fromisoformat(item["started_at"])
        for error_class in item["error_classes"]:
            if error_class == UNCLASSIFIED:
                continue
            key = (item["service"], error_class)
            group = last.get(key)
            previous = dt.datetime.fromisoformat(group[-1]["started_at"]) if group else None
            if group and previous and started - previous <= dt.timedelta(minutes=DUPLICATE_MINUTES):
                if item not in group:
                    group.append(item)
            else:
                last[key] = [item]
                groups.append(last[key])
    return [group for group in groups if len(group) > 1]


def action_items(
    db: Session,
    as_of: dt.date,
    groups: frozenset[str],
    *,
    status: list[str] | None = None,
    owner: str | None = None,
    overdue: bool = False,
    unassigned: bool = False,
) -> list[dict[str, Any]]:
    """Action items of visible postmortems, soonest due first (undated last)."""
    query = (
        select(ActionItemRow, PostmortemRow.title)
        .join(PostmortemRow, col(PostmortemRow.id) == col(ActionItemRow.postmortem_id))
        .where(catalog.visible(groups))
    )
    if status:
        query = query.where(col(ActionItemRow.status).in_(status))
    if owner:
        query = query.where(col(ActionItemRow.owner) == owner)
    if overdue:
        query = query.where(col(ActionItemRow.due) < as_of, col(ActionItemRow.status).in_(OPEN))
    if unassigned:
        missing = or_(col(ActionItemRow.owner).is_(None), col(ActionItemRow.due).is_(None))
        query = query.where(missing, col(ActionItemRow.status).in_(OPEN))
    query = query.order_by(
        col(ActionItemRow.due).is_(None), col(ActionItemRow.due), col(ActionItemRow.postmortem_id)
    )
    return [
        {
            **catalog.action_item(item, as_of),
            "postmortem": item.postmortem_id,
            "postmortem_title": t,
        }
        for item, t in db.exec(query.limit(MAX_ITEMS))
    ]


def weekly(db: Session, as_of: dt.date, groups: frozenset[str]) -> dict[str, Any]:
    window = periods.window(as_of, 7)
    incidents = incidents_between(db, window, groups)
    filters = Filters(since=window.since, until=window.until)
    _, postmortems = catalog.list_postmortems(db, filters, limit=catalog.MAX_PAGE, groups=groups)
    return {
        "since": window.since.isoformat(),
        "until": window.until.isoformat(),
        "incidents": incidents,
        "postmortems": postmortems,
        "action_items_missing_owner_or_due": action_items(db, as_of, groups, unassigned=True),
        "overdue_action_items": action_items(db, as_of, groups, overdue=True),
        "suspected_duplicates": suspected_duplicates(incidents),
        "near_misses": nearmiss.groups(db, as_of, since=window.since),
    }


def monthly(db: Session, as_of: dt.date, cache: metrics.TrendCache | None = None) -> dict[str, Any]:
    return {
        "as_of": as_of.isoformat(),
        "failure_modes": metrics.failure_modes(db, as_of, 30),
        "services": metrics.services(db, as_of, 30),
        "mttr": metrics.duration_trend(db, "mttr", as_of, cache=cache),
        "mtta": metrics.duration_trend(db, "mtta", as_of, cache=cache),
        "mttd": metrics.duration_trend(db, "mttd", as_of, cache=cache),
        "error_budget": metrics.error_budget(db, as_of, cache=cache),
    }


def quarterly(db: Session, library: Path, as_of: dt.date) -> dict[str, Any]:
    return {
        "as_of": as_of.isoformat(),
        "targets": targets.report(db, library, as_of)["items"],
        "investments": investments.rank(db, as_of, 90),
    }
