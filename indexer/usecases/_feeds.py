"""What the Atom feeds list: new postmortems, a search's newest matches, the weekly digests.

Feed readers fetch without credentials, so everything here is the outsider's
view. Dates come from the library (the incident date, the file's last
commit, else when indexing saw the file's text change), not from the clock,
so a feed changes only when the library does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Session, col, select

from indexer.db import store
from indexer.db.models import HistoryRow, PostmortemRow
from indexer.filters import Filters
from indexer.format import markdown
from indexer.library import Library
from indexer.reports import sending
from indexer.usecases import _reading, _reports

ENTRIES = 30
SUMMARY_CHARS = 500
OUTSIDER: frozenset[str] = frozenset()


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def newest_matches(library: Library, text: str, chosen: Filters, mode: str) -> list[str]:
    """The newest matches: all filtered postmortems without words, else the best by date.

    A feed is shared: published postmortems only, unless `status` asks for others.
    """
    chosen = chosen.shared()
    if not text.strip():
        page = _reading.list_postmortems(library, chosen, OUTSIDER, limit=ENTRIES)
        return [item["id"] for item in page["items"]]
    found = _reading.search(
        library, text, chosen, groups=OUTSIDER, mode=mode, limit=ENTRIES, sort="date"
    )
    return [hit.id for hit in found.results]


def postmortem_entries(library: Library, base: str, ids: list[str]) -> list[dict[str, Any]]:
    """One feed entry per postmortem, in the order of `ids`."""
    with store.session(library.engine) as db:
        statement = select(PostmortemRow).where(col(PostmortemRow.id).in_(ids))
        rows = {row.id: row for row in db.exec(statement)}
        ordered = [rows[i] for i in ids if i in rows]
        updated = _updated(db, ordered)
        links = store.links_for(db, [row.id for row in ordered])
    return [_entry(row, links[row.id], updated[row.id], base) for row in ordered]


def _entry(
    row: PostmortemRow, links: dict[str, list[str]], updated: dt.datetime, base: str
) -> dict[str, Any]:
    facts = [row.date.isoformat(), row.severity or "", ", ".join(links.get("service", []))]
    categories = [(f"service:{s}", s) for s in links.get("service", [])]
    categories += [(f"error_class:{c}", c) for c in links.get("error_class", [])]
    categories += [(f"severity:{row.severity}", row.severity)] if row.severity else []
    return {
        "url": f"{base}/postmortems/{row.id}",
        "title": _marked(row),
        "updated": updated,
        "published": midnight(row.date),
        "categories": categories,
        "summary": " · ".join(f for f in facts if f) + "\n\n" + _summary(row),
    }


def _updated(db: Session, rows: list[PostmortemRow]) -> dict[str, dt.datetime]:
    """Each postmortem's last commit (from the git history), else when indexing saw its
    text change (`store._changed_at`: the incident day until it is edited)."""
    paths = {row.path: row.id for row in rows}
    history = db.exec(select(HistoryRow).where(col(HistoryRow.path).in_(list(paths)))).all()
    found = {paths[entry.path]: entry.updated_at for entry in history}
    return {
        row.id: _aware(found[row.id])
        if row.id in found
        else max(midnight(row.date), _aware(row.indexed_at))
        for row in rows
    }


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _summary(row: PostmortemRow) -> str:
    for section in markdown.sections(row.body):
        if section.heading.lower() == "summary":
            text = " ".join(section.text.split())
            return text if len(text) <= SUMMARY_CHARS else text[:SUMMARY_CHARS].rstrip() + "…"
    return row.impact_summary or ""


def _marked(row: PostmortemRow) -> str:
    """The title, with `[Draft]` or `[In review]` before it when it is not finished."""
    if row.status == "published":
        return row.title
    return f"[{row.status.replace('_', ' ').capitalize()}] {row.title}"


def digest_entries(library: Library, base: str) -> list[dict[str, Any]]:
    """The last weekly digests, newest first (anonymised, never restricted postmortems)."""
    entries = []
    for week, monday in _reports.recent_weeks():
        result = _reports.weekly_digest(library, week, base_url=base)
        dates = [dt.date.fromisoformat(item["date"]) for item in result.items if item["this_week"]]
        entries.append(
            {
                "url": f"{base}/digest?week={week}",
                "title": sending.heading(result),
                "updated": midnight(max([monday, *dates])),
                "html": result.html,
            }
        )
    return entries
