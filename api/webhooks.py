"""Webhooks: git pushes (a sync in the background) and incident intake from the vendors.

Every delivery is stored first (`indexer.incidents.deliveries`), then
processed; its outcome decides the answer: 200 when something was stored or
the event is one we ignore (pings, notes, responders, ...), 202 when it
failed to process and was kept for `pml intake replay`, 401 for a wrong
signature (that does not say which), 4xx only for a body that can never be
accepted. Only a database that cannot store the delivery at all answers 503
(nothing was kept, so the vendor should retry).

Push webhooks are off (404) unless both PML_WEBHOOK_SECRET and PML_GIT_URL
are set: an endpoint without a secret would let anyone trigger fetches.
Incident webhooks (PagerDuty, Opsgenie, FireHydrant; see
`indexer.incidents.intake`) are each off until their secret is set.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from api import schemas
from api.deps import FollowerDep, LibraryDep
from indexer.incidents import deliveries, intake
from indexer.incidents.handlers import Outcome
from indexer.indexing import pushes
from indexer.indexing.scheduler import CoalescingRunner
from indexer.library import Library

router = APIRouter(tags=["webhooks"])
UNAUTHORIZED = "invalid or missing signature"
Check = Callable[[bytes, dict[str, str]], bool]
# The answer for each outcome; `refused` is 400 for a malformed body, else 422.
STATUS = {"stored": 200, "ignored": 200, "failed": 202, "pending": 202}
ANSWER = schemas.IntakeAnswer
KEPT: dict[int | str, dict[str, Any]] = {
    202: {"model": ANSWER, "description": "Failed to process; kept for `pml intake replay`"}
}


async def receive(
    request: Request,
    library: Library,
    vendor: str,
    check: Check,
    on_push: Callable[[], bool] | None = None,
    max_bytes: int = pushes.MAX_BODY_BYTES,
    accepted: int | None = None,
) -> JSONResponse:
    """Store the delivery, check its signature, process it, answer by its outcome."""
    body = await _body(request, max_bytes)
    headers = {name.lower(): value for name, value in request.headers.items()}
    valid = check(body, headers)
    try:
        delivery = await run_in_threadpool(
            partial(deliveries.store_delivery, signature="valid" if valid else "invalid"),
            library.engine,
            vendor,
            headers,
            body,
        )
    except OperationalError:
        # Nothing was stored: only a retry by the vendor can keep this event.
        raise HTTPException(503, "database unavailable; retry", {"Retry-After": "30"}) from None
    if not valid:
        raise HTTPException(401, UNAUTHORIZED)
    listeners = getattr(request.state, "intake_listeners", ())
    outcome: Outcome = await run_in_threadpool(
        partial(deliveries.process, library, delivery, on_push=on_push, listeners=listeners)
    )
    return _answer(delivery.id, outcome, accepted)


def _answer(delivery_id: int | None, outcome: Outcome, accepted: int | None) -> JSONResponse:
    """The outcome as an answer; `accepted` overrides the 2xx (a push answers 202: the sync
    it asked for runs later)."""
    if outcome.status == "refused":
        status = 400 if outcome.malformed else 422
        return JSONResponse({"detail": outcome.detail, "delivery": delivery_id}, status)
    label = outcome.label or outcome.status
    body: dict[str, Any] = {**outcome.report, "status": label, "delivery": delivery_id}
    if outcome.detail:
        body["detail"] = outcome.detail
    if outcome.status == "failed":
        body["detail"] = f"{outcome.detail} (kept: `pml intake replay {delivery_id}`)"
    return JSONResponse(body, accepted or STATUS.get(outcome.status, 200))


def _always(body: bytes, headers: dict[str, str]) -> bool:
    """No signature of its own (Alertmanager): the app-wide write guard admitted it."""
    return True


async def alertmanager(request: Request, library: Library, max_bytes: int) -> JSONResponse:
    """An Alertmanager notification, through the same store-first intake as the vendors."""
    return await receive(request, library, "alertmanager", _always, max_bytes=max_bytes)


PUSH_CHECKS: dict[str, Callable[[bytes, dict[str, str], list[str]], bool]] = {
    "github": lambda body, headers, secrets: pushes.github_signature_valid(
        body, headers.get("x-hub-signature-256"), secrets
    ),
    "gitlab": lambda body, headers, secrets: pushes.gitlab_token_valid(
        headers.get("x-gitlab-token"), secrets
    ),
}


@router.post("/api/webhooks/github", status_code=202, response_model=ANSWER)
async def github(request: Request, library: LibraryDep, follower: FollowerDep) -> JSONResponse:
    """A GitHub push webhook, signed with `X-Hub-Signature-256` (content type JSON or form)."""
    return await _push(request, library, follower, "github")


@router.post("/api/webhooks/gitlab", status_code=202, response_model=ANSWER)
async def gitlab(request: Request, library: LibraryDep, follower: FollowerDep) -> JSONResponse:
    """A GitLab push webhook (project or system hook), with its secret token (`X-Gitlab-Token`)."""
    return await _push(request, library, follower, "gitlab")


async def _push(
    request: Request, library: Library, follower: CoalescingRunner | None, vendor: str
) -> JSONResponse:
    """A push webhook: off (404) without a secret or a sync; a genuine push asks for a sync."""
    runner, secrets = _enabled(library.settings.webhook_secrets, follower)
    valid = PUSH_CHECKS[vendor]

    def check(body: bytes, headers: dict[str, str]) -> bool:
        return valid(body, headers, secrets)

    return await receive(request, library, vendor, check, runner.request, accepted=202)


def _enabled(
    secrets: list[str], follower: CoalescingRunner | None
) -> tuple[CoalescingRunner, list[str]]:
    if not secrets:
        raise HTTPException(404, "webhooks are off: set PML_WEBHOOK_SECRET to turn them on")
    if follower is None:
        raise HTTPException(404, "webhooks are off: PML_GIT_URL is not set, so there is no sync")
    return follower, secrets


async def _body(request: Request, limit: int) -> bytes:
    """The raw body (signatures cover its exact bytes), refused past the size cap."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body over {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"body over {limit} bytes")
    return bytes(body)


