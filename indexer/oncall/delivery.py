"""Delivery: a new incident's precedents, sent once to each on-call channel, retried until sent.

    dispatcher = Dispatcher(library)       # `pml serve` starts one
    dispatcher.enqueue("pagerduty", body)  # after a webhook stored the incident
    dispatcher.start()                     # sends what is due, retries with backoff

Opt-in per channel, by environment (docs/oncall.md):

- `PML_ONCALL_PAGERDUTY_TOKEN` (+ `PML_ONCALL_PAGERDUTY_FROM`): a note on
  the PagerDuty incident, `POST /incidents/{id}/notes` with
  `Authorization: Token token=...` and the `From:` user's e-mail;
- `PML_ONCALL_OPSGENIE_KEY`: a note on the Opsgenie or Jira Service
  Management alert, `POST /v2/alerts/{id}/notes` with `Authorization:
  GenieKey ...` (`PML_ONCALL_OPSGENIE_URL` picks the EU or JSM address);
- `PML_ONCALL_WEBHOOKS`: Slack and Teams incoming webhooks
  (`slack=URL,teams=URL`), the digest's formats.

Only a new incident or firing alert counts (PagerDuty `incident.triggered`,
Opsgenie `Create`, a FireHydrant incident not yet resolved, a firing
Alertmanager alert), and only when something matched well: the top three
strong or partial precedents of the outsider's view (restricted
postmortems never leave), linked from `PML_PUBLIC_URL`. Each message is a
row of `oncall_delivery`, unique per (channel, source, incident): a
redelivered webhook, a restart or a second replica adds nothing. A failed
send is retried after BACKOFF, doubling up to MAX_BACKOFF, and given up
after MAX_ATTEMPTS; every row, with its last error, is on the admin page.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from indexer.config import Settings
from indexer.db import store
from indexer.db.models import IntakeDelivery, OncallDelivery
from indexer.library import Library
from indexer.oncall import messages
from indexer.oncall.reading import AlertReadError, AlertSaid, read
from indexer.oncall.seen_before import seen_before
from indexer.reports import sending

log = logging.getLogger("pml.oncall")

TOP = 3
MAX_ATTEMPTS = 8
BACKOFF = dt.timedelta(seconds=30)
MAX_BACKOFF = dt.timedelta(hours=1)
BATCH = 50  # deliveries sent per pass; the rest wait for the next


@dataclass(frozen=True)
class Channel:
    """One place precedents go; `sources`: only incidents of these vendors (a note needs one)."""

    key: str
    label: str
    send: Callable[[dict[str, Any]], None]
    sources: tuple[str, ...] | None = None


def channels(settings: Settings) -> list[Channel]:
    """Every channel the environment turns on; a half-configured one is a SendError."""
    found: list[Channel] = []
    if settings.oncall_pagerduty_token is not None:
        if not settings.oncall_pagerduty_from:
            raise sending.SendError(
                "PML_ONCALL_PAGERDUTY_TOKEN is set but PML_ONCALL_PAGERDUTY_FROM "
                "(the e-mail of the PagerDuty user the notes are written as) is not"
            )
        found.append(
            Channel(
                "pagerduty-note", "PagerDuty incident note", _pagerduty(settings), ("pagerduty",)
            )
        )
    if settings.oncall_opsgenie_key is not None:
        found.append(
            Channel(
                "opsgenie-note", "Opsgenie alert note", _opsgenie(settings), ("opsgenie", "jsm")
            )
        )
    for kind, url in sending.parse_webhooks(settings.oncall_webhooks, "PML_ONCALL_WEBHOOKS"):
        key = f"{kind}-{hashlib.sha256(url.encode()).hexdigest()[:12]}"  # the URL is a secret
        payload = messages.slack_payload if kind == "slack" else messages.teams_payload
        found.append(Channel(key, f"{kind} webhook {urlsplit(url).hostname}", _chat(url, payload)))
    return found


def _pagerduty(settings: Settings) -> Callable[[dict[str, Any]], None]:
    token = settings.oncall_pagerduty_token
    assert token is not None
    base = settings.oncall_pagerduty_url.rstrip("/")
    headers = {
        "Authorization": f"Token token={token.get_secret_value()}",
        "From": settings.oncall_pagerduty_from or "",
        "Accept": "application/vnd.pagerduty+json;version=2",
    }

    def send(message: dict[str, Any]) -> None:
        url = f"{base}/incidents/{quote(message['source_id'], safe='')}/notes"
        sending.post_webhook(url, {"note": {"content": messages.note_text(message)}}, headers)

    return send


def _opsgenie(settings: Settings) -> Callable[[dict[str, Any]], None]:
    key = settings.oncall_opsgenie_key
    assert key is not None
    base = settings.oncall_opsgenie_url.rstrip("/")
    headers = {"Authorization": f"GenieKey {key.get_secret_value()}"}

    def send(message: dict[str, Any]) -> None:
        alert = quote(message["source_id"], safe="")
        url = f"{base}/v2/alerts/{alert}/notes?identifierType=id"
        body = {"note": messages.note_text(message), "user": "Postmortem Library", "source": "pml"}
        sending.post_webhook(url, body, headers)

    return send


def _chat(
    url: str, payload: Callable[[dict[str, Any]], dict[str, Any]]
) -> Callable[[dict[str, Any]], None]:
    return lambda message: sending.post_webhook(url, payload(message))


def is_new(source: str, body: bytes, said: AlertSaid) -> bool:
    """Does this webhook announce a new incident or a firing alert (not an update of one)?"""
    if not said.firing:
        return False
    try:
        document = json.loads(body)
    except ValueError:
        return False
    if not isinstance(document, dict):
        return False
    if source == "pagerduty":
        event = document.get("event")
        return isinstance(event, dict) and event.get("event_type") == "incident.triggered"
    if source in ("opsgenie", "jsm"):
        return document.get("action") == "Create"
    return True  # the other vendors' incidents and Alertmanager alerts: firing is enough


def _incident_key(said: AlertSaid) -> str:
    """The incident a message is about: Alertmanager's alert is its fingerprint per firing."""
    key = said.source_id or said.name
    starts = said.extra.get("starts_at")
    return (f"{key}@{starts}" if starts else key)[:128]


