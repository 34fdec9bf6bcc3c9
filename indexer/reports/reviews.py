"""What each meeting of the incident review cycle needs, as of a date, and the action-item list.

- weekly: the last 7 days' incidents (a SEV1/SEV2 without a postmortem
  flagged) and postmortems, action items without an owner or due date,
  overdue items (also grouped by owner, with days overdue), suspected
  duplicate incidents, near-misses;
- monthly: the trends (30-day failure modes and services, 12 months of
  MTTR/MTTA/MTTD, each with the figure its verdict compares, and error budget);
- quarterly: resilience targets and the investment ranking, joined by error class.

Each takes an optional `metrics.Scope` (one service and/or error class).

Postmortems and their action items pass through `catalog.visible(groups)`,
like every other surface: a restricted postmortem shows only to its audience.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from indexer import periods
from indexer.db import catalog, store
from indexer.db.models import (
    ActionItemRow,
    IncidentClass,
    IncidentRow,
    PostmortemLink,
    PostmortemRow,
)
from indexer.filters import Filters
from indexer.incidents import UNCLASSIFIED, nearmiss
from indexer.reports import investments, metrics, targets

OPEN = ("open", "in_progress")
SEVERE = ("SEV1", "SEV2")  # incidents that need a postmortem
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
        "postmortem_hidden": hidden,
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
    owner: str | Sequence[str] | None = None,
    overdue: bool = False,
    unassigned: bool = False,
    scope: metrics.Scope | None = None,
) -> list[dict[str, Any]]:
    """Action items of visible postmortems, soonest due first (undated last)."""
    query = (
        select(ActionItemRow, PostmortemRow.title)
        .join(PostmortemRow, col(PostmortemRow.id) == col(ActionItemRow.postmortem_id))
        .where(catalog.visible(groups))
    )
    for kind, values in _scope_links(scope):
        named = select(PostmortemLink.postmortem_id).where(
            col(PostmortemLink.kind) == kind, col(PostmortemLink.value).in_(values)
        )
        query = query.where(col(ActionItemRow.postmortem_id).in_(named))
    if status:
        query = query.where(col(ActionItemRow.status).in_(status))
    if owner:
        owners = [owner] if isinstance(owner, str) else list(owner)
        query = query.where(col(ActionItemRow.owner).in_(owners))
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
            "days_overdue": (as_of - item.due).days if overdue and item.due else None,
        }
        for item, t in db.exec(query.limit(MAX_ITEMS))
    ]


def _scope_links(scope: metrics.Scope | None) -> list[tuple[str, list[str]]]:
    """The (link kind, values) pairs a postmortem needs one value of each to be in `scope`."""
    if scope is None:
        return []
    pairs = [("service", scope.service), ("error_class", scope.error_class)]
    return [(kind, list(values)) for kind, values in pairs if values]


def by_owner(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Overdue items grouped by owner: most items first, then the longest overdue.

    A review walks owner by owner ("Dana, three of yours are late"), not one long list.
    """
    grouped: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        grouped.setdefault(item["owner"] or "", []).append(item)
    result: list[dict[str, Any]] = []
    for owner, owned in grouped.items():
        owned.sort(key=lambda item: (-(item["days_overdue"] or 0), item["postmortem"]))
        most = max((item["days_overdue"] or 0) for item in owned)
        result.append(
            {"owner": owner or None, "count": len(owned), "most_days_overdue": most, "items": owned}
        )
    result.sort(key=lambda g: (-int(g["count"]), -int(g["most_days_overdue"]), g["owner"] or ""))
    return result


def _in_scope(incident: dict[str, Any], scope: metrics.Scope) -> bool:
    if scope.service and incident["service"] not in scope.service:
        return False
    return not scope.error_class or bool(set(scope.error_class) & set(incident["error_classes"]))


