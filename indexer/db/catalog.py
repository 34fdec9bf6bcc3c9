"""Reading postmortems back out of the database: listings and full records.

Both the API and the UI call these, so visibility is decided in one place:
a restricted postmortem is returned only to a reader in one of its audience
groups. With no groups (access control off) restricted postmortems are
served to nobody.
"""

from __future__ import annotations

import difflib
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, exists, false, or_
from sqlmodel import Session, col, func, select

from indexer.db import store
from indexer.db.models import ActionItemRow, ExternalRef, PostmortemLink, PostmortemRow
from indexer.filters import BY_NAME, Filters
from indexer.format import markdown
from indexer.format.postmortem import TIMESTAMP_FIELDS

MAX_PAGE = 100
# Far beyond any library (git sync stops at 50,000); keeps SQL integers in range.
MAX_OFFSET = 1_000_000


def visible(groups: frozenset[str]) -> Any:
    """SQL condition: the postmortem is internal, or restricted to one of `groups`."""
    internal = col(PostmortemRow.visibility) == "internal"
    if not groups:
        return internal
    allowed = exists().where(
        and_(
            col(PostmortemLink.postmortem_id) == col(PostmortemRow.id),
            col(PostmortemLink.kind) == "audience",
            col(PostmortemLink.value).in_(sorted(groups)),
        )
    )
    return or_(internal, allowed)


def count_visible(db: Session, groups: frozenset[str] | None) -> int:
    """How many postmortems `groups` may read (None: all of them, for admins)."""
    statement = select(func.count()).select_from(PostmortemRow)
    if groups is not None:
        statement = statement.where(visible(groups))
    return int(db.exec(statement).one())


def _filtered(statement: Any, chosen: Filters, groups: frozenset[str]) -> Any:
    statement = statement.where(visible(groups))
    for name, values in chosen.active().items():
        source = BY_NAME[name].source
        if source == "link":
            statement = statement.where(
                exists().where(
                    and_(
                        col(PostmortemLink.postmortem_id) == col(PostmortemRow.id),
                        col(PostmortemLink.kind) == name,
                        col(PostmortemLink.value).in_(values),
                    )
                )
            )
        elif source == "column":
            statement = statement.where(col(getattr(PostmortemRow, name)).in_(values))
        else:  # the year of the incident date
            statement = statement.where(or_(*(_in_year(year) for year in values)))
    if chosen.since:
        statement = statement.where(PostmortemRow.date >= chosen.since)
    if chosen.until:
        statement = statement.where(PostmortemRow.date <= chosen.until)
    return statement


def _in_year(year: str) -> Any:
    if not (year.isdigit() and len(year) == 4):
        return false()  # no postmortem is from year "x"; the search index agrees
    return col(PostmortemRow.date).between(date(int(year), 1, 1), date(int(year), 12, 31))


def summary(row: PostmortemRow, links: dict[str, list[str]]) -> dict[str, Any]:
    """The short form of a postmortem used in listings."""
    return {
        "id": row.id,
        "title": row.title,
        "date": row.date.isoformat(),
        "status": row.status,
        "severity": row.severity,
        "type": row.type,
        "services": _ordered(row, "services", links.get("service", [])),
        "error_classes": _ordered(row, "error_classes", links.get("error_class", [])),
        "contributing_factors": _ordered(
            row, "contributing_factors", links.get("contributing_factor", [])
        ),
        "path": row.path,
    }


def _ordered(row: PostmortemRow, key: str, values: list[str]) -> list[str]:
    """Values in the order the author wrote them (the link table keeps no order)."""
    written = row.front_matter.get(key)
    if isinstance(written, list):
        order = {str(value).strip(): position for position, value in enumerate(written)}
        return sorted(values, key=lambda value: order.get(value, len(order)))
    return sorted(values)


def list_postmortems(
    db: Session,
    filters: Filters,
    *,
    limit: int = 20,
    offset: int = 0,
    groups: frozenset[str] = frozenset(),
) -> tuple[int, list[dict[str, Any]]]:
    """(total, page) of postmortems, newest first."""
    limit = max(1, min(limit, MAX_PAGE))
    total = db.exec(
        _filtered(select(func.count()).select_from(PostmortemRow), filters, groups)
    ).one()
    statement = _filtered(select(PostmortemRow), filters, groups)
    statement = statement.order_by(col(PostmortemRow.date).desc(), col(PostmortemRow.id))
    rows = list(db.exec(statement.offset(max(0, offset)).limit(limit)))
    links = store.links_for(db, [row.id for row in rows])
    return int(total), [summary(row, links[row.id]) for row in rows]


ACTION_HEADINGS = {"action items", "actions", "follow-ups", "follow-up actions", "remediations"}