def enqueue(library: Library, source: str, body: bytes, now: dt.datetime | None = None) -> int:
    """Queue this webhook's precedents for every channel that takes it; returns rows added."""
    found = [c for c in channels(library.settings) if c.sources is None or source in c.sources]
    if not found:
        return 0
    try:
        said = read(source, body)
    except AlertReadError:
        return 0
    if not is_new(source, body, said):
        return 0
    answer = seen_before(library, said, frozenset(), limit=TOP)  # the outsider's view
    if not answer.matched_well:
        return 0
    base = sending.base_url(library.settings)
    message = {
        "source": source,
        "source_id": said.source_id or "",
        "alert": said.name,
        "service": answer.service,
        "items": [
            {**item.as_dict(), "link": f"{base}/postmortems/{quote(item.id)}"}
            for item in answer.items[:TOP]
        ],
    }
    return _store(library.engine, found, source, _incident_key(said), message, now)


def _store(
    engine: Engine,
    found: list[Channel],
    source: str,
    incident: str,
    message: dict[str, Any],
    now: dt.datetime | None,
) -> int:
    moment = now or dt.datetime.now(dt.UTC)
    added = 0
    for channel in found:
        row = OncallDelivery(
            channel=channel.key,
            source=source,
            source_id=incident,
            alert=str(message["alert"])[:500],
            next_attempt_at=moment,
            created_at=moment,
            message=message,
        )
        with store.session(engine) as db:
            db.add(row)
            try:
                db.commit()
                added += 1
            except IntegrityError:  # already queued: a redelivery, or another replica
                db.rollback()
    return added


@dataclass
class Outcome:
    channel: str
    source_id: str
    status: str
    error: str | None = None


def dispatch(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> list[Outcome]:
    """Send every delivery that is due; a failure is retried later, with backoff."""
    moment = now or dt.datetime.now(dt.UTC)
    by_key = {channel.key: channel for channel in channels(settings)}
    with store.session(engine) as db:
        due = db.exec(
            select(OncallDelivery)
            .where(col(OncallDelivery.status) == "pending")
            .where(col(OncallDelivery.next_attempt_at) <= moment)
            .order_by(col(OncallDelivery.next_attempt_at))
            .limit(BATCH)
        ).all()
        ids = [row.id for row in due]
    return [_attempt(engine, identifier, by_key, moment) for identifier in ids if identifier]


def _attempt(
    engine: Engine, identifier: int, by_key: dict[str, Channel], moment: dt.datetime
) -> Outcome:
    with store.session(engine) as db:
        row = db.get(OncallDelivery, identifier)
        assert row is not None
        channel = by_key.get(row.channel)
        row.attempts += 1
        try:
            if channel is None:
                raise sending.SendError(f"channel {row.channel} is no longer configured")
            channel.send(row.message)
        except sending.SendError as error:
            row.last_error = str(error)[:500]
            if row.attempts >= MAX_ATTEMPTS or channel is None:
                row.status = "failed"
            else:
                wait = min(BACKOFF * 2 ** (row.attempts - 1), MAX_BACKOFF)
                row.next_attempt_at = moment + wait
            log.warning("on-call delivery %s to %s: %s", row.source_id, row.channel, error)
        else:
            row.status, row.sent_at, row.last_error = "sent", moment, None
        outcome = Outcome(row.channel, row.source_id, row.status, row.last_error)
        db.add(row)
        db.commit()
    return outcome


def deliveries(engine: Engine, limit: int = 200) -> list[dict[str, Any]]:
    """The newest deliveries with their state, for the admin page."""
    with store.session(engine) as db:
        rows = db.exec(
            select(OncallDelivery).order_by(col(OncallDelivery.created_at).desc()).limit(limit)
        ).all()
        return [
            row.model_dump(mode="json", exclude={"message"})
            | {"items": len(row.message.get("items", []))}
            for row in rows
        ]


class Dispatcher:
    """The thread `pml serve` runs: sends what is due every PML_ONCALL_POLL seconds, or at once
    when woken by a new delivery."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def enqueue(self, source: str, body: bytes) -> int:
        """Queue a webhook's precedents and wake the sender; never raises (the webhook is kept)."""
        try:
            added = enqueue(self.library, source, body)
        except Exception:  # delivery must never cost the vendor's webhook its 2xx
            log.exception(
                "on-call delivery: could not queue the precedents of a %s webhook", source
            )
            return 0
        if added:
            self._wake.set()
        return added

    def listen(self, delivery: IntakeDelivery, outcome: object) -> None:
        """An intake listener (`indexer.incidents.deliveries.Listener`): a stored webhook
        delivery that brought a new incident or firing alert."""
        self.enqueue(delivery.vendor, delivery.body or b"")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pml-oncall", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                dispatch(self.library.engine, self.library.settings)
            except Exception:  # a database blip: try again at the next tick
                log.exception("on-call delivery failed; retrying at the next tick")
            self._wake.wait(self.library.settings.oncall_poll)
            self._wake.clear()


def dispatcher(library: Library) -> Dispatcher | None:
    """A dispatcher when any on-call channel is configured (a bad setting is logged), else None."""
    try:
        configured = channels(library.settings)
    except sending.SendError as error:
        log.error("on-call delivery is off: %s", error)
        return None
    return Dispatcher(library) if configured else None
