"""HTTP routes: parse the request, call the library, shape the JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlmodel import Session, col, select

from indexer import auth, catalog, githistory, gitsync, pack, related, reviews, store
from indexer.core import Library
from indexer.scheduler import CoalescingRunner
from indexer.search import MAX_LIMIT, MAX_OFFSET, MAX_QUERY_LENGTH, Filters

router = APIRouter()


def get_library(request: Request) -> Library:
    library: Library = request.state.library
    return library


def get_session(library: Annotated[Library, Depends(get_library)]) -> Iterator[Session]:
    with store.session(library.engine) as db:
        yield db


CHALLENGE = {"WWW-Authenticate": 'Bearer realm="pml"'}


def _peer(request: Request) -> str | None:
    return request.client.host if request.client else None


def _target(request: Request) -> str:
    query = request.url.query
    return f"{request.method} {request.url.path}" + (f"?{query}" if query else "")


@contextmanager
def _auth_errors() -> Iterator[None]:
    """AuthError -> 401 with a challenge, Forbidden -> 403."""
    try:
        yield
    except auth.AuthError as error:
        raise HTTPException(401, str(error), headers=CHALLENGE) from None
    except auth.Forbidden as error:
        raise HTTPException(403, str(error)) from None


def get_identity(
    request: Request, library: Annotated[Library, Depends(get_library)]
) -> auth.Identity | None:
    """Who is asking (PML_AUTH): a trusted proxy's user, a token's name, or nobody."""
    with _auth_errors():
        return auth.resolve(library.settings, library.engine, request.headers, _peer(request))


IdentityDep = Annotated[auth.Identity | None, Depends(get_identity)]


def get_groups(
    request: Request, library: Annotated[Library, Depends(get_library)], identity: IdentityDep
) -> frozenset[str]:
    """The reader's groups: the one place every surface's visibility comes from."""
    auth.audit_read(library.engine, identity, _target(request), _peer(request))
    return identity.groups if identity else frozenset()


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OWN_SECRETS = "/api/webhooks/"  # push webhooks are signed with PML_WEBHOOK_SECRET instead


def guard_writes(
    request: Request, library: Annotated[Library, Depends(get_library)], identity: IdentityDep
) -> None:
    """App-wide: every write, on any router (API or UI forms), needs a writer."""
    if request.method in SAFE_METHODS or request.url.path.startswith(OWN_SECRETS):
        return
    with _auth_errors():
        auth.check_writer(library.settings, identity)
    actor = identity.name if identity else "anonymous"
    auth.record(library.engine, actor, "write", _target(request), _peer(request))


def get_follower(request: Request) -> CoalescingRunner | None:
    """The git follower of `pml serve`, or None when no repository is followed."""
    follower: CoalescingRunner | None = getattr(request.state, "sync", None)
    return follower


LibraryDep = Annotated[Library, Depends(get_library)]
SessionDep = Annotated[Session, Depends(get_session)]
GroupsDep = Annotated[frozenset[str], Depends(get_groups)]
FollowerDep = Annotated[CoalescingRunner | None, Depends(get_follower)]
Values = Annotated[list[str], Query(max_length=20)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
Mode = Literal["hybrid", "fulltext", "semantic"]


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


class SearchResponse(BaseModel):
    query: str
    total: int
    took_ms: float
    limit: int
    offset: int
    results: list[SearchHit]
    facets: dict[str, dict[str, int]]
    mode: Mode


def _check_window(since: date | None, until: date | None) -> None:
    if since and until and since > until:
        raise HTTPException(400, f"since ({since}) is after until ({until})")


@router.get("/api/search", response_model=SearchResponse, tags=["search"])
def search(
    library: LibraryDep,
    groups: GroupsDep,
    q: Annotated[
        str, Query(max_length=MAX_QUERY_LENGTH, description='Words, "phrases", -excluded')
    ] = "",
    limit: Limit = 10,
    offset: Offset = 0,
    service: Values = [],  # noqa: B006 (FastAPI copies query defaults)
    error_class: Values = [],  # noqa: B006
    contributing_factor: Values = [],  # noqa: B006
    severity: Values = [],  # noqa: B006
    type: Values = [],  # noqa: B006
    team: Values = [],  # noqa: B006
    tag: Values = [],  # noqa: B006
    year: Values = [],  # noqa: B006
    since: date | None = None,
    until: date | None = None,
    mode: Annotated[Mode, Query(description="hybrid (default), fulltext or semantic")] = "hybrid",
) -> Response:
    """Search with filters and facet counts: full-text, semantic, or both fused."""
    _check_window(since, until)
    filters = Filters(
        service=service,
        error_class=error_class,
        contributing_factor=contributing_factor,
        severity=severity,
        type=type,
        team=team,
        tag=tag,
        year=year,
        since=since,
        until=until,
    )
    results = library.searcher.search(
        q, filters, mode=mode, limit=limit, offset=offset, groups=groups
    )
    body = asdict(results)
    body.update(limit=limit, offset=offset)
    # The hot path: skip re-validating our own dataclasses (the schema still documents it).
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")


@router.get("/api/postmortems", tags=["postmortems"])
def list_postmortems(
    db: SessionDep,
    groups: GroupsDep,
    limit: Annotated[int, Query(ge=1, le=catalog.MAX_PAGE)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
    service: Values = [],  # noqa: B006
    error_class: Values = [],  # noqa: B006
    contributing_factor: Values = [],  # noqa: B006
    team: Values = [],  # noqa: B006
    tag: Values = [],  # noqa: B006
    severity: Values = [],  # noqa: B006
    status: Values = [],  # noqa: B006
    type: Values = [],  # noqa: B006
    since: date | None = None,
    until: date | None = None,
) -> dict[str, Any]:
    """Postmortems, newest first, filtered by vocabulary and date."""
    _check_window(since, until)
    filters = catalog.ListFilters(
        service=service,
        error_class=error_class,
        contributing_factor=contributing_factor,
        team=team,
        tag=tag,
        severity=severity,
        status=status,
        type=type,
        since=since,
        until=until,
    )
    total, items = catalog.list_postmortems(db, filters, limit=limit, offset=offset, groups=groups)
    return {"total": total, "limit": limit, "offset": offset, "items": items}


@router.get("/api/postmortems/{postmortem_id}", tags=["postmortems"])
def get_postmortem(
    postmortem_id: str, db: SessionDep, groups: GroupsDep, library: LibraryDep
) -> dict[str, Any]:
    """One postmortem: metadata, rendered HTML and action items."""
    record = catalog.get_postmortem(db, postmortem_id, groups=groups)
    if record is None:
        raise HTTPException(404, f"no postmortem with id '{postmortem_id}'")
    record["history"] = githistory.describe(db, record["path"], library.settings.git_web_url)
    record["incidents"] = reviews.linked_incidents(db, postmortem_id)
    return record


@router.get("/api/postmortems/{postmortem_id}/pack", tags=["postmortems"], response_model=None)
def presenter_pack(
    postmortem_id: str,
    library: LibraryDep,
    groups: GroupsDep,
    format: Literal["json", "markdown"] = "json",
) -> dict[str, Any] | Response:
    """For a guild talk: the postmortem plus related past incidents, root causes and fixes."""
    found = pack.build(library.engine, library.semantic, postmortem_id, groups=groups)
    if found is None:
        raise HTTPException(404, f"no postmortem with id '{postmortem_id}'")
    if format == "markdown":
        return Response(pack.to_markdown(found), media_type="text/markdown; charset=utf-8")
    return found


@router.get("/api/postmortems/{postmortem_id}/related", tags=["postmortems"])
def related_postmortems(
    postmortem_id: str,
    library: LibraryDep,
    groups: GroupsDep,
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
    scope: Annotated[
        Literal["past", "all"], Query(description="past: only earlier postmortems")
    ] = "past",
) -> dict[str, Any]:
    """The most related postmortems, each with the reasons (shared terms, similar passage)."""
    items = related.related(
        library.engine,
        library.semantic,
        postmortem_id,
        limit=limit,
        groups=groups,
        past_only=scope == "past",
    )
    if items is None:
        raise HTTPException(404, f"no postmortem with id '{postmortem_id}'")
    return {"id": postmortem_id, "semantic": library.semantic.ready, "items": items}


@router.get("/api/duplicates", tags=["postmortems"])
def duplicate_postmortems(
    library: LibraryDep,
    groups: GroupsDep,
    threshold: Annotated[float, Query(ge=0.5, le=1.0)] = related.DUPLICATE_THRESHOLD,
    since: date | None = None,
) -> dict[str, Any]:
    """Pairs of postmortems that say nearly the same thing: candidates for duplicate_of."""
    if not library.semantic.ready:
        raise HTTPException(
            503, "duplicate detection needs semantic search, which is not ready yet"
        )
    items = related.duplicates(
        library.engine, library.semantic, threshold=threshold, groups=groups, since=since
    )
    return {"threshold": threshold, "items": items}


@router.get("/api/audit", tags=["operations"])
def audit_log(
    library: LibraryDep,
    identity: IdentityDep,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Writes and reads of restricted postmortems, oldest first; PML_ADMIN_GROUP only."""
    with _auth_errors():
        auth.check_admin(library.settings, identity)
    rows = auth.entries(library.engine, since, limit)
    return {"items": [row.model_dump(mode="json", exclude={"id"}) for row in rows]}


