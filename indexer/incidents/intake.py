"""Live intake: vendor webhooks checked and turned into the records the importers read.

    if intake.pagerduty_signature_valid(body, header, secrets):
        source, data = intake.translate("pagerduty", body)
        importers.import_bytes(engine, source, data, vocabulary=...)

Every webhook ends in the same importer as a file export, so an incident
sent live and the same incident imported later are one row.

- PagerDuty v3 webhook subscriptions: `X-PagerDuty-Signature` holds one
  `v1=<hex HMAC-SHA256 of the raw body>` per signing secret, comma-separated
  while a secret is rotated; one match is enough. The body is a v3 event the
  PagerDuty importer reads as it is (`incident.triggered`, `.acknowledged`,
  `.resolved` date their change with `occurred_at`).
- Opsgenie outgoing webhooks (the Webhook integration): authenticated by a
  shared token the integration sends as the custom header `X-PML-Token`. The
  body (`action`, `alert` with `createdAt` in epoch milliseconds and
  `updatedAt` in epoch nanoseconds, as every real delivery has them) becomes
  an alert record: an `Acknowledge` action dates the acknowledgement, a
  `Close` the resolution, by the alert's `updatedAt`.
- FireHydrant webhooks: `fh-signature` is the hex HMAC-SHA256 of the raw body
  under the webhook's secret; the body's `data.incident` is an incident as
  `GET /v1/incidents` returns it.
- Jira Service Management alert webhooks (its operations' Webhook
  integration): Opsgenie's body and shared token header, stored as `jsm`.
- incident.io webhooks, signed the Svix way: `webhook-signature` holds
  space-separated `v1,<base64 HMAC-SHA256>` of `<webhook-id>.<webhook-timestamp>.<body>`
  under the base64 key after `whsec_`; a timestamp more than five minutes
  off is refused (a captured delivery cannot be replayed at us). The body
  names its `event_type` and holds the v2 incident under that same key.
- Grafana OnCall / IRM outgoing webhooks: the token configured as the
  webhook's Authorization header; the body's `alert_group` is an alert group
  as `GET /api/v1/alert_groups/` returns it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from typing import Any

from indexer.incidents.importers import ImportFormatError, RowError, timestamp

MAX_BODY_BYTES = 1024 * 1024
_ACTION_TIMES = {"Acknowledge": "ackTime", "Close": "closeTime"}


def _hmac_hex(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest().encode("ascii")


def pagerduty_signature_valid(body: bytes, header: str | None, secrets: Sequence[str]) -> bool:
    """One of the `v1=` signatures in the header is the body's HMAC under one of `secrets`."""
    if not header:
        return False
    given = [
        part.strip().removeprefix("v1=").lower().encode("utf-8", "replace")
        for part in header.split(",")
        if part.strip().startswith("v1=")
    ]
    valid = False
    for secret in secrets:  # every pair is compared, so timing does not tell which matched
        expected = _hmac_hex(secret, body)
        for signature in given:
            valid |= hmac.compare_digest(expected, signature)
    return valid


def token_valid(header: str | None, tokens: Sequence[str]) -> bool:
    """The header equals one of `tokens` (a shared secret sent as it is)."""
    if not header:
        return False
    given = header.strip().encode("utf-8", "replace")
    valid = False
    for token in tokens:
        valid |= hmac.compare_digest(token.encode("utf-8"), given)
    return valid


def hex_signature_valid(body: bytes, header: str | None, secrets: Sequence[str]) -> bool:
    """The header is the body's hex HMAC-SHA256 under one of `secrets` (FireHydrant)."""
    if not header:
        return False
    given = header.strip().lower().removeprefix("sha256=").encode("utf-8", "replace")
    valid = False
    for secret in secrets:
        valid |= hmac.compare_digest(_hmac_hex(secret, body), given)
    return valid


SVIX_TOLERANCE_SECONDS = 5 * 60


