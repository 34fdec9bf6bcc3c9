"""Reading the library: search, the postmortem list, one postmortem, its pack and relatives.

Every page has a JSON twin under /api built from the same function
(`run_search`, `postmortem_record`, `build_pack`); the page only renders
a template around it. htmx asks the search page for the results fragment
only (see `web.fragment_for`), and the answer tells it which URL to show.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from api import schemas, web
from api.deps import FiltersDep, GroupsDep, LibraryDep, Limit, Mode, Offset
from indexer import filters, usecases
from indexer.filters import Filters
from indexer.library import Library
from indexer.reports import pack
from indexer.search import (
    DUPLICATE_THRESHOLD,
    MAX_QUERY_LENGTH,
    SearchQueryError,
    SemanticUnavailable,
)

router = APIRouter()
PAGE_SIZE = 10
RELATED = 5
FACET_LABELS = {f.name: f.label for f in filters.FIELDS}
Text = Annotated[str, Query(max_length=MAX_QUERY_LENGTH, description='Words, "phrases", -excluded')]
SearchMode = Annotated[Mode, Query(description="hybrid (default), fulltext or semantic")]
Page = Annotated[int, Query(ge=1, le=1000)]
AsTyped = Annotated[
    bool, Query(description="search the query as typed, without correcting misspelled words")
]


class SearchHit(BaseModel):
    id: str
    title: str
    date: str
    severity: str | None
    services: list[str]
    error_classes: list[str]
    score: float
    snippet: str
    section: str | None
    strength: Literal["strong", "partial", "weak"]
    coverage: float
    similarity: float | None
    named: bool
    status: Literal["draft", "in_review", "published"]


class SearchResponse(BaseModel):
    query: str
    total: int
    took_ms: float
    limit: int
    offset: int
    results: list[SearchHit]
    facets: dict[str, dict[str, int]]
    mode: Mode
    did_you_mean: str | None = None
    corrected: bool = False


Sort = Annotated[
    usecases.Sort,
    Query(
        description=f"relevance (default), or date: the {usecases.SORTED_WINDOW} best, newest first"
    ),
]


# Facets whose values have an order of their own; the rest are listed by count.
NATURAL_ORDER: dict[str, Callable[[str], Any]] = {
    "severity": lambda value: value,
    "year": lambda value: -int(value or 0),
}


def ordered_facets(facets: dict[str, dict[str, int]]) -> dict[str, list[tuple[str, int]]]:
    """Facet values as the page lists them: severity SEV1 first, years newest first."""
    ordered = {}
    for name, counts in facets.items():
        natural = NATURAL_ORDER.get(name)
        if natural is None:
            ordered[name] = list(counts.items())
        else:
            ordered[name] = sorted(counts.items(), key=lambda item: natural(item[0]))
    return ordered


@router.get("/api/search", response_model=SearchResponse, tags=["search"])
def search(
    library: LibraryDep,
    groups: GroupsDep,
    chosen: FiltersDep,
    q: Text = "",
    limit: Limit = 10,
    offset: Offset = 0,
    mode: SearchMode = "hybrid",
    sort: Sort = "relevance",
    as_typed: AsTyped = False,
) -> Response:
    """Search with filters and facet counts: full-text, semantic, or both fused.

    A word that no postmortem contains is corrected from the library's own
    words: then `corrected` is true, `did_you_mean` is the query searched, and
    `as_typed=true` searches the query exactly as typed.
    """
    results = usecases.search(
        library, q, chosen, groups=groups, mode=mode, limit=limit, offset=offset, sort=sort,
        as_typed=as_typed,
    )  # fmt: skip
    body = usecases.search_answer(results, limit, offset)
    # The hot path: skip re-validating our own dataclasses (the schema still documents it).
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")


@dataclass
class SearchState:
    """What the search page shows, and the URLs that change one thing about it."""

    q: str = ""
    mode: str = "hybrid"
    filters: dict[str, list[str]] = field(default_factory=dict)
    page: int = 1
    since: date | None = None
    until: date | None = None
    sort: str = "relevance"
    as_typed: bool = False

    def window(self) -> list[tuple[str, str]]:
        """The date bounds as query parameters (kept by every link and the form)."""
        bounds = (("since", self.since), ("until", self.until))
        return [(name, value.isoformat()) for name, value in bounds if value]

    def url(
        self,
        filters: dict[str, list[str]] | None = None,
        page: int = 1,
        sort: str | None = None,
        window: bool = True,
    ) -> str:
        params: list[tuple[str, str]] = [("q", self.q)] if self.q else []
        if self.mode != "hybrid":
            params.append(("mode", self.mode))
        for name, values in (self.filters if filters is None else filters).items():
            params += [(name, value) for value in values]
        params += self.window() if window else []
        if (sort or self.sort) != "relevance":
            params.append(("sort", sort or self.sort))
        if self.as_typed:
            params.append(("as_typed", "1"))
        if page > 1:
            params.append(("page", str(page)))
        return "/?" + urlencode(params) if params else "/"

    def searching(self, text: str, as_typed: bool = False) -> str:
        """The URL searching `text` instead (a spelling correction, or the query as typed)."""
        return replace(self, q=text, as_typed=as_typed).url()

    def active(self, name: str, value: str) -> bool:
        return value in self.filters.get(name, [])

    def toggle(self, name: str, value: str) -> str:
        """The URL with `value` of facet `name` switched on or off (back to page 1)."""
        values = self.filters.get(name, [])
        changed = [v for v in values if v != value] if value in values else [*values, value]
        return self.url({**self.filters, name: changed})

    def unfinished(self) -> str:
        """The URL listing the drafts and postmortems in review the home list leaves out."""
        return self.url({**self.filters, "status": list(filters.UNFINISHED_STATUSES)})

    def without(self, name: str) -> str:
        return self.url({k: v for k, v in self.filters.items() if k != name})

    def at_page(self, page: int) -> str:
        return self.url(page=page)

    def sorted_by(self, sort: str) -> str:
        return self.url(sort=sort)

    def without_dates(self) -> str:
        return self.url(window=False)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def search_page(
    request: Request,
    library: LibraryDep,
    groups: GroupsDep,
    chosen: FiltersDep,
    q: Annotated[str, Query(max_length=MAX_QUERY_LENGTH)] = "",
    mode: Mode = "hybrid",
    page: Page = 1,
    sort: Sort = "relevance",
    as_typed: AsTyped = False,
) -> HTMLResponse:
    """Search with facets; htmx swaps in only the results while the reader types."""
    state = SearchState(
        q.strip(), mode, chosen.active(), page, chosen.since, chosen.until, sort, as_typed
    )
    results, error, status = None, None, 200
    try:
        offset = (page - 1) * PAGE_SIZE
        results = usecases.search(
            library, state.q, chosen, groups=groups, mode=mode, limit=PAGE_SIZE, offset=offset,
            sort=sort, as_typed=as_typed,
        )  # fmt: skip
    except SearchQueryError as problem:  # explained on the page
        error, status = str(problem), 400
    except SemanticUnavailable as problem:
        error, status = f"{problem}. Switch to full-text to search now.", 503
    context = {"nav": "search", "state": state, "results": results, "error": error}
    context.update(facet_names=FACET_LABELS, page_size=PAGE_SIZE, title="Search")
    context.update(facets=ordered_facets(results.facets) if results else {})
    context.update(semantic_state=library.semantic.state)
    context.update(unfinished_left_out=_unfinished(library, groups, state, chosen))
    fragment = web.fragment_for(request, "results")
    response = web.render(request, "_results.html" if fragment else "search.html", context, status)
    if fragment:
        response.headers["hx-push-url"] = state.url(page=page)
    return response


def _unfinished(
    library: Library, groups: frozenset[str], state: SearchState, chosen: Filters
) -> int:
    """How many drafts and postmortems in review the home list leaves out (0 when searching)."""
    if state.q or "status" in state.filters:
        return 0
    return usecases.unfinished_count(library, chosen, groups)


@router.get("/api/postmortems", tags=["postmortems"], response_model=schemas.PostmortemPage)
def list_postmortems(
    library: LibraryDep,
    groups: GroupsDep,
    chosen: FiltersDep,
    limit: Annotated[int, Query(ge=1, le=usecases.LIST_MAX_PAGE)] = 20,
    offset: Annotated[int, Query(ge=0, le=usecases.LIST_MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Postmortems, newest first, filtered by vocabulary and date.

    Published ones only, unless `status` asks for drafts or postmortems in review.
    """
    return usecases.list_postmortems(library, chosen, groups, limit, offset)