@router.get("/api/problems", tags=["library"])
def problems(db: SessionDep) -> dict[str, Any]:
    """Files the last indexing run could not read, with the reason."""
    rows = db.exec(select(store.IngestProblem).order_by(col(store.IngestProblem.path)))
    return {"items": [{"path": r.path, "line": r.line, "message": r.message} for r in rows]}


@router.get("/healthz", tags=["operations"])
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", tags=["operations"])
def readyz(library: LibraryDep, follower: FollowerDep) -> JSONResponse:
    """Ready to serve: the database answers and the full-text index is open."""
    semantic = library.semantic.status()
    checks: dict[str, Any] = {
        "fulltext": True,
        "semantic": library.semantic.ready,
        "semantic_status": semantic,
    }
    try:
        store.ping(library.engine)
        checks["database"] = True
    except Exception as error:  # any driver error means not ready
        checks["database"] = False
        checks["database_error"] = type(error).__name__
    with store.session(library.engine) as db:
        if checks["database"]:
            checks["postmortems"] = store.count_postmortems(db)
            checks["indexed_at"] = store.get_meta(db, "indexed_at")
    if library.settings.git_url and checks["database"]:
        # A failing sync does not make us unready: the previous index keeps serving.
        checks["sync"] = gitsync.status(library)
        if follower is not None:
            checks["sync"].update(running=follower.busy, syncs_since_start=follower.runs)
    ready = checks["database"] and checks["fulltext"]
    checks["status"] = "ready" if ready else "not ready"
    return JSONResponse(checks, status_code=200 if ready else 503)