def close_ids(db: Session, identifier: str, groups: frozenset[str], n: int = 5) -> list[str]:
    """Ids the reader may see that look like `identifier`: for a mistyped link's 404."""
    wanted = identifier.strip().lower()[:200]
    if not wanted:
        return []
    known = list(db.exec(select(PostmortemRow.id).where(visible(groups))))
    lowered = {k.lower(): k for k in known}
    close = [lowered[k] for k in difflib.get_close_matches(wanted, list(lowered), n, 0.6)]
    # An id is date-slug: the slug typed without its date still finds it.
    slugs = [k for k in known if k.lower().endswith(wanted) and k not in close]
    return (close + slugs)[:n]


def get_postmortem(
    db: Session, identifier: str, *, groups: frozenset[str] = frozenset(), today: date | None = None
) -> dict[str, Any] | None:
    """Everything about one postmortem, or None if it does not exist or is not visible."""
    row = db.exec(
        select(PostmortemRow).where(PostmortemRow.id == identifier).where(visible(groups))
    ).first()
    if row is None:
        return None
    links = store.links_for(db, [row.id])[row.id]
    refs: dict[str, list[str]] = {}
    for ref in db.exec(select(ExternalRef).where(ExternalRef.postmortem_id == row.id)):
        refs.setdefault(ref.source, []).append(ref.ref)
    items = db.exec(
        select(ActionItemRow)
        .where(ActionItemRow.postmortem_id == row.id)
        .order_by(col(ActionItemRow.position))
    )
    today = today or date.today()
    actions = [action_item(item, today) for item in items]
    # Shown once: the table of the front matter's items, not the body's list too.
    shown_body = markdown.drop_sections(row.body, ACTION_HEADINGS) if actions else row.body
    record = summary(row, links)
    record.update(
        {
            "visibility": row.visibility,
            "teams": _ordered(row, "teams", links.get("team", [])),
            "tags": _ordered(row, "tags", links.get("tag", [])),
            "authors": _ordered(row, "authors", links.get("author", [])),
            "owner": row.owner,
            "trigger": row.trigger,
            "detection": {"method": row.detection_method, "alert": row.detection_alert},
            "timestamps": _timestamps(row),
            "durations": durations(row),
            "impact": {
                "customer_facing": row.customer_facing,
                "summary": row.impact_summary,
                "slo": row.slo,
                "error_budget_minutes": row.error_budget_minutes,
            },
            "mitigation_maturity": row.mitigation_maturity,
            "external_refs": refs,
            "related": _visible_ids(db, _ordered(row, "related", links.get("related", [])), groups),
            "duplicate_of": next(iter(_visible_ids(db, [row.duplicate_of or ""], groups)), None),
            "action_items": actions,
            "problems": store.problems_of(db, row.path),
            "body_markdown": row.body,
            "body_html": markdown.render_html(shown_body),
        }
    )
    return record


def _visible_ids(db: Session, ids: list[str], groups: frozenset[str]) -> list[str]:
    """The ids the reader may see, in order: a link must not reveal a restricted id."""
    if not any(ids):
        return []
    statement = select(PostmortemRow.id).where(col(PostmortemRow.id).in_(ids))
    shown = set(db.exec(statement.where(visible(groups))))
    return [identifier for identifier in ids if identifier in shown]


def action_item(item: ActionItemRow, today: date) -> dict[str, Any]:
    overdue = bool(item.due and item.due < today and item.status in ("open", "in_progress"))
    return {
        "id": item.item_id,
        "title": item.title,
        "type": item.type,
        "priority": item.priority,
        "owner": item.owner,
        "due": item.due.isoformat() if item.due else None,
        "status": item.status,
        "ticket": item.ticket,
        "overdue": overdue,
    }


def _timestamps(row: PostmortemRow) -> dict[str, str | None]:
    result = {}
    for name in TIMESTAMP_FIELDS:
        value = store.as_utc(getattr(row, name))
        result[name] = value.isoformat() if value else None
    return result


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    start, end = store.as_utc(start), store.as_utc(end)
    if start is None or end is None:
        return None
    return int((end - start).total_seconds())


def durations(row: PostmortemRow) -> dict[str, int | None]:
    """Seconds from the start of the incident (see docs/metrics.md for the names)."""
    return {
        "time_to_detect_seconds": _seconds(row.started_at, row.detected_at),
        "time_to_acknowledge_seconds": _seconds(row.detected_at, row.acknowledged_at),
        "time_to_mitigate_seconds": _seconds(row.started_at, row.mitigated_at),
        "time_to_resolve_seconds": _seconds(row.started_at, row.resolved_at),
    }
