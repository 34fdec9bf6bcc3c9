"""Push webhooks from GitHub and GitLab: is the sender genuine, and does it ask for a sync?

The web layer hands over the raw body and a few headers; nothing here knows
about HTTP frameworks. A delivery only triggers a sync of the configured
branch, and the sync always fetches the branch head, so a replayed delivery
costs one fetch and changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

MAX_BODY_BYTES = 1024 * 1024
_DELETED = "0" * 40  # GitLab's `after` when a push deleted the branch


class PayloadError(ValueError):
    """A signed delivery whose body is not a webhook payload; the message is safe to show."""


@dataclass(frozen=True)
class Decision:
    """Whether a genuine delivery should start a sync, and why (shown to the sender)."""

    sync: bool
    reason: str


def github_signature_valid(body: bytes, header: str | None, secrets: Sequence[str]) -> bool:
    """`X-Hub-Signature-256` is the HMAC-SHA256 of the raw body under one of `secrets`."""
    if not header or not header.startswith("sha256="):
        return False
    given = header.removeprefix("sha256=").strip().lower().encode("utf-8", "replace")
    valid = False
    for secret in secrets:  # every secret is tried, so timing does not tell which matched
        expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
        valid |= hmac.compare_digest(expected.encode("ascii"), given)
    return valid


def gitlab_token_valid(header: str | None, secrets: Sequence[str]) -> bool:
    """`X-Gitlab-Token` equals one of `secrets` (GitLab sends the secret itself)."""
    if not header:
        return False
    given = header.encode("utf-8", "replace")
    valid = False
    for secret in secrets:
        valid |= hmac.compare_digest(secret.encode("utf-8"), given)
    return valid


def github_decision(event: str | None, body: bytes, branch: str) -> Decision:
    """Sync on a push to `branch`; acknowledge and ignore everything else (ping, ...)."""
    if event != "push":
        return Decision(False, f"'{event or 'unnamed'}' events do not change the library")
    payload = _payload(body)
    if payload.get("deleted") is True:
        return Decision(False, "the push deleted a branch")
    return _for_branch(payload, branch)


def gitlab_decision(event: str | None, body: bytes, branch: str) -> Decision:
    """Sync on a push to `branch`; acknowledge and ignore everything else.

    A project hook names a push `Push Hook`; a system hook (instance-wide) sends
    every event as `System Hook` and names a push in the body
    (`object_kind`/`event_name` "push"), with the same fields as a project push.
    """
    if event not in ("Push Hook", "System Hook"):
        return Decision(False, f"'{event or 'unnamed'}' events do not change the library")
    payload = _payload(body)
    if event == "System Hook" and "push" not in (
        payload.get("object_kind"),
        payload.get("event_name"),
    ):
        kind = payload.get("event_name") or payload.get("object_kind") or "unnamed"
        return Decision(False, f"system hook '{str(kind)[:80]}' events do not change the library")
    if payload.get("after") == _DELETED:
        return Decision(False, "the push deleted a branch")
    return _for_branch(payload, branch)


def _for_branch(payload: dict[str, Any], branch: str) -> Decision:
    ref = payload.get("ref")
    if not isinstance(ref, str):
        raise PayloadError("the push payload has no 'ref'")
    if ref != f"refs/heads/{branch}":
        return Decision(False, f"push to {ref}; the library follows refs/heads/{branch}")
    return Decision(True, f"push to {ref}")


def _payload(body: bytes) -> dict[str, Any]:
    """The JSON payload; GitHub can also send it form-encoded as `payload=...`."""
    try:
        text = body.decode("utf-8")
        if text.startswith("payload="):
            text = parse_qs(text).get("payload", [""])[0]
        payload = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise PayloadError("the body is not a JSON webhook payload") from None
    if not isinstance(payload, dict):
        raise PayloadError("the body is not a JSON object")
    return payload
