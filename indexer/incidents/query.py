"""What was stored: the incident list and one incident, as every reader may see them.

    chosen = Filters({"service": ["checkout"]}, fields=INCIDENT_FIELDS)
    total, items = query.incidents(db, groups, chosen)

An incident joined to a restricted postmortem is still an incident (its
vendor gave it a title and times), but a reader outside that postmortem's
audience sees it exactly as if the postmortem did not exist: no postmortem
id, and only its own error class (else "unclassified"). Classes are never
taken from a restricted postmortem at all (`model._postmortem_classes`):
they feed the shared trends, so insiders see the source's own class too.
Filters and counts follow the same rule, so the outsider's list is identical
to the one of a library without the restricted postmortems.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, exists, func, or_
from sqlmodel import Session, col, select

from indexer.db import catalog, store
from indexer.db.models import IncidentClass, IncidentRow, PostmortemRow
from indexer.filters import INCIDENT_FIELDS, Filters
from indexer.format.postmortem import TIMESTAMP_FIELDS
from indexer.incidents.model import UNCLASSIFIED

MAX_PAGE = 500


def _shown(groups: frozenset[str]) -> Any:
    """SQL: the incident's postmortem (if any) is one this reader may see."""
    visible = select(col(PostmortemRow.id)).where(catalog.visible(groups))
    return or_(
        col(IncidentRow.postmortem_id).is_(None), col(IncidentRow.postmortem_id).in_(visible)
    )


def _class_condition(error_class: str, groups: frozenset[str]) -> Any:
    """SQL: the incident counts under `error_class` for this reader."""
    listed = exists().where(
        col(IncidentClass.incident_id) == col(IncidentRow.id),
        col(IncidentClass.error_class) == error_class,
    )
    own = col(IncidentRow.error_class) == error_class
    if error_class == UNCLASSIFIED:
        own = or_(own, col(IncidentRow.error_class).is_(None))
    return or_(and_(_shown(groups), listed), and_(~_shown(groups), own))


def _column_condition(name: str, values: list[str], groups: frozenset[str]) -> Any:
    """Names match whatever their case (`Orders`, `sev1`)."""
    column = IncidentRow.__table__.c[name]  # type: ignore[attr-defined]
    return func.lower(column).in_([value.strip().lower() for value in values])


def _classes_condition(name: str, values: list[str], groups: frozenset[str]) -> Any:
    return or_(*(_class_condition(value.strip().lower(), groups) for value in values))


# How each source of `INCIDENT_FIELDS` reads its values: SQL for "any of these values".
READERS: dict[str, Callable[[str, list[str], frozenset[str]], Any]] = {
    "column": _column_condition,
    "incident_class": _classes_condition,
}
_unread = [f.name for f in INCIDENT_FIELDS if f.source not in READERS]
assert not _unread, f"incident filter fields without a reader: {_unread}"


def _conditions(chosen: Filters, groups: frozenset[str]) -> list[Any]:
    """SQL for `chosen` (over `INCIDENT_FIELDS`); `since`/`until` bound the start day."""
    found: list[Any] = []
    for field in INCIDENT_FIELDS:
        values = chosen.get(field.name)
        if values:
            found.append(READERS[field.source](field.name, values, groups))
    if chosen.since:
        found.append(col(IncidentRow.started_day) >= chosen.since)
    if chosen.until:
        found.append(col(IncidentRow.started_day) <= chosen.until)
    return found


def choices(db: Session, groups: frozenset[str]) -> dict[str, list[str]]:
    """The values each filter can take, as stored: what the page's selects offer.

    Error classes are those the reader's list can show (`_item`): those of
    incidents whose postmortem the reader may see, and the own class of the rest.
    """
    found: dict[str, list[str]] = {}
    for name in ("source", "service", "severity"):
        column = getattr(IncidentRow.__table__.c, name)  # type: ignore[attr-defined]
        values = db.exec(select(column).where(column.is_not(None)).distinct())
        found[name] = sorted({str(value) for value in values})
    listed = select(IncidentClass.error_class).join(
        IncidentRow, col(IncidentRow.id) == col(IncidentClass.incident_id)
    )
    classes = {str(c) for c in db.exec(listed.where(_shown(groups)).distinct())}
    # An incident whose postmortem the reader may not see shows its own class only (`_item`).
    own = select(IncidentRow.error_class).where(~_shown(groups)).distinct()
    classes |= {str(c or UNCLASSIFIED) for c in db.exec(own)}
    found["error_class"] = sorted(classes)
    return found


def incidents(
    db: Session,
    groups: frozenset[str],
    chosen: Filters,
    *,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[dict[str, Any]]]:
    """(matching count, one page of incidents), newest first."""
    conditions = _conditions(chosen, groups)
    total = db.exec(select(func.count()).select_from(IncidentRow).where(*conditions)).one()
    rows = db.exec(
        select(IncidentRow)
        .where(*conditions)
        .order_by(col(IncidentRow.started_at).desc(), col(IncidentRow.id).desc())
        .offset(offset)
        .limit(min(limit, MAX_PAGE))
    ).all()
    return int(total), _items(db, list(rows), groups)


def incident(
    db: Session, groups: frozenset[str], source: str, source_id: str
) -> dict[str, Any] | None:
    """One incident by its vendor and vendor id, or None."""
    row = db.exec(
        select(IncidentRow).where(
            col(IncidentRow.source) == source, col(IncidentRow.source_id) == source_id
        )
    ).first()
    return _items(db, [row], groups)[0] if row is not None else None


def _items(db: Session, rows: list[IncidentRow], groups: frozenset[str]) -> list[dict[str, Any]]:
    ids = [row.id for row in rows]
    classes: dict[int, list[str]] = {}
    for link in db.exec(select(IncidentClass).where(col(IncidentClass.incident_id).in_(ids))):
        classes.setdefault(link.incident_id, []).append(link.error_class)
    linked = {row.postmortem_id for row in rows if row.postmortem_id}
    shown = (
        set(
            db.exec(
                select(PostmortemRow.id).where(
                    col(PostmortemRow.id).in_(linked), catalog.visible(groups)
                )
            ).all()
        )
        if linked
        else set()
    )
    return [_item(row, classes.get(row.id or 0, []), shown) for row in rows]


def _item(row: IncidentRow, classes: list[str], shown: set[str]) -> dict[str, Any]:
    hidden = row.postmortem_id is not None and row.postmortem_id not in shown
    if hidden:  # as if the postmortem did not exist: only the incident's own class
        classes = [row.error_class or UNCLASSIFIED]
    stamps = {name: store.as_utc(getattr(row, name)) for name in TIMESTAMP_FIELDS}
    return {
        "source": row.source,
        "source_id": row.source_id,
        "title": row.title,
        "service": row.service,
        "severity": row.severity,
        **{name: value.isoformat() if value else None for name, value in stamps.items()},
        "error_classes": sorted(classes),
        "postmortem": None if hidden else row.postmortem_id,
    }