@router.get(
    "/api/postmortems/{postmortem_id}",
    tags=["postmortems"],
    response_model=schemas.PostmortemRecord,
)
def get_postmortem(postmortem_id: str, groups: GroupsDep, library: LibraryDep) -> dict[str, Any]:
    """One postmortem: metadata, rendered HTML and action items."""
    return usecases.postmortem_record(library, postmortem_id, groups)


@router.get("/postmortems/{postmortem_id}", response_class=HTMLResponse, include_in_schema=False)
def postmortem_page(
    request: Request, postmortem_id: str, library: LibraryDep, groups: GroupsDep
) -> HTMLResponse:
    """One postmortem: body, metadata, timeline, action items, incidents, related ones."""
    record = usecases.postmortem_record(library, postmortem_id, groups)
    found = usecases.related_postmortems(library, postmortem_id, groups, RELATED)
    context = {"record": record, "related": found["items"], "title": record["title"]}
    context.update(semantic=library.semantic.ready, today=date.today().isoformat())
    return web.render(request, "postmortem.html", context)


Chosen = Annotated[
    list[str],
    Query(max_length=20, description="Postmortem ids the presenter added to (or removed from) "
          "the pack's precedents"),
]  # fmt: skip


def _markdown_file(text: str, name: str) -> Response:
    return Response(
        text,
        media_type="text/markdown; charset=utf-8",
        headers={"content-disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )


@router.get(
    "/api/postmortems/{postmortem_id}/pack",
    tags=["postmortems"],
    response_model=None,
    responses=schemas.json_or_markdown(schemas.PresenterPack, "The presenter pack"),
)
def presenter_pack(
    postmortem_id: str,
    library: LibraryDep,
    groups: GroupsDep,
    format: Literal["json", "markdown"] = "json",
    add: Chosen = [],  # noqa: B006
    remove: Chosen = [],  # noqa: B006
) -> dict[str, Any] | Response:
    """For a guild talk: the postmortem, its precedents (root causes, fixes) and how they compare.

    `add` and `remove` change the precedents, as the presenter chose them.
    """
    found = usecases.presenter_pack(library, postmortem_id, groups, add, remove)
    if format == "markdown":
        return Response(pack.to_markdown(found), media_type="text/markdown; charset=utf-8")
    return found


@router.get(
    "/postmortems/{postmortem_id}/pack", response_class=HTMLResponse, include_in_schema=False
)
def pack_page(
    request: Request,
    postmortem_id: str,
    library: LibraryDep,
    groups: GroupsDep,
    add: Chosen = [],  # noqa: B006
    remove: Chosen = [],  # noqa: B006
    view: Literal["page", "slides"] = "page",
) -> HTMLResponse:
    """The presenter pack, laid out for the screen, for print, or as slides."""
    found = usecases.presenter_pack(library, postmortem_id, groups, add, remove)
    choice = {"add": found["added"], "remove": found["removed"]}
    context = {
        "pack": found,
        "title": f"Presenter pack: {found['postmortem']['title']}",
        "view": view,
        "links": _pack_links(postmortem_id, choice),
    }
    return web.render(request, "pack.html", context)


def _pack_links(postmortem_id: str, choice: dict[str, list[str]]) -> dict[str, Any]:
    """URLs that keep the presenter's choice: with one more added or removed, or as slides."""

    def url(suffix: str = "", **change: list[str]) -> str:
        params = [(k, v) for k, values in {**choice, **change}.items() for v in values]
        query = urlencode(params)
        return f"/postmortems/{quote(postmortem_id)}/pack{suffix}" + (f"?{query}" if query else "")

    return {
        "url": url,
        "page": url(),
        "markdown": url(".md"),
        "slides": url() + ("&" if choice["add"] or choice["remove"] else "?") + "view=slides",
    }


@router.get("/postmortems/{postmortem_id}/pack.md", include_in_schema=False)
def pack_download(
    postmortem_id: str,
    library: LibraryDep,
    groups: GroupsDep,
    add: Chosen = [],  # noqa: B006
    remove: Chosen = [],  # noqa: B006
) -> Response:
    """The presenter pack as one Markdown file."""
    found = usecases.presenter_pack(library, postmortem_id, groups, add, remove)
    return _markdown_file(pack.to_markdown(found), f"{postmortem_id}-pack.md")


@router.get(
    "/api/error-classes/{name}/pack",
    tags=["postmortems"],
    response_model=None,
    responses=schemas.json_or_markdown(schemas.ClassPack, "The error class's pack"),
)
def error_class_pack(
    name: str,
    library: LibraryDep,
    groups: GroupsDep,
    format: Literal["json", "markdown"] = "json",
) -> dict[str, Any] | Response:
    """Everything the library learned about one error class: each postmortem, oldest first,
    with its root cause and fixes, and how the recurrences compare."""
    found = usecases.class_pack(library, name, groups)
    if format == "markdown":
        return Response(pack.class_to_markdown(found), media_type="text/markdown; charset=utf-8")
    return found


@router.get("/error-classes/{name}/pack", response_class=HTMLResponse, include_in_schema=False)
def error_class_pack_page(
    request: Request,
    name: str,
    library: LibraryDep,
    groups: GroupsDep,
    view: Literal["page", "slides"] = "page",
) -> HTMLResponse:
    found = usecases.class_pack(library, name, groups)
    context = {"pack": found, "title": f"Everything we learned about {name}", "view": view}
    return web.render(request, "class_pack.html", context)


@router.get("/error-classes/{name}/pack.md", include_in_schema=False)
def error_class_pack_download(name: str, library: LibraryDep, groups: GroupsDep) -> Response:
    found = usecases.class_pack(library, name, groups)
    return _markdown_file(pack.class_to_markdown(found), f"{name}-pack.md")


@router.get(
    "/api/postmortems/{postmortem_id}/related",
    tags=["postmortems"],
    response_model=schemas.RelatedResponse,
)
def related_postmortems(
    postmortem_id: str,
    library: LibraryDep,
    groups: GroupsDep,
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
    scope: Annotated[
        Literal["past", "all"],
        Query(description="all: earlier and later postmortems; past: only earlier ones"),
    ] = "all",
) -> dict[str, Any]:
    """The most related postmortems, each with the reasons (shared terms, similar passage),
    `when` (earlier, or later: "this happened again") and `strength` (strong, partial, weak)."""
    return usecases.related_postmortems(library, postmortem_id, groups, limit, scope)


@router.get("/api/duplicates", tags=["postmortems"], response_model=schemas.DuplicatePairs)
def duplicate_postmortems(
    library: LibraryDep,
    groups: GroupsDep,
    threshold: Annotated[float, Query(ge=0.5, le=1.0)] = DUPLICATE_THRESHOLD,
    since: date | None = None,
) -> dict[str, Any]:
    """Pairs of postmortems that say nearly the same thing: candidates for duplicate_of."""
    if not library.semantic.ready:
        raise HTTPException(
            503, "duplicate detection needs semantic search, which is not ready yet"
        )
    items = usecases.duplicate_pairs(library, groups, threshold, since)
    return {"threshold": threshold, "items": items}