def svix_signature_valid(
    body: bytes, headers: dict[str, str], secrets: Sequence[str], now: float | None = None
) -> bool:
    """incident.io's (Svix) signature: one `v1,` signature matches under one secret, in time."""
    identifier = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    given = [
        value.encode("utf-8", "replace")
        for version, _, value in (
            part.partition(",") for part in headers.get("webhook-signature", "").split()
        )
        if version == "v1"
    ]
    if not identifier or not stamp.isdigit() or not given:
        return False
    if abs((now if now is not None else time.time()) - int(stamp)) > SVIX_TOLERANCE_SECONDS:
        return False
    signed = f"{identifier}.{stamp}.".encode() + body
    valid = False
    for secret in secrets:
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            continue
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
        for signature in given:
            valid |= hmac.compare_digest(expected, signature)
    return valid


def authorization_valid(header: str | None, tokens: Sequence[str]) -> bool:
    """An Authorization header that is one of `tokens`, bare or after `Bearer `."""
    if not header:
        return False
    value = header.strip()
    return token_valid(value, tokens) or token_valid(value.removeprefix("Bearer "), tokens)


def translate(source: str, body: bytes) -> bytes:
    """The webhook body as the importer of `source` reads it; ImportFormatError if it is not one."""
    if source == "pagerduty":
        return body  # a v3 event: the PagerDuty importer reads it as sent
    document = _json(body)
    if source in ("opsgenie", "jsm"):
        return json.dumps({"data": [_opsgenie_alert(document)]}).encode()
    if source == "incident-io":
        return json.dumps({"incidents": [_incident_io(document)]}).encode()
    if source == "grafana-oncall":
        return json.dumps({"results": [_alert_group(document)]}).encode()
    if source == "firehydrant":
        data = document.get("data") if isinstance(document, dict) else None
        incident = data.get("incident") if isinstance(data, dict) else None
        if not isinstance(incident, dict):
            raise ImportFormatError("expected a FireHydrant incident event (data.incident)")
        return json.dumps({"data": [incident]}).encode()
    raise ImportFormatError(f"no webhook intake for {source!r}")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ImportFormatError("body is not JSON") from None


def _opsgenie_alert(document: Any) -> dict[str, Any]:
    """An Opsgenie webhook body as an alert record of `GET /v2/alerts`."""
    alert = document.get("alert") if isinstance(document, dict) else None
    if not isinstance(alert, dict):
        raise ImportFormatError("expected an Opsgenie webhook body with an 'alert'")
    record = {key: value for key, value in alert.items() if key != "alertId"}
    record["id"] = alert.get("alertId") or alert.get("id")
    action = document.get("action")
    created, updated = _time(alert.get("createdAt")), _time(alert.get("updatedAt"))
    field = _ACTION_TIMES.get(str(action))
    if field and created is not None and updated is not None and updated >= created:
        record["report"] = {field: round((updated - created).total_seconds() * 1000)}
    if updated is not None:
        record["updatedAt"] = updated.isoformat()  # the event's own time, whatever its unit
    record["status"] = "closed" if action == "Close" else "open"
    return record


def _time(value: Any) -> dt.datetime | None:
    """An Opsgenie time in any unit it uses; None for one we cannot read (the importer names it)."""
    try:
        return timestamp(value, "time")
    except RowError:
        return None


def incident_io_event(document: Any) -> Any:
    """The event itself: flat, or inside the Svix envelope's `data` some deliveries use."""
    data = document.get("data") if isinstance(document, dict) else None
    if isinstance(data, dict) and "event_type" in data and "event_type" not in document:
        return data
    return document


def _incident_io(document: Any) -> dict[str, Any]:
    """The v2 incident of an incident.io event (held under the event type's own key)."""
    document = incident_io_event(document)
    kind = document.get("event_type") if isinstance(document, dict) else None
    incident = document.get(kind) if isinstance(kind, str) else None
    if not isinstance(incident, dict) or "id" not in incident:
        raise ImportFormatError("expected an incident.io webhook event with its incident")
    return incident


def _alert_group(document: Any) -> dict[str, Any]:
    """A Grafana OnCall outgoing webhook body as an alert group of the API, with its context."""
    group = document.get("alert_group") if isinstance(document, dict) else None
    if not isinstance(group, dict):
        raise ImportFormatError("expected a Grafana OnCall webhook with an 'alert_group'")
    event = document.get("event")
    return {
        **group,
        "id": group.get("id") or document.get("alert_group_id"),
        "integration": document.get("integration"),
        "alert_payload": document.get("alert_payload"),
        "event_time": event.get("time") if isinstance(event, dict) else None,
    }
