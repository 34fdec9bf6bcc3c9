"""The near-miss log: events caught before they hurt anyone, grouped so repeats stand out.

Entries come from people (`POST /api/near-misses`) and from Alertmanager
(`indexer.incidents.alerts`: an alert that fired and resolved inside the SLO window
with nobody acknowledging it). Two entries are the same near-miss when they
name the same service and the same failure once case, punctuation and
numbers are ignored ("Replica lag 45s" and "replica lag 90 s"). At the third
entry of a group the group is marked "postmortem recommended": the same
failure mode has shown itself three times for free.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from indexer.db.models import AlertRow, NearMissRow
from indexer.format.taxonomy import Taxonomy

RECOMMEND_AT = 3
_WORD = re.compile(r"[a-z]+")
_LIMITS = {"service": 128, "what_failed": 500, "caught_by": 500, "corrective_action": 2000}


class NearMissError(ValueError):
    """A near-miss entry is incomplete; the message says which field and why."""


@dataclass
class NearMiss:
    date: dt.date
    service: str
    what_failed: str
    caught_by: str
    corrective_action: str | None = None
    source: str = "manual"
    alert_fingerprint: str | None = None

    def check(self, today: dt.date) -> None:
        for name, limit in _LIMITS.items():
            value = getattr(self, name)
            if name != "corrective_action" and not (value and value.strip()):
                raise NearMissError(f"{name} is required")
            if value and len(value) > limit:
                raise NearMissError(f"{name} is longer than {limit} characters")
        if self.date > today:
            raise NearMissError(f"date {self.date} is in the future")


def group_key(service: str, what_failed: str) -> str:
    """Service plus the failure's words without case, punctuation or numbers."""
    words = " ".join(_WORD.findall(what_failed.lower()))
    return f"{service.strip().lower()}|{words}"


def record(db: Session, entry: NearMiss, *, today: dt.date | None = None) -> dict[str, Any]:
    """Store one entry; returns it with its group's count and recommendation."""
    entry.check(today or dt.date.today())
    row = NearMissRow(
        date=entry.date,
        service=entry.service.strip(),
        what_failed=entry.what_failed.strip(),
        caught_by=entry.caught_by.strip(),
        corrective_action=(entry.corrective_action or "").strip() or None,
        group_key=group_key(entry.service, entry.what_failed),
        source=entry.source,
        alert_fingerprint=entry.alert_fingerprint,
    )
    db.add(row)
    db.flush()
    repeats = db.exec(
        select(func.count()).select_from(NearMissRow).where(NearMissRow.group_key == row.group_key)
    ).one()
    return {
        **_entry(row),
        "group_count": int(repeats),
        "postmortem_recommended": repeats >= RECOMMEND_AT,
    }


def _entry(row: NearMissRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "date": row.date.isoformat(),
        "service": row.service,
        "what_failed": row.what_failed,
        "caught_by": row.caught_by,
        "corrective_action": row.corrective_action,
        "source": row.source,
    }


def groups(db: Session, as_of: dt.date, since: dt.date | None = None) -> list[dict[str, Any]]:
    """Groups of entries dated up to `as_of` (and from `since`): repeats and recommended first.

    The count is over the whole log up to `as_of`, so a group seen twice
    before the window and once inside it is still recommended.
    """
    counted = (
        select(
            NearMissRow.group_key,
            func.count().label("n"),
            func.min(NearMissRow.date),
            func.max(NearMissRow.date),
        )
        .where(col(NearMissRow.date) <= as_of)
        .group_by(col(NearMissRow.group_key))
    )
    if since is not None:
        counted = counted.having(func.max(NearMissRow.date) >= since)
    summary = {key: (int(n), first, last) for key, n, first, last in db.exec(counted)}
    entries: dict[str, list[NearMissRow]] = {key: [] for key in summary}
    rows = db.exec(
        select(NearMissRow)
        .where(col(NearMissRow.group_key).in_(list(summary)), col(NearMissRow.date) <= as_of)
        .order_by(col(NearMissRow.date).desc(), col(NearMissRow.id).desc())
    )
    for row in rows:
        entries[row.group_key].append(row)
    result = [_group(key, *summary[key], entries[key]) for key in summary]
    result.sort(key=lambda g: str(g["last_date"]), reverse=True)
    result.sort(key=lambda g: -int(g["count"]))  # stable: most repeated, then most recent
    return result


def _group(
    key: str, count: int, first: dt.date, last: dt.date, rows: list[NearMissRow]
) -> dict[str, Any]:
    latest = rows[0]
    return {
        "key": key,
        "service": latest.service,
        "what_failed": latest.what_failed,
        "count": count,
        "first_date": first.isoformat(),
        "last_date": last.isoformat(),
        "postmortem_recommended": count >= RECOMMEND_AT,
        "entries": [_entry(row) for row in rows],
    }


def log(db: Session, as_of: dt.date, days: int | None = None) -> dict[str, Any]:
    """The near-miss log as of a day: groups (within the last `days` when given), recommended."""
    since = as_of - dt.timedelta(days=days - 1) if days else None
    found = groups(db, as_of, since)
    return {
        "as_of": as_of.isoformat(),
        "since": since.isoformat() if since else None,
        "groups": found,
        "recommended": sum(1 for group in found if group["postmortem_recommended"]),
    }


def latest_day(now: dt.datetime | None = None) -> dt.date:
    """The latest date a person may log: tomorrow in UTC.

    A near-miss logged late in the evening west of UTC is still "today" for
    its author, and east of UTC "today" can be tomorrow's UTC date.
    """
    return (now or dt.datetime.now(dt.UTC)).date() + dt.timedelta(days=1)


def remap_services(db: Session, vocabulary: Taxonomy) -> int:
    """Move near-misses and stored alerts logged under a name a taxonomy alias now claims.

    Like incidents (`indexer.incidents.model.remap_services`): only names no
    service claims are revisited. A moved near-miss joins its service's group.
    """
    known = sorted(vocabulary.services)
    moved = 0
    for entry in db.exec(select(NearMissRow).where(col(NearMissRow.service).not_in(known))):
        target = vocabulary.service_for([entry.service])
        if target is not None:
            entry.service, entry.group_key = target, group_key(target, entry.what_failed)
            db.add(entry)
            moved += 1
    for alert in db.exec(select(AlertRow).where(col(AlertRow.service).not_in(known))):
        target = vocabulary.service_for([alert.service])
        if target is not None:
            alert.service = target
            db.add(alert)
    return moved
