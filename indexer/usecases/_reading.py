"""Reading the library: search with sort and paging, the list, one postmortem, its relatives.

Every door (the JSON routes, the pages, the CLI, the feeds) reads postmortems
through these functions, so their answers cannot drift apart. `groups` is
the reader's groups: restricted postmortems show only to their audience.
"""

from __future__ import annotations

import difflib
from datetime import date
from typing import Any, Literal

from indexer.db import catalog, store
from indexer.filters import Filters
from indexer.indexing import githistory
from indexer.library import Library
from indexer.reports import pack, reviews
from indexer.search import SORTED_WINDOW as SORTED_WINDOW  # sort=date's window
from indexer.search import Results, SearchRequest, duplicates, related
from indexer.usecases._errors import NotFound

Sort = Literal["relevance", "date"]
RelatedScope = Literal["all", "past"]
LIST_MAX_PAGE, LIST_MAX_OFFSET = catalog.MAX_PAGE, catalog.MAX_OFFSET  # of the list


def search(
    library: Library,
    text: str,
    chosen: Filters,
    *,
    groups: frozenset[str] | None,
    mode: str = "hybrid",
    limit: int = 10,
    offset: int = 0,
    sort: Sort = "relevance",
    as_typed: bool = False,
) -> Results:
    """One search as the reader sees the library (`groups` None: everything, as the CLI).

    `sort="date"` orders the `SORTED_WINDOW` best matches newest first, then pages.
    Without words it is the library's list, a shared view: drafts and postmortems
    in review are left out unless a `status` filter asks for them.
    """
    if not text.strip():
        chosen = chosen.shared()
    seen = groups or frozenset()
    request = SearchRequest(text, chosen, seen, mode, sort, limit, offset, as_typed)
    return library.searcher_for(groups).run(request)


def search_answer(results: Results, limit: int, offset: int) -> dict[str, Any]:
    """The JSON of a search (GET /api/search and `pml search --json`)."""
    body = results.as_dict()
    body.update(limit=limit, offset=offset)
    return body


def list_postmortems(
    library: Library, chosen: Filters, groups: frozenset[str], limit: int = 20, offset: int = 0
) -> dict[str, Any]:
    """Postmortems, newest first, filtered by vocabulary and date (one page).

    Published ones only, unless `status` asks for drafts or postmortems in review.
    """
    with store.session(library.engine) as db:
        total, items = catalog.list_postmortems(
            db, chosen.shared(), limit=limit, offset=offset, groups=groups
        )
    return {"total": total, "limit": limit, "offset": offset, "items": items}


def unfinished_count(library: Library, chosen: Filters, groups: frozenset[str]) -> int:
    """How many drafts and postmortems in review the shared list leaves out."""
    searcher = library.searcher_for(groups)
    return searcher.search("", chosen.unfinished(), limit=1, groups=groups).total


def not_found(library: Library, postmortem_id: str, groups: frozenset[str]) -> NotFound:
    """The error for an id the reader cannot see, with the closest ids they can."""
    with store.session(library.engine) as db:
        close = catalog.close_ids(db, postmortem_id, groups)
    return NotFound(f"no postmortem with id '{postmortem_id[:200]}'", close)


def postmortem_record(
    library: Library, postmortem_id: str, groups: frozenset[str]
) -> dict[str, Any]:
    """One postmortem as the reader may see it: metadata, rendered body, action items with
    their ticket links, git history and linked incidents. NotFound otherwise."""
    with store.session(library.engine) as db:
        record = catalog.get_postmortem(db, postmortem_id, groups=groups)
        if record is not None:
            for item in record["action_items"]:
                item["ticket_url"] = library.settings.ticket_link(item["ticket"])
            web_url = library.settings.git_web_url
            record["history"] = githistory.describe(db, record["path"], web_url)
            record["incidents"] = reviews.linked_incidents(db, postmortem_id)
    if record is None:
        raise not_found(library, postmortem_id, groups)
    return record


def related_postmortems(
    library: Library,
    postmortem_id: str,
    groups: frozenset[str],
    limit: int = 5,
    scope: RelatedScope = "all",
) -> dict[str, Any]:
    """The most related postmortems, earlier and later (`scope="past"`: earlier only)."""
    items = related(
        library.engine,
        library.semantic,
        postmortem_id,
        limit=limit,
        groups=groups,
        past_only=scope == "past",
    )
    if items is None:
        raise NotFound(f"no postmortem with id '{postmortem_id}'")
    return {"id": postmortem_id, "semantic": library.semantic.ready, "items": items}


def presenter_pack(
    library: Library,
    postmortem_id: str,
    groups: frozenset[str],
    add: list[str] | None = None,
    remove: list[str] | None = None,
) -> dict[str, Any]:
    """The presenter pack of one postmortem, with the precedents the presenter chose."""
    found = pack.build(
        library.engine,
        library.semantic,
        postmortem_id,
        groups=groups,
        add=add or [],
        remove=remove or [],
    )
    if found is None:
        raise not_found(library, postmortem_id, groups)
    return found


def class_pack(library: Library, name: str, groups: frozenset[str]) -> dict[str, Any]:
    """Everything the library learned about one error class, oldest first."""
    found = pack.build_for_class(library.engine, name, groups=groups)
    if found is None:
        close = [c for c in library.taxonomy.error_classes if c != name]
        raise NotFound(
            f"no postmortem you may read has the error class '{name[:200]}'",
            difflib.get_close_matches(name, close, 5, 0.6),
            "/error-classes/{}/pack",
        )
    return found


def duplicate_pairs(
    library: Library, groups: frozenset[str], threshold: float, since: date | None = None
) -> list[dict[str, Any]]:
    """Pairs of postmortems that say nearly the same thing (needs semantic search)."""
    return duplicates(
        library.engine, library.semantic, threshold=threshold, groups=groups, since=since
    )
