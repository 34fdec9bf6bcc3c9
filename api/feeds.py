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

from api.deps import FiltersDep, LibraryDep, Mode
from indexer import usecases
from indexer.reports import sending
from indexer.search import MAX_QUERY_LENGTH

router = APIRouter(include_in_schema=False)
ATOM = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml; charset=utf-8"
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


@router.get("/feed.atom")
def postmortem_feed(
    request: Request,
    library: LibraryDep,
    chosen: FiltersDep,
    q: Annotated[str, Query(max_length=MAX_QUERY_LENGTH)] = "",
    mode: Mode = "fulltext",
) -> Response:
    """New postmortems, newest first; with `q` and the search filters, a search to follow."""
    base = sending.base_url(library.settings)
    ids = usecases.newest_matches(library, q, chosen, mode)
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
        usecases.postmortem_entries(library, base, ids),
    )


# --- The digest, one entry per week


@router.get("/digest.atom")
def digest_feed(library: LibraryDep) -> Response:
    """The last eight weekly digests (anonymised, never restricted postmortems)."""
    base = sending.base_url(library.settings)
    entries = usecases.digest_entries(library, base)
    return _feed(
        base,
        "Incident digest · Postmortem Library",
        f"{base}/digest.atom",
        f"{base}/digest",
        entries,
    )
