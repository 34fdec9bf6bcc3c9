"""On-call doors: precedents for an alert payload or a stored incident, the incident page,
the on-call deliveries (admin), and the Slack slash command.

Thin: each route reads its input, calls `indexer.oncall` and turns its
errors into 4xx. Nothing here decides relevance or access; the reader's
groups (`GroupsDep`, anonymous: none) go to the library, which searches only
what they may read. Slack and the deliveries always use the outsider's view.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from api import schemas, web
from api.deps import GroupsDep, IdentityDep, LibraryDep, auth_errors
from api.incidents import REJECTED
from indexer import auth
from indexer.library import Library
from indexer.oncall import (
    AlertReadError,
    AlertSaid,
    Answer,
    delivery,
    for_incident,
    reading,
    seen_before,
    slack,
)
from indexer.reports import sending

router = APIRouter(tags=["on-call"])
page_router = APIRouter(include_in_schema=False)
Source = Literal[
    "alertmanager", "pagerduty", "opsgenie", "firehydrant", "jsm", "incident-io", "grafana-oncall"
]
Items = Annotated[int, Query(ge=1, le=20, description="precedents listed at most")]


class SeenBeforeItem(BaseModel):
    id: str
    title: str
    date: str
    score: float
    strength: str
    reasons: list[str]


class SeenBefore(BaseModel):
    """The postmortems to read about an alert, best first; empty when nothing matched well."""

    source: str
    service: str | None
    service_reason: str | None
    alert: str
    query: str
    failure_modes: list[str]
    matched_well: bool
    items: list[SeenBeforeItem]


async def _answer(library: Library, said: AlertSaid, groups: frozenset[str], limit: int) -> Answer:
    run = partial(seen_before, library, said, groups, limit=limit)
    return await run_in_threadpool(run)


@router.post("/api/seen-before", response_model=SeenBefore, responses=REJECTED)
async def seen_before_payload(
    request: Request, source: Source, library: LibraryDep, groups: GroupsDep, limit: Items = 5
) -> dict[str, Any]:
    """Precedents for a vendor's webhook payload, sent exactly as the vendor sends it.

    Nothing is stored. Anonymous callers get the outsider's view.
    """
    body = await request.body()  # limits.BodyLimit caps it (PML_MAX_BODY_BYTES)
    try:
        said = reading.read(source, body)
    except AlertReadError as error:
        raise HTTPException(422, str(error)) from None
    return (await _answer(library, said, groups, limit)).as_dict()


def _precedents(
    library: Library, source: str, source_id: str, groups: frozenset[str], limit: int
) -> tuple[dict[str, Any], Answer]:
    found = for_incident(library, source, source_id, groups, limit)
    if found is None:
        raise HTTPException(404, f"no incident {source_id!r} from {source!r}")
    return found


@router.get("/api/incidents/{source}/{source_id}/seen-before", response_model=SeenBefore)
async def seen_before_incident(
    source: str, source_id: str, library: LibraryDep, groups: GroupsDep, limit: Items = 5
) -> dict[str, Any]:
    """Precedents for a stored incident, as for its payload."""
    _, answer = await run_in_threadpool(_precedents, library, source, source_id, groups, limit)
    return answer.as_dict()


@page_router.get("/incidents/{source}/{source_id}", response_class=HTMLResponse)
async def incident_page(
    request: Request, source: str, source_id: str, library: LibraryDep, groups: GroupsDep
) -> HTMLResponse:
    """One incident, with the postmortems it has been seen in before."""
    incident, answer = await run_in_threadpool(_precedents, library, source, source_id, groups, 5)
    context = {
        "nav": "incidents",
        "title": incident["title"] if incident else source_id,
        "incident": incident,
        "seen": answer.as_dict(),
    }
    return web.render(request, "incident.html", context)


@router.get("/api/oncall/deliveries", response_model=schemas.OncallDeliveries)
def oncall_deliveries(library: LibraryDep, identity: IdentityDep) -> dict[str, Any]:
    """Precedents sent (or being retried) to the on-call channels; PML_ADMIN_GROUP only."""
    with auth_errors():
        auth.check_admin(library.settings, identity)
    return {"items": delivery.deliveries(library.engine)}


@page_router.get("/admin/oncall", response_class=HTMLResponse)
def oncall_deliveries_page(
    request: Request, library: LibraryDep, identity: IdentityDep
) -> HTMLResponse:
    """The deliveries as a table, failures and retries first to the eye."""
    with auth_errors():
        auth.check_admin(library.settings, identity)
    context = {
        "nav": "incidents",
        "title": "On-call deliveries",
        "items": delivery.deliveries(library.engine),
    }
    return web.render(request, "oncall_deliveries.html", context)


@router.post("/api/slack/commands", response_model=schemas.SlackAnswer, responses=REJECTED)
async def slack_command(request: Request, library: LibraryDep) -> dict[str, Any]:
    """A Slack slash command, signed with the app's signing secret; answered as Block Kit.

    Off (404) until PML_SLACK_SIGNING_SECRET is set. Outsider's view.
    """
    secret = library.settings.slack_signing_secret
    if secret is None:
        raise HTTPException(404, "Slack commands are off: set PML_SLACK_SIGNING_SECRET")
    body = await request.body()
    secrets = [s.strip() for s in secret.get_secret_value().split(",") if s.strip()]
    timestamp = request.headers.get("x-slack-request-timestamp")
    signature = request.headers.get("x-slack-signature")
    if not slack.signature_valid(secrets, timestamp, body, signature):
        raise HTTPException(401, "invalid or missing signature, or a stale timestamp")
    command, text = slack.command_text(body)
    base = sending.base_url(library.settings)
    return await run_in_threadpool(slack.answer, library, command, text, base)
