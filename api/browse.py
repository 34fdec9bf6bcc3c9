"""Drill-down pages: a service, an error class, the error classes, the action items.

Each route parses its input and calls one function of `indexer.reports.browse`;
the page renders that function's answer and the JSON twin returns it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from api import schemas, web
from api.deps import GroupsDep, LibraryDep
from api.reports import AsOf, Name, today
from indexer import usecases
from indexer.library import Library
from indexer.reports import metrics

router = APIRouter()
page_router = APIRouter(include_in_schema=False)
STATUSES = ("open", "in_progress", "done", "wont_do")
# The page's select sends `status=` for "any": an empty value is no filter there.
PageStatus = Annotated[list[str], Query(max_length=4)]


Find = Callable[[Library, str, date, frozenset[str]], dict[str, Any]]


def _drill_down(
    kind: str, path: str, what: str, find: Find, model: type[BaseModel], description: str
) -> None:
    """The JSON route (`/api` + `path`) and the page of one drill-down (`kind`: a service or
    an error class), both answering what `find` finds."""

    def as_json(
        name: str, library: LibraryDep, groups: GroupsDep, as_of: AsOf = None
    ) -> dict[str, Any]:
        return find(library, name, today(as_of), groups)

    def page(
        request: Request,
        name: str,
        library: LibraryDep,
        groups: GroupsDep,
        as_of: AsOf = None,
    ) -> HTMLResponse:
        found = find(library, name, today(as_of), groups)
        context = {"page": found, "title": f"{what} {name}", "nav": ""}
        return web.render(request, "browse.html", context)

    json_route = router.get(
        f"/api{path}",
        tags=["browse"],
        response_model=model,
        name=f"{kind}_json",  # OpenAPI's operation id and summary
        description=description,
    )
    json_route(as_json)
    page_router.get(path, response_class=HTMLResponse, name=f"{kind}_page")(page)


_drill_down(
    "service",
    "/services/{name}",
    "Service",
    usecases.service_overview,
    schemas.ServiceOverview,
    "One service: its postmortems, recent incidents, trends, open action items, near-misses.",
)


@router.get("/api/error-classes", tags=["browse"], response_model=schemas.ErrorClassIndex)
def error_classes_json(
    library: LibraryDep, groups: GroupsDep, as_of: AsOf = None
) -> dict[str, Any]:
    """Every error class with its published postmortems and incidents in the last 90 days."""
    return usecases.error_class_index(library, today(as_of), groups)


@page_router.get("/error-classes", response_class=HTMLResponse)
def error_classes_page(
    request: Request, library: LibraryDep, groups: GroupsDep, as_of: AsOf = None
) -> HTMLResponse:
    found = usecases.error_class_index(library, today(as_of), groups)
    context = {"index": found, "title": "Error classes", "nav": ""}
    return web.render(request, "error_classes.html", context)


_drill_down(
    "error_class",
    "/error-classes/{name}",
    "Error class",
    usecases.error_class_overview,
    schemas.ErrorClassOverview,
    "One error class: its postmortems, recent incidents, trends and open action items.",
)


@page_router.get("/action-items", response_class=HTMLResponse)
def action_items_page(
    request: Request,
    library: LibraryDep,
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
    found = usecases.action_item_overview(
        library,
        today(as_of),
        groups,
        owner=owner or None,
        overdue=overdue,
        status=list(status),
        scope=scope,
    )
    named = {"service": service or None, "error_class": error_class or None}
    chosen = {"owner": owner or "", "overdue": overdue, "status": list(status), "scope": named}
    context = {"found": found, "chosen": chosen, "title": "Action items", "nav": "action-items"}
    return web.render(request, "action_items.html", context)
