"""Pages that gather everything about one thing: a service, an error class, the action items.

    page = browse.service(db, taxonomy, "orders", as_of, groups)

Each is built from the functions the lists, trends and reviews already use
(`catalog.list_postmortems`, `incidents.query`, `metrics`, `reviews`,
`nearmiss`), narrowed to the one service or error class, so a figure here is
the figure there; every count carries the URL of the list behind it.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections import Counter
from typing import Any
from urllib.parse import urlencode

from sqlmodel import Session, col, select

from indexer.db import catalog
from indexer.db.models import IncidentRow, PostmortemLink, PostmortemRow
from indexer.filters import INCIDENT_FIELDS, Filters
from indexer.format.taxonomy import Taxonomy
from indexer.incidents import nearmiss, query
from indexer.reports import metrics, reviews, tables

RECENT_INCIDENTS = 10
TREND_DAYS = 90
TREND_MONTHS = 6
OPEN = ["open", "in_progress"]


def search_url(**filters: str) -> str:
    """The library's list (the search page) with these filters."""
    return "/?" + urlencode(filters)


def known_services(db: Session, taxonomy: Taxonomy) -> list[str]:
    """Services the taxonomy lists, and those incidents were stored under."""
    stored = db.exec(select(IncidentRow.service).distinct())
    return sorted(set(taxonomy.services) | {str(s) for s in stored if s})


def close_names(name: str, known: list[str]) -> list[str]:
    """Known names that look like `name`, for a 404's did-you-mean."""
    lowered = {k.lower(): k for k in known}
    return [lowered[k] for k in difflib.get_close_matches(name.lower(), list(lowered), 5, 0.6)]


def service(
    db: Session, taxonomy: Taxonomy, name: str, as_of: dt.date, groups: frozenset[str]
) -> dict[str, Any] | None:
    """Everything about one service; None if neither the taxonomy nor any incident names it."""
    if name not in known_services(db, taxonomy):
        return None
    term = taxonomy.services.get(name)
    scope = metrics.Scope(service=name)
    near_misses = [g for g in nearmiss.groups(db, as_of) if g["service"] == name]
    return {
        "kind": "service",
        "name": name,
        "description": term.description if term else "",
        "team": term.team if term else None,
        **_common(db, scope, as_of, groups, {"service": name}),
        "near_misses": near_misses,
    }


def error_class(
    db: Session, taxonomy: Taxonomy, name: str, as_of: dt.date, groups: frozenset[str]
) -> dict[str, Any] | None:
    """Everything about one error class; None if the taxonomy does not list it."""
    term = taxonomy.error_classes.get(name)
    if term is None:
        return None
    scope = metrics.Scope(error_class=name)
    return {
        "kind": "error_class",
        "name": name,
        "title": term.title or name,
        "description": term.description,
        "aliases": list(term.aliases),
        "pack_url": f"/error-classes/{name}/pack",
        **_common(db, scope, as_of, groups, {"error_class": name}),
    }


def _common(
    db: Session,
    scope: metrics.Scope,
    as_of: dt.date,
    groups: frozenset[str],
    chosen: dict[str, str],
) -> dict[str, Any]:
    """Postmortems, recent incidents, trends and open action items within `scope`."""
    listed = Filters({name: [value] for name, value in chosen.items()}).shared()
    total, postmortems = catalog.list_postmortems(db, listed, limit=catalog.MAX_PAGE, groups=groups)
    narrowed = Filters(
        {"service": list(scope.service), "error_class": list(scope.error_class)},
        fields=INCIDENT_FIELDS,
    )
    incident_count, incidents = query.incidents(db, groups, narrowed, limit=RECENT_INCIDENTS)
    modes = metrics.failure_modes(db, as_of, TREND_DAYS, scope)
    by_service = metrics.services(db, as_of, TREND_DAYS, scope)
    mttr = reviews.with_recent(
        metrics.duration_trend(db, "mttr", as_of, period="month", count=TREND_MONTHS, scope=scope)
    )
    items = reviews.action_items(db, as_of, groups, status=OPEN, scope=scope)
    return {
        "as_of": as_of.isoformat(),
        "postmortems": {"total": total, "items": postmortems, "url": search_url(**chosen)},
        "incidents": {
            "total": incident_count,
            "items": incidents,
            "url": tables.incidents_url(**chosen),
        },
        "trends": {
            "failure_modes": tables.failure_modes(modes, chosen),
            "services": tables.services(by_service, chosen),
            "mttr": tables.duration(mttr, chosen),
            "mttr_verdict": {
                k: mttr[k] for k in ("trend", "trend_change", "recent_median_minutes")
            },
            "url": "/trends?" + urlencode(chosen),
        },
        "action_items": {
            "total": len(items),
            "overdue": sum(1 for item in items if item["overdue"]),
            "items": items,
            "url": "/action-items?" + urlencode(chosen),
        },
    }


def error_classes(
    db: Session, taxonomy: Taxonomy, as_of: dt.date, groups: frozenset[str]
) -> dict[str, Any]:
    """Every error class of the taxonomy with its postmortems and recent incidents."""
    shown = select(PostmortemRow.id).where(catalog.visible(groups))
    shown = shown.where(col(PostmortemRow.status) == "published")
    readable = set(db.exec(shown))
    links = select(PostmortemLink.postmortem_id, PostmortemLink.value)
    postmortems = Counter(
        str(value)
        for identifier, value in db.exec(links.where(col(PostmortemLink.kind) == "error_class"))
        if identifier in readable
    )
    modes = metrics.failure_modes(db, as_of, TREND_DAYS)
    recent = {item["error_class"]: item for item in modes["items"]}
    items = []
    for name, term in sorted(taxonomy.error_classes.items()):
        seen = recent.get(name, {})
        items.append(
            {
                "name": name,
                "title": term.title or name,
                "description": term.description,
                "postmortems": postmortems.get(name, 0),
                "postmortems_url": search_url(error_class=name),
                "incidents": seen.get("incidents", 0),
                "previous": seen.get("previous", 0),
                "incidents_url": tables.incidents_url(
                    error_class=name, since=modes["since"], until=modes["until"]
                ),
                "url": f"/error-classes/{name}",
            }
        )
    window = {"since": modes["since"], "until": modes["until"]}
    return {"as_of": as_of.isoformat(), **window, "items": items}


def action_items(
    db: Session,
    as_of: dt.date,
    groups: frozenset[str],
    *,
    owner: str | None = None,
    overdue: bool = False,
    status: list[str] | None = None,
    scope: metrics.Scope | None = None,
) -> dict[str, Any]:
    """The action items page: the filtered items, and the owners to choose from."""
    items = reviews.action_items(
        db, as_of, groups, status=status, owner=owner, overdue=overdue, scope=scope
    )
    everyone = reviews.action_items(db, as_of, groups, status=OPEN)
    owners = sorted({item["owner"] for item in everyone if item["owner"]})
    return {
        "as_of": as_of.isoformat(),
        "total": len(items),
        "overdue": sum(1 for item in items if item["overdue"]),
        "items": items,
        "owners": owners,
    }
