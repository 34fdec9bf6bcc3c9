"""Stored webhook deliveries for the admin: the failed ones to replay, as a page and as JSON.

Both answer PML_ADMIN_GROUP only, like the audit log: a delivery's headers
and reasons tell about the vendors and services behind them. The page and
`GET /api/intake/deliveries` are built from the same function.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from api import schemas, web
from api.deps import IdentityDep, LibraryDep
from indexer import auth
from indexer.incidents import deliveries
from indexer.library import Library

router = APIRouter()
page_router = APIRouter(include_in_schema=False)
Outcome = Literal["pending", "stored", "ignored", "failed", "refused", "unauthorized"]
Outcomes = Annotated[list[Outcome] | None, Query(alias="outcome")]
Limit = Annotated[int, Query(ge=1, le=1000)]


def _admin(library: Library, identity: auth.Identity | None) -> None:
    if identity is None:
        raise HTTPException(401, "the intake log needs an API token or a signed-in user")
    if not auth.is_admin(library.settings, identity):
        raise HTTPException(403, "the intake log is only for the PML_ADMIN_GROUP group")


def delivery_log(
    library: Library, outcomes: list[str] | None, limit: int, before: int | None
) -> dict[str, Any]:
    """Deliveries with these outcomes (default: failed), newest first, without their bodies."""
    chosen = outcomes or ["failed"]
    rows = deliveries.listing(library.engine, chosen, limit, before)
    items = [deliveries.as_dict(row) for row in rows]
    more = len(items) == limit and bool(items)
    return {"outcomes": chosen, "items": items, "next_before": items[-1]["id"] if more else None}


@router.get("/api/intake/deliveries", tags=["operations"], response_model=schemas.DeliveryLog)
async def list_deliveries(
    library: LibraryDep,
    identity: IdentityDep,
    outcome: Outcomes = None,
    limit: Limit = 100,
    before: int | None = None,
) -> dict[str, Any]:
    """Stored webhook deliveries (default: the failed ones); PML_ADMIN_GROUP only.

    Replay them with `pml intake replay ID...` or `pml intake replay --failed`.
    """
    _admin(library, identity)
    return await run_in_threadpool(delivery_log, library, list(outcome or []), limit, before)


@page_router.get("/intake", response_class=HTMLResponse)
async def intake_page(
    request: Request,
    library: LibraryDep,
    identity: IdentityDep,
    outcome: Outcomes = None,
    limit: Limit = 100,
    before: int | None = None,
) -> HTMLResponse:
    """The failed deliveries (or the outcomes chosen), for PML_ADMIN_GROUP."""
    _admin(library, identity)
    log = await run_in_threadpool(delivery_log, library, list(outcome or []), limit, before)
    context = {"nav": "intake", "title": "Webhook intake", "log": log}
    return web.render(request, "intake.html", context)
