"""Webhooks: git pushes (a sync in the background) and incident intake from the vendors.

Push webhooks are off (404) unless both PML_WEBHOOK_SECRET and PML_GIT_URL
are set: an endpoint without a secret would let anyone trigger fetches.
Everything genuine but not a push to the followed branch gets a 202 and is
ignored. Incident webhooks (PagerDuty, Opsgenie, FireHydrant; see
`indexer.incidents.intake`) are each off until their secret is set. A wrong
or missing signature gets a 401 that does not say which.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from api.deps import FollowerDep, LibraryDep
from indexer.incidents import importers, intake
from indexer.indexing import webhooks
from indexer.indexing.scheduler import CoalescingRunner
from indexer.library import Library

router = APIRouter(tags=["webhooks"])
UNAUTHORIZED = "invalid or missing signature"


@router.post("/api/webhooks/github", status_code=202)
async def github(request: Request, library: LibraryDep, follower: FollowerDep) -> dict[str, Any]:
    """A GitHub push webhook, signed with `X-Hub-Signature-256` (content type JSON or form)."""
    runner, secrets = _enabled(library.settings.webhook_secrets, follower)
    body = await _body(request)
    signature = request.headers.get("x-hub-signature-256")
    if not webhooks.github_signature_valid(body, signature, secrets):
        raise HTTPException(401, UNAUTHORIZED)
    event = request.headers.get("x-github-event")
    try:
        decision = webhooks.github_decision(event, body, library.settings.git_branch)
    except webhooks.PayloadError as error:
        raise HTTPException(400, str(error)) from None
    return _act(runner, decision)


@router.post("/api/webhooks/gitlab", status_code=202)
async def gitlab(request: Request, library: LibraryDep, follower: FollowerDep) -> dict[str, Any]:
    """A GitLab push webhook, authenticated by its secret token (`X-Gitlab-Token`)."""
    runner, secrets = _enabled(library.settings.webhook_secrets, follower)
    body = await _body(request)
    if not webhooks.gitlab_token_valid(request.headers.get("x-gitlab-token"), secrets):
        raise HTTPException(401, UNAUTHORIZED)
    event = request.headers.get("x-gitlab-event")
    try:
        decision = webhooks.gitlab_decision(event, body, library.settings.git_branch)
    except webhooks.PayloadError as error:
        raise HTTPException(400, str(error)) from None
    return _act(runner, decision)


def _enabled(
    secrets: list[str], follower: CoalescingRunner | None
) -> tuple[CoalescingRunner, list[str]]:
    if not secrets:
        raise HTTPException(404, "webhooks are off: set PML_WEBHOOK_SECRET to turn them on")
    if follower is None:
        raise HTTPException(404, "webhooks are off: PML_GIT_URL is not set, so there is no sync")
    return follower, secrets


async def _body(request: Request) -> bytes:
    """The raw body (signatures cover its exact bytes), refused past the size cap."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > webhooks.MAX_BODY_BYTES:
        raise HTTPException(413, f"body over {webhooks.MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > webhooks.MAX_BODY_BYTES:
            raise HTTPException(413, f"body over {webhooks.MAX_BODY_BYTES} bytes")
    return bytes(body)


def _act(runner: CoalescingRunner, decision: webhooks.Decision) -> dict[str, Any]:
    """Queue a sync (coalesced with one already queued) and say what happened."""
    if not decision.sync:
        return {"status": "ignored", "detail": decision.reason}
    queued = runner.request()
    detail = "sync scheduled" if queued else "a sync was already scheduled; it covers this push"
    return {"status": "scheduled", "detail": f"{decision.reason}: {detail}"}


# --- Incident intake: vendor webhooks upserting the incidents the importers write.

INTAKE_HEADERS = {
    "pagerduty": "x-pagerduty-signature",
    "opsgenie": "x-pml-token",
    "firehydrant": "fh-signature",
}
INTAKE_CHECKS = {
    "pagerduty": intake.pagerduty_signature_valid,
    "firehydrant": intake.hex_signature_valid,
}


async def _intake(request: Request, library: Library, vendor: str) -> dict[str, Any]:
    """Check the sender, translate the body, upsert through the vendor's importer."""
    secrets = library.settings.intake_secrets(vendor)
    if not secrets:
        setting = (
            "OPSGENIE_WEBHOOK_TOKEN" if vendor == "opsgenie" else f"{vendor.upper()}_WEBHOOK_SECRET"
        )
        raise HTTPException(404, f"{vendor} intake is off: set PML_{setting} to turn it on")
    body = await _body(request)
    header = request.headers.get(INTAKE_HEADERS[vendor])
    check = INTAKE_CHECKS.get(vendor)
    valid = check(body, header, secrets) if check else intake.token_valid(header, secrets)
    if not valid:
        raise HTTPException(401, UNAUTHORIZED)
    try:
        data = intake.translate(vendor, body)
        report = await run_in_threadpool(
            partial(
                importers.import_bytes, library.engine, vendor, data, vocabulary=library.taxonomy
            )
        )
    except importers.ImportFormatError as error:
        raise HTTPException(400, str(error)) from None
    if report.errors and not (report.added or report.updated):
        raise HTTPException(422, "; ".join(message for _, message in report.errors))
    return report.as_dict()


@router.post("/api/webhooks/pagerduty")
async def pagerduty(request: Request, library: LibraryDep) -> dict[str, Any]:
    """A PagerDuty v3 webhook subscription's event, signed with `X-PagerDuty-Signature`."""
    return await _intake(request, library, "pagerduty")


@router.post("/api/webhooks/opsgenie")
async def opsgenie(request: Request, library: LibraryDep) -> dict[str, Any]:
    """An Opsgenie outgoing webhook, with the shared token in the `X-PML-Token` header."""
    return await _intake(request, library, "opsgenie")


@router.post("/api/webhooks/firehydrant")
async def firehydrant(request: Request, library: LibraryDep) -> dict[str, Any]:
    """A FireHydrant incident webhook, signed with `fh-signature`."""
    return await _intake(request, library, "firehydrant")
