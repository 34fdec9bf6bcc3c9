"""Drill-down pages: a service, an error class, the error classes, the action items.

Each route parses its input and calls one function of `indexer.reports.browse`;
the page renders that function's answer and the JSON twin returns it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from api import web
from api.deps import GroupsDep, LibraryDep, SessionDep
from api.reports import AsOf, Name, today
from indexer.reports import browse, metrics

router = APIRouter()
page_router = APIRouter(include_in_schema=False)
STATUSES = ("open", "in_progress", "done", "wont_do")
# The page's select sends `status=` for "any": an empty value is no filter there.
PageStatus = Annotated[list[str], Query(max_length=4)]


def _service(library: LibraryDep, db: SessionDep, groups: GroupsDep, name: str, as_of: AsOf) -> Any:
    found = browse.service(db, library.taxonomy, name, today(as_of), groups)
    if found is None:
        known = browse.known_services(db, library.taxonomy)
        raise web.NotFound(
            f"no service '{name[:200]}' in the taxonomy or the incidents",
            browse.close_names(name, known),
            "/services/{}",
        )
    return found


def _error_class(
    library: LibraryDep, db: SessionDep, groups: GroupsDep, name: str, as_of: AsOf
) -> Any:
    found = browse.error_class(db, library.taxonomy, name, today(as_of), groups)
    if found is None:
        raise web.NotFound(
            f"no error class '{name[:200]}' in the taxonomy",
            browse.close_names(name, list(library.taxonomy.error_classes)),
            "/error-classes/{}",
        )
    return found


@router.get("/api/services/{name}", tags=["browse"])
def service_json(
    name: str, library: LibraryDep, db: SessionDep, groups: GroupsDep, as_of: AsOf = None
) -> dict[str, Any]:
    """One service: its postmortems, recent incidents, trends, open action items, near-misses."""
    found: dict[str, Any] = _service(library, db, groups, name, as_of)
    return found


@page_router.get("/services/{name}", response_class=HTMLResponse)
def service_page(
    request: Request,
    name: str,
    library: LibraryDep,
    db: SessionDep,
    groups: GroupsDep,
    as_of: AsOf = None,
) -> HTMLResponse:
    found = _service(library, db, groups, name, as_of)
    context = {"page": found, "title": f"Service {name}", "nav": ""}
    return web.render(request, "browse.html", context)


@router.get("/api/error-classes", tags=["browse"])
def error_classes_json(
    library: LibraryDep, db: SessionDep, groups: GroupsDep, as_of: AsOf = None
) -> dict[str, Any]:
    """Every error class with its published postmortems and incidents in the last 90 days."""
    return browse.error_classes(db, library.taxonomy, today(as_of), groups)


@page_router.get("/error-classes", response_class=HTMLResponse)
def error_classes_page(
    request: Request, library: LibraryDep, db: SessionDep, groups: GroupsDep, as_of: AsOf = None
) -> HTMLResponse:
    found = browse.error_classes(db, library.taxonomy, today(as_of), groups)
    context = {"index": found, "title": "Error classes", "nav": ""}
    return web.render(request, "error_classes.html", context)


@router.get("/api/error-classes/{name}", tags=["browse"])
def error_class_json(
    name: str, library: LibraryDep, db: SessionDep, groups: GroupsDep, as_of: AsOf = None
) -> dict[str, Any]:
    """One error class: its postmortems, recent incidents, trends and open action items."""
    found: dict[str, Any] = _error_class(library, db, groups, name, as_of)
    return found


@page_router.get("/error-classes/{name}", response_class=HTMLResponse)
def error_class_page(
    request: Request,
    name: str,
    library: LibraryDep,
    db: SessionDep,
    groups: GroupsDep,
    as_of: AsOf = None,
) -> HTMLResponse:
    found = _error_class(library, db, groups, name, as_of)
    context = {"page": found, "title": f"Error class {name}", "nav": ""}
    return web.render(request, "browse.html", context)


@page_router.get("/action-items", response_class=HTMLResponse)
def action_items_page(
    request: Request,
    db: SessionDep,
    groups: GroupsDep,
    status: PageStatus = [],  # noqa: B006 (FastAPI copies query defaults)
    owner: Name = None,
    overdue: bool = False,
    service: Name = None,
    error_class: Name = None,
    as_of: AsOf = None,
) -> HTMLResponse:
    """Action items of the visible postmortems, by owner, overdue, status, service or class."""
    status = [value for value in status if value]
    if unknown := [value for value in status if value not in STATUSES]:
        raise HTTPException(422, f"status {unknown[0][:40]!r} is not one of {', '.join(STATUSES)}")
    scope = metrics.Scope(service=service or None, error_class=error_class or None)
    found = browse.action_items(
        db,
        today(as_of),
        groups,
        owner=owner or None,
        overdue=overdue,
        status=list(status),
        scope=scope,
    )
    chosen = {"owner": owner or "", "overdue": overdue, "status": list(status), "scope": scope}
    context = {"found": found, "chosen": chosen, "title": "Action items", "nav": "action-items"}
    return web.render(request, "action_items.html", context)