# --- Incident intake: vendor webhooks upserting the incidents the importers write.

INTAKE_HEADERS = {
    "pagerduty": "x-pagerduty-signature",
    "opsgenie": "x-pml-token",
    "jsm": "x-pml-token",
    "firehydrant": "fh-signature",
    "grafana-oncall": "authorization",
}
INTAKE_CHECKS = {
    "pagerduty": intake.pagerduty_signature_valid,
    "firehydrant": intake.hex_signature_valid,
}
INTAKE_SETTINGS = {
    "pagerduty": "PML_PAGERDUTY_WEBHOOK_SECRET",
    "opsgenie": "PML_OPSGENIE_WEBHOOK_TOKEN",
    "firehydrant": "PML_FIREHYDRANT_WEBHOOK_SECRET",
    "jsm": "PML_JSM_WEBHOOK_TOKEN",
    "incident-io": "PML_INCIDENT_IO_WEBHOOK_SECRET",
    "grafana-oncall": "PML_GRAFANA_ONCALL_WEBHOOK_TOKEN",
}


async def _intake(request: Request, library: Library, vendor: str) -> JSONResponse:
    """An incident vendor's webhook: off (404) until its secret is set."""
    secrets = library.settings.intake_secrets(vendor)
    if not secrets:
        setting = INTAKE_SETTINGS[vendor]
        raise HTTPException(404, f"{vendor} intake is off: set {setting} to turn it on")
    header, signed = INTAKE_HEADERS.get(vendor, ""), INTAKE_CHECKS.get(vendor)

    def check(body: bytes, headers: dict[str, str]) -> bool:
        if vendor == "incident-io":
            return intake.svix_signature_valid(body, headers, secrets)
        if vendor == "grafana-oncall":
            return intake.authorization_valid(headers.get(header), secrets)
        if signed is not None:
            return signed(body, headers.get(header), secrets)
        return intake.token_valid(headers.get(header), secrets)

    return await receive(request, library, vendor, check)


# Each vendor's intake route, with what its OpenAPI description says.
INTAKE_ROUTES = {
    "pagerduty": "A PagerDuty v3 webhook subscription's event, signed with "
    "`X-PagerDuty-Signature`.",
    "opsgenie": "An Opsgenie outgoing webhook, with the shared token in the `X-PML-Token` header.",
    "firehydrant": "A FireHydrant incident webhook, signed with `fh-signature`.",
    "jsm": "A Jira Service Management alert webhook (Opsgenie's format), token in `X-PML-Token`.",
    "incident-io": "An incident.io webhook, signed with "
    "`webhook-id`/`webhook-timestamp`/`webhook-signature`.",
    "grafana-oncall": "A Grafana OnCall / IRM outgoing webhook, with the token as its "
    "Authorization header.",
}


def _intake_route(vendor: str, description: str) -> None:
    """POST /api/webhooks/{vendor}: the vendor's intake (`_intake`)."""

    async def route(request: Request, library: LibraryDep) -> JSONResponse:
        return await _intake(request, library, vendor)

    register = router.post(
        f"/api/webhooks/{vendor}",
        response_model=ANSWER,
        responses=KEPT,
        name=vendor.replace("-", "_"),  # OpenAPI's operation id and summary
        description=description,
    )
    register(route)


for _vendor, _description in INTAKE_ROUTES.items():
    _intake_route(_vendor, _description)
