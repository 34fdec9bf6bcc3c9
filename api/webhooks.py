"""Push webhooks: check the sender, then ask the git follower for a sync in the background.

Off (404) unless both PML_WEBHOOK_SECRET and PML_GIT_URL are set: an endpoint
without a secret would let anyone trigger fetches. A wrong or missing
signature gets a 401 that does not say which; everything genuine but not a
push to the followed branch gets a 202 and is ignored.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from api.deps import FollowerDep, LibraryDep
from indexer.indexing import webhooks
from indexer.indexing.scheduler import CoalescingRunner

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
