"""Atom feeds (RFC 4287): new postmortems, any search, and the weekly digest.

Feed readers fetch without credentials, so every feed is the outsider's view
whoever asks: restricted postmortems never appear, and no feed asks who is
reading. Links are absolute, built from `PML_PUBLIC_URL` (else the address
`pml serve` listens on), never from the request's Host header, which a
client chooses. Dates come from the library (the incident date, the file's
last commit, else when indexing saw the file's text change), so a feed
changes only when the library does.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from api.deps import FiltersDep, LibraryDep, Mode, SessionDep
from indexer import periods
from indexer.db import catalog, store
from indexer.db.models import HistoryRow, PostmortemRow
from indexer.filters import Filters
from indexer.format import markdown
from indexer.reports import digest, sending
from indexer.search import MAX_QUERY_LENGTH

router = APIRouter(include_in_schema=False)
ATOM = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml; charset=utf-8"
ENTRIES = 30
DIGEST_WEEKS = 8
SUMMARY_CHARS = 500
OUTSIDER: frozenset[str] = frozenset()
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

ET.register_namespace("", ATOM)


def _tag(name: str) -> str:
    return f"{{{ATOM}}}{name}"


def _add(parent: ET.Element, name: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, _tag(name), attributes)
    if text is not None:
        element.text = text
    return element


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _feed(
    base: str, title: str, self_url: str, page_url: str, entries: list[dict[str, Any]]
) -> Response:
    feed = ET.Element(_tag("feed"))
    _add(feed, "id", self_url)
    _add(feed, "title", title)
    updated = max((entry["updated"] for entry in entries), default=EPOCH)
    _add(feed, "updated", _stamp(updated))
    _add(_add(feed, "author"), "name", "Postmortem Library")
    _add(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _add(feed, "link", rel="alternate", type="text/html", href=page_url)
    _add(feed, "generator", "Postmortem Library", uri=base)
    for entry in entries:
        item = _add(feed, "entry")
        _add(item, "id", entry["url"])
        _add(item, "title", entry["title"])
        _add(item, "updated", _stamp(entry["updated"]))
        if "published" in entry:
            _add(item, "published", _stamp(entry["published"]))
        _add(item, "link", rel="alternate", type="text/html", href=entry["url"])
        for term, label in entry.get("categories", []):
            _add(item, "category", term=term, label=label)
        if "html" in entry:
            _add(item, "content", entry["html"], type="html")
        else:
            _add(item, "summary", entry["summary"])
    body = ET.tostring(feed, encoding="unicode", xml_declaration=False)
    return Response('<?xml version="1.0" encoding="utf-8"?>\n' + body, media_type=MEDIA_TYPE)


# --- Postmortems: new ones, or the matches of a search


def _updated(db: Session, rows: list[PostmortemRow]) -> dict[str, dt.datetime]:
    """Each postmortem's last commit (from the git history), else when indexing saw its
    text change (`store._changed_at`: the incident day until it is edited)."""
    paths = {row.path: row.id for row in rows}
    history = db.exec(select(HistoryRow).where(col(HistoryRow.path).in_(list(paths)))).all()
    found = {paths[entry.path]: entry.updated_at for entry in history}
    return {
        row.id: _aware(found[row.id])
        if row.id in found
        else max(_midnight(row.date), _aware(row.indexed_at))
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


def _postmortem_entries(db: Session, base: str, ids: list[str]) -> list[dict[str, Any]]:
    rows = {
        row.id: row for row in db.exec(select(PostmortemRow).where(col(PostmortemRow.id).in_(ids)))
    }
    ordered = [rows[i] for i in ids if i in rows]
    updated = _updated(db, ordered)
    links = store.links_for(db, [row.id for row in ordered])
    entries = []
    for row in ordered:
        facts = [
            row.date.isoformat(),
            row.severity or "",
            ", ".join(links[row.id].get("service", [])),
        ]
        categories = [(f"service:{s}", s) for s in links[row.id].get("service", [])]
        categories += [(f"error_class:{c}", c) for c in links[row.id].get("error_class", [])]
        categories += [(f"severity:{row.severity}", row.severity)] if row.severity else []
        entries.append(
            {
                "url": f"{base}/postmortems/{row.id}",
                "title": _marked(row),
                "updated": updated[row.id],
                "published": _midnight(row.date),
                "categories": categories,
                "summary": " · ".join(f for f in facts if f) + "\n\n" + _summary(row),
            }
        )
    return entries


def _matching_ids(
    library: LibraryDep, db: Session, text: str, chosen: Filters, mode: str
) -> list[str]:
    """The newest matches: all filtered postmortems without words, else the best 100 by date.

    A feed is shared: published postmortems only, unless `status` asks for others.
    """
    chosen = chosen.shared()
    if not text.strip():
        _, page = catalog.list_postmortems(db, chosen, limit=ENTRIES, groups=OUTSIDER)
        return [item["id"] for item in page]
    results = library.searcher_for(OUTSIDER).search(
        text, chosen, mode=mode, limit=100, groups=OUTSIDER
    )
    newest = sorted(results.results, key=lambda hit: (hit.date, hit.id), reverse=True)
    return [hit.id for hit in newest[:ENTRIES]]


@router.get("/feed.atom")
def postmortem_feed(
    request: Request,
    library: LibraryDep,
    db: SessionDep,
    chosen: FiltersDep,
    q: Annotated[str, Query(max_length=MAX_QUERY_LENGTH)] = "",
    mode: Mode = "fulltext",
) -> Response:
    """New postmortems, newest first; with `q` and the search filters, a search to follow."""
    base = sending.base_url(library.settings)
    ids = _matching_ids(library, db, q, chosen, mode)
    # The feed's own address keeps only what it understood, in a stable order.
    params = [("q", q)] if q else []
    params += [(name, value) for name, values in sorted(chosen.values.items()) for value in values]
    window = (("since", chosen.since), ("until", chosen.until))
    params += [(name, day.isoformat()) for name, day in window if day]
    query = urlencode(params)
    described = f"“{q}”" if q else "New postmortems"
    narrowed = [value for name, value in params if name != "q"]
    if narrowed:
        described += f" ({', '.join(narrowed)})"
    return _feed(
        base,
        f"{described} · Postmortem Library",
        f"{base}/feed.atom" + (f"?{query}" if query else ""),
        f"{base}/" + (f"?{query}" if query else ""),
        _postmortem_entries(db, base, ids),
    )


# --- The digest, one entry per week


@router.get("/digest.atom")
def digest_feed(library: LibraryDep, db: SessionDep) -> Response:
    """The last eight weekly digests (anonymised, never restricted postmortems)."""
    base = sending.base_url(library.settings)
    today = dt.datetime.now(dt.UTC).date()
    entries = []
    for week, monday in reversed(periods.last_periods(today, "week", DIGEST_WEEKS)):
        result = digest.build(db, week, base_url=base)
        dates = [dt.date.fromisoformat(item["date"]) for item in result.items if item["this_week"]]
        entries.append(
            {
                "url": f"{base}/digest?week={week}",
                "title": sending.heading(result),
                "updated": _midnight(max([monday, *dates])),
                "html": result.html,
            }
        )
    return _feed(
        base,
        "Incident digest · Postmortem Library",
        f"{base}/digest.atom",
        f"{base}/digest",
        entries,
    )
