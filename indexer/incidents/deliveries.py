"""Webhook deliveries stored before they are processed, so no accepted event is ever lost.

    delivery = deliveries.store(engine, "pagerduty", headers, body, signature="valid")
    outcome = deliveries.process(library, delivery)        # records the outcome
    deliveries.replay(library, deliveries.failed(engine))   # after a fix

Every webhook (PagerDuty, Opsgenie, FireHydrant, Alertmanager, GitHub and
GitLab pushes) is written here, committed, and only then processed: a crash,
a kill or a bug while processing leaves the delivery `pending` or `failed`,
never gone. Pending deliveries (the process died before their outcome was
written) are processed again at start-up (`resume`); failed ones wait for
`pml intake replay`. Replaying is safe: every handler is idempotent and an
event older than what is stored never rolls it back (`model.upsert`).

Stored are the headers that say what the delivery is (event type, delivery
id, signature), never a shared secret (`X-PML-Token`, `X-Gitlab-Token`). A
delivery whose signature was wrong keeps no body: anyone can send one, and
it could not be replayed anyway.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from indexer.db import store
from indexer.db.models import IntakeDelivery
from indexer.incidents import handlers
from indexer.incidents.handlers import Outcome

if TYPE_CHECKING:
    from indexer.library import Library

log = logging.getLogger("pml.intake")

KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "x-github-event",
    "x-github-delivery",
    "x-hub-signature-256",
    "x-gitlab-event",
    "x-gitlab-event-uuid",
    "x-gitlab-webhook-uuid",
    "x-pagerduty-signature",
    "x-webhook-id",
    "fh-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
)
# The header that names the event, per vendor (the body names it for the others).
EVENT_HEADERS = {"github": "x-github-event", "gitlab": "x-gitlab-event"}
OUTCOMES = ("pending", "stored", "ignored", "failed", "refused", "unauthorized")

# Called with every outcome that stored something new: the one place where a new
# incident or a newly firing alert is announced (listeners must not raise).
Listener = Callable[[IntakeDelivery, Outcome], None]


def store_delivery(
    engine: Engine,
    vendor: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    signature: str,
) -> IntakeDelivery:
    """Write the delivery as received and commit it; its outcome is `pending` until processed.

    `signature` is the verdict: `valid`, or `invalid` (stored without its body,
    outcome `unauthorized`).
    """
    kept = {name: headers[name][:512] for name in KEPT_HEADERS if name in headers}
    genuine = signature == "valid"
    row = IntakeDelivery(
        received_at=dt.datetime.now(dt.UTC),
        vendor=vendor,
        event=_event_name(vendor, kept, body if genuine else b"")[:128],
        headers=kept,
        body=body if genuine else None,
        size=len(body),
        signature=signature,
        outcome="pending" if genuine else "unauthorized",
    )
    with store.session(engine) as db:
        db.add(row)
        db.commit()
        db.refresh(row)
    return row


def _event_name(vendor: str, headers: Mapping[str, str], body: bytes) -> str:
    """The event type, for the admin's list: a header, or the body's own field."""
    if vendor in EVENT_HEADERS:
        return headers.get(EVENT_HEADERS[vendor], "")
    document = handlers._json(body)[0] if body else None
    if not isinstance(document, dict):
        return ""
    event = document.get("event")
    if vendor == "pagerduty" and isinstance(event, dict):
        return str(event.get("event_type", ""))
    if vendor in ("opsgenie", "jsm"):
        return str(document.get("action", ""))
    if vendor == "incident-io":
        return str(document.get("event_type", ""))
    if vendor == "grafana-oncall" and isinstance(event, dict):
        return str(event.get("type", ""))
    if vendor == "firehydrant" and isinstance(event, dict):
        return " ".join(str(event.get(k, "")) for k in ("resource_type", "operation")).strip()
    if vendor == "alertmanager":
        return str(document.get("status", ""))
    return ""


def process(
    library: Library,
    delivery: IntakeDelivery,
    *,
    on_push: Callable[[], bool] | None = None,
    listeners: Iterable[Listener] = (),
) -> Outcome:
    """Process a stored delivery and record its outcome; never raises for a bad delivery.

    Any error while processing (a database that went away, a bug) is recorded
    as `failed` with its reason, and the delivery stays for a replay.
    """
    try:
        outcome = handlers.handle(
            library, delivery.vendor, dict(delivery.headers), delivery.body or b"", on_push=on_push
        )
    except Exception as error:  # the delivery is kept: its outcome says what went wrong
        log.exception("intake: delivery %s (%s) failed", delivery.id, delivery.vendor)
        outcome = Outcome("failed", f"{type(error).__name__}: {str(error)[:500]}")
    _record(library.engine, delivery, outcome)
    if outcome.new_incidents or outcome.new_alerts:
        for listener in listeners:
            try:
                listener(delivery, outcome)
            except Exception:  # an announcement must never cost the event
                log.exception("intake: a listener failed on delivery %s", delivery.id)
    return outcome


def _record(engine: Engine, delivery: IntakeDelivery, outcome: Outcome) -> None:
    try:
        with store.session(engine) as db:
            row = db.get(IntakeDelivery, delivery.id)
            if row is None:
                return
            row.outcome = outcome.status
            row.detail = outcome.detail[:2000]
            row.attempts += 1
            row.processed_at = dt.datetime.now(dt.UTC)
            db.add(row)
            db.commit()
            delivery.outcome, delivery.detail = row.outcome, row.detail
            delivery.attempts, delivery.processed_at = row.attempts, row.processed_at
    except Exception:  # stays pending: `resume` processes it again at start-up
        log.exception("intake: could not record the outcome of delivery %s", delivery.id)


def listing(
    engine: Engine,
    outcomes: Iterable[str] = ("failed",),
    limit: int = 100,
    before: int | None = None,
) -> list[IntakeDelivery]:
    """Deliveries with these outcomes, newest first (`before`: ids below it, for paging)."""
    query = select(IntakeDelivery).where(col(IntakeDelivery.outcome).in_(list(outcomes)))
    if before is not None:
        query = query.where(col(IntakeDelivery.id) < before)
    query = query.order_by(col(IntakeDelivery.id).desc()).limit(limit)
    with store.session(engine) as db:
        return list(db.exec(query))


def chosen(engine: Engine, ids: Iterable[int]) -> list[IntakeDelivery]:
    """These deliveries, oldest first (the order they were received in)."""
    query = select(IntakeDelivery).where(col(IntakeDelivery.id).in_(list(ids)))
    with store.session(engine) as db:
        return sorted(db.exec(query), key=lambda row: row.id or 0)


def replay(
    library: Library,
    found: Iterable[IntakeDelivery],
    *,
    on_push: Callable[[], bool] | None = None,
    listeners: Iterable[Listener] = (),
) -> list[tuple[IntakeDelivery, Outcome]]:
    """Process these deliveries again, oldest first; deliveries without a body are skipped."""
    done = []
    for delivery in sorted(found, key=lambda row: row.id or 0):
        if delivery.body is None or delivery.signature != "valid":
            continue
        done.append((delivery, process(library, delivery, on_push=on_push, listeners=listeners)))
    return done


def resume(library: Library, *, on_push: Callable[[], bool] | None = None) -> int:
    """Process the deliveries left `pending` by a process that died; returns how many."""
    pending = listing(library.engine, ("pending",), limit=10_000)
    done = replay(library, pending, on_push=on_push)
    if done:
        log.warning("intake: processed %s deliveries left pending by the last run", len(done))
    return len(done)


def as_dict(delivery: IntakeDelivery) -> dict[str, Any]:
    """The delivery for the admin's list: everything but the body (its size is given)."""
    return {
        "id": delivery.id,
        "received_at": store.as_utc(delivery.received_at).isoformat(),  # type: ignore[union-attr]
        "vendor": delivery.vendor,
        "event": delivery.event,
        "signature": delivery.signature,
        "outcome": delivery.outcome,
        "detail": delivery.detail,
        "attempts": delivery.attempts,
        "size": delivery.size,
        "headers": delivery.headers,
        "processed_at": (
            store.as_utc(delivery.processed_at).isoformat()  # type: ignore[union-attr]
            if delivery.processed_at
            else None
        ),
    }
