"""Operations: health and readiness, files that could not be indexed, the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api import schemas
from api.deps import FollowerDep, IdentityDep, LibraryDep, auth_errors
from indexer import auth, usecases
from indexer.indexing import gitsync

router = APIRouter()


@router.get("/api/audit", tags=["operations"], response_model=schemas.AuditLog)
def audit_log(
    library: LibraryDep,
    identity: IdentityDep,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Writes and reads of restricted postmortems, oldest first; PML_ADMIN_GROUP only."""
    with auth_errors():
        auth.check_admin(library.settings, identity)
    rows = auth.entries(library.engine, since, limit)
    return {"items": [row.model_dump(mode="json", exclude={"id"}) for row in rows]}


@router.get("/api/problems", tags=["library"], response_model=schemas.Problems)
def problems(library: LibraryDep, identity: IdentityDep) -> dict[str, Any]:
    """Files the indexing runs could not read, or indexed with a lint error, with the reason.

    `indexed` is false for a file that was skipped and true for one served
    with its lint error (its page shows the error too). A file that might be
    a restricted postmortem (its visibility could not be read as `internal`,
    or it is restricted) is listed for PML_ADMIN_GROUP only: even its path
    may tell. `pml index` and `pml lint` print every problem.
    """
    return usecases.problems(library, identity)


@router.get("/healthz", tags=["operations"], response_model=schemas.Health)
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    tags=["operations"],
    responses={
        200: {"model": schemas.Readiness, "description": "Ready"},
        503: {"model": schemas.Readiness, "description": "Not ready: what is missing"},
    },
)
def readyz(library: LibraryDep, follower: FollowerDep, identity: IdentityDep) -> JSONResponse:
    """Ready to serve: the database answers and the full-text index is open.

    `postmortems` counts what the caller may read; the semantic index's own
    counts (which include restricted postmortems) and server paths in errors
    are for PML_ADMIN_GROUP.
    """
    admin = auth.is_admin(library.settings, identity)
    semantic = library.semantic.status(admin=admin)
    checks: dict[str, Any] = {
        "fulltext": True,
        "semantic": library.semantic.ready,
        "semantic_status": semantic,
    }
    groups = identity.groups if identity else frozenset()
    checks.update(usecases.database_checks(library, None if admin else groups))
    if library.settings.git_url and checks["database"]:
        # A failing sync does not make us unready: the previous index keeps serving.
        checks["sync"] = gitsync.status(library, admin=admin)
        if follower is not None:
            checks["sync"].update(running=follower.busy, syncs_since_start=follower.runs)
    ready = checks["database"] and checks["fulltext"]
    checks["status"] = "ready" if ready else "not ready"
    return JSONResponse(checks, status_code=200 if ready else 503)
