"""HTML pages for reading the library: search, a postmortem, its presenter pack.

Each page calls the same `indexer` functions as its JSON twin in
`api/routes.py` and renders a template; htmx asks for the results fragment
only (see `web.fragment_for`), and the answer tells it which URL to show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from api import web
from api.routes import GroupsDep, LibraryDep, Mode, SessionDep, Values
from indexer import catalog, githistory, pack, related, reviews
from indexer.hybrid import SemanticUnavailable
from indexer.search import MAX_QUERY_LENGTH, Filters, Results, SearchQueryError

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 10
FACETS = {
    "service": "Service",
    "error_class": "Error class",
    "contributing_factor": "Contributing factor",
    "severity": "Severity",
    "year": "Year",
}
RELATED = 5
Page = Annotated[int, Query(ge=1, le=1000)]


@dataclass
class SearchState:
    """What the search page shows, and the URLs that change one thing about it."""

    q: str = ""
    mode: str = "hybrid"
    filters: dict[str, list[str]] = field(default_factory=dict)
    page: int = 1

    def url(self, filters: dict[str, list[str]] | None = None, page: int = 1) -> str:
        params: list[tuple[str, str]] = [("q", self.q)] if self.q else []
        if self.mode != "hybrid":
            params.append(("mode", self.mode))
        for name, values in (self.filters if filters is None else filters).items():
            params += [(name, value) for value in values]
        if page > 1:
            params.append(("page", str(page)))
        return "/?" + urlencode(params) if params else "/"

    def active(self, name: str, value: str) -> bool:
        return value in self.filters.get(name, [])

    def toggle(self, name: str, value: str) -> str:
        """The URL with `value` of facet `name` switched on or off (back to page 1)."""
        values = self.filters.get(name, [])
        changed = [v for v in values if v != value] if value in values else [*values, value]
        return self.url({**self.filters, name: changed})

    def without(self, name: str) -> str:
        return self.url({k: v for k, v in self.filters.items() if k != name})

    def at_page(self, page: int) -> str:
        return self.url(page=page)


@router.get("/", response_class=HTMLResponse)
def search_page(
    request: Request,
    library: LibraryDep,
    groups: GroupsDep,
    q: Annotated[str, Query(max_length=MAX_QUERY_LENGTH)] = "",
    mode: Mode = "hybrid",
    service: Values = [],  # noqa: B006 (FastAPI copies query defaults)
    error_class: Values = [],  # noqa: B006
    contributing_factor: Values = [],  # noqa: B006
    severity: Values = [],  # noqa: B006
    year: Values = [],  # noqa: B006
    page: Page = 1,
) -> HTMLResponse:
    """Search with facets; htmx swaps in only the results while the reader types."""
    chosen = {
        "service": service,
        "error_class": error_class,
        "contributing_factor": contributing_factor,
        "severity": severity,
        "year": year,
    }
    state = SearchState(q.strip(), mode, {k: v for k, v in chosen.items() if v}, page)
    results, error, status = _search(library, groups, state)
    context = {"nav": "search", "state": state, "results": results, "error": error}
    context.update(facet_names=FACETS, page_size=PAGE_SIZE, title="Search")
    fragment = web.fragment_for(request, "results")
    response = web.render(request, "_results.html" if fragment else "search.html", context, status)
    if fragment:
        response.headers["hx-push-url"] = state.url(page=page)
    return response


def _search(
    library: Any, groups: frozenset[str], state: SearchState
) -> tuple[Results | None, str | None, int]:
    """(results, error message, status): a query we cannot run is explained on the page."""
    try:
        results = library.searcher.search(
            state.q,
            Filters(**state.filters),
            mode=state.mode,
            limit=PAGE_SIZE,
            offset=(state.page - 1) * PAGE_SIZE,
            groups=groups,
        )
    except SearchQueryError as error:
        return None, str(error), 400
    except SemanticUnavailable as error:
        return None, f"{error}. Switch to full-text to search now.", 503
    return results, None, 200


def _record(db: Any, library: Any, postmortem_id: str, groups: frozenset[str]) -> Any:
    record = catalog.get_postmortem(db, postmortem_id, groups=groups)
    if record is None:
        raise HTTPException(404, f"no postmortem with id '{postmortem_id}'")
    record["history"] = githistory.describe(db, record["path"], library.settings.git_web_url)
    record["incidents"] = reviews.linked_incidents(db, postmortem_id)
    return record


@router.get("/postmortems/{postmortem_id}", response_class=HTMLResponse)
def postmortem_page(
    request: Request, postmortem_id: str, library: LibraryDep, db: SessionDep, groups: GroupsDep
) -> HTMLResponse:
    """One postmortem: body, metadata, timeline, action items, incidents, related ones."""
    record = _record(db, library, postmortem_id, groups)
    found = related.related(
        library.engine, library.semantic, postmortem_id, limit=RELATED, groups=groups
    )
    context = {"record": record, "related": found or [], "title": record["title"]}
    context.update(semantic=library.semantic.ready, today=date.today().isoformat())
    return web.render(request, "postmortem.html", context)


def _pack(library: Any, postmortem_id: str, groups: frozenset[str]) -> dict[str, Any]:
    found = pack.build(library.engine, library.semantic, postmortem_id, groups=groups)
    if found is None:
        raise HTTPException(404, f"no postmortem with id '{postmortem_id}'")
    return found


@router.get("/postmortems/{postmortem_id}/pack", response_class=HTMLResponse)
def pack_page(
    request: Request, postmortem_id: str, library: LibraryDep, groups: GroupsDep
) -> HTMLResponse:
    """The presenter pack, laid out for the screen and for print."""
    found = _pack(library, postmortem_id, groups)
    context = {"pack": found, "title": f"Presenter pack: {found['postmortem']['title']}"}
    return web.render(request, "pack.html", context)


@router.get("/postmortems/{postmortem_id}/pack.md")
def pack_download(postmortem_id: str, library: LibraryDep, groups: GroupsDep) -> Response:
    """The presenter pack as one Markdown file."""
    found = _pack(library, postmortem_id, groups)
    name = quote(f"{postmortem_id}-pack.md")
    return Response(
        pack.to_markdown(found),
        media_type="text/markdown; charset=utf-8",
        headers={"content-disposition": f"attachment; filename*=UTF-8''{name}"},
    )