def weekly(
    db: Session, as_of: dt.date, groups: frozenset[str], scope: metrics.Scope | None = None
) -> dict[str, Any]:
    scope = scope or metrics.Scope()
    window = periods.window(as_of, 7)
    incidents = [i for i in incidents_between(db, window, groups) if _in_scope(i, scope)]
    for incident in incidents:
        # A SEV1 or SEV2 needs a postmortem. One filed with a postmortem the reader cannot
        # read is not flagged (its row already says so, the same whether that postmortem
        # is restricted or absent, so outsiders learn nothing).
        incident["postmortem_missing"] = (
            incident["severity"] in SEVERE
            and incident["postmortem"] is None
            and not incident["postmortem_hidden"]
        )
    chosen = dict(_scope_links(scope))
    filters = Filters(chosen, since=window.since, until=window.until).shared()
    _, postmortems = catalog.list_postmortems(db, filters, limit=catalog.MAX_PAGE, groups=groups)
    overdue = action_items(db, as_of, groups, overdue=True, scope=scope)
    near_misses = nearmiss.groups(db, as_of, since=window.since)
    if scope.service:
        near_misses = [group for group in near_misses if group["service"] in scope.service]
    return {
        "since": window.since.isoformat(),
        "until": window.until.isoformat(),
        "scope": scope.echo(),
        "latest_incident_day": None if incidents else latest_incident_day(db, as_of, scope),
        "incidents": incidents,
        "postmortems": postmortems,
        "action_items_missing_owner_or_due": action_items(
            db, as_of, groups, unassigned=True, scope=scope
        ),
        "overdue_action_items": overdue,
        "overdue_by_owner": by_owner(overdue),
        "suspected_duplicates": suspected_duplicates(incidents),
        "near_misses": near_misses,
    }


def latest_incident_day(db: Session, as_of: dt.date, scope: metrics.Scope) -> str | None:
    """The last day up to `as_of` with an incident in `scope`: where an empty week can jump.

    A library whose history stops before today (the shipped sample) would
    otherwise open its weekly review on an empty week with nowhere to go.
    """
    latest = select(func.max(scope.table.c.started_day)).where(*scope.conditions(as_of))
    day = db.execute(latest).scalar()
    return day.isoformat() if day else None


def with_recent(report: dict[str, Any]) -> dict[str, Any]:
    """Adds the figure the verdict is about: the mean median of the last three periods, minutes.

    "Time to acknowledge regressing, +14%" says little without "4.8 min".
    """
    medians = [point[f"{report['metric']}_seconds_median"] for point in report["series"]]
    recent = [m for m in medians[-metrics.TREND_PERIODS :] if m is not None]
    report["recent_median_minutes"] = round(sum(recent) / len(recent) / 60, 1) if recent else None
    return report


def monthly(
    db: Session,
    as_of: dt.date,
    cache: metrics.TrendCache | None = None,
    scope: metrics.Scope | None = None,
) -> dict[str, Any]:
    scope = scope or metrics.Scope()
    durations = {
        metric: with_recent(metrics.duration_trend(db, metric, as_of, scope=scope, cache=cache))
        for metric in ("mttr", "mtta", "mttd")
    }
    return {
        "as_of": as_of.isoformat(),
        "scope": scope.echo(),
        "failure_modes": metrics.failure_modes(db, as_of, 30, scope),
        "services": metrics.services(db, as_of, 30, scope),
        **durations,
        "error_budget": metrics.error_budget(db, as_of, service=scope.service, cache=cache),
    }


def quarterly(
    db: Session, library: Path, as_of: dt.date, scope: metrics.Scope | None = None
) -> dict[str, Any]:
    """Targets and the ranking, joined: each ranked class carries its targets' status."""
    scope = scope or metrics.Scope()
    found = targets.report(db, library, as_of)["items"]
    if scope.service:
        found = [t for t in found if t["service"] in scope.service]
    if scope.error_class:
        found = [t for t in found if t["error_class"] in scope.error_class]
    ranking = investments.rank(db, as_of, 90)
    top = ranking["items"][0]["score"] if ranking["items"] else 0
    for rank, item in enumerate(ranking["items"], start=1):
        item["rank"] = rank
        item["share_of_top"] = round(100 * item["score"] / top) if top else 0
        item["targets"] = [
            {"id": t["id"], "status": t["status"]}
            for t in found
            if t["error_class"] == item["error_class"]
        ]
    if scope.error_class:
        ranking["items"] = [i for i in ranking["items"] if i["error_class"] in scope.error_class]
    return {
        "as_of": as_of.isoformat(),
        "scope": scope.echo(),
        "targets": found,
        "investments": ranking,
    }
