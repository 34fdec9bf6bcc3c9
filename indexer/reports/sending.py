"""Sending the weekly digest: e-mail over SMTP, chat incoming webhooks, and the schedule.

`send(engine, settings, week, build)` hands the digest `build()` makes to
every configured channel that lacks the week's (`indexer.usecases.send_digest`
builds it with `weekly_digest`, the outsider's view: restricted postmortems
never appear): one e-mail (plain text and HTML alternatives) to
`PML_DIGEST_TO`, and one post per webhook in `PML_DIGEST_WEBHOOKS`
(`slack=URL` for Slack and Slack-compatible chats, `teams=URL` for a
Microsoft Teams workflow). Each channel that succeeded is written to the
database (`pml_meta`, key `digest-sent:<week>:<channel>`), so a week's
digest reaches each channel once, across restarts and replicas; a channel
that failed is not written and is tried again on the next tick.

`Scheduler` is the thread `pml serve` runs when `PML_DIGEST_SCHEDULE` is set
("mon 09:00" in `PML_DIGEST_TIMEZONE`): once that moment of the current week
has passed, the week's digest goes out (through the `send` it is given:
`indexer.usecases.digest_scheduler` passes `send_digest`), whatever happened
before.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import smtplib
import ssl
import threading
import urllib.error
import urllib.request
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import SecretStr
from sqlalchemy.engine import Engine

from indexer import periods
from indexer.config import Settings
from indexer.db import store
from indexer.reports import digest

log = logging.getLogger("pml.digest")

TIMEOUT = 20  # seconds for one SMTP conversation or webhook post
TICK = 60  # seconds between schedule checks in `pml serve`
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SCHEDULE = re.compile(r"\s*([a-z]{3})[a-z]*\s+(\d{1,2}):(\d{2})\s*\Z", re.IGNORECASE)
HookKind = Literal["slack", "teams"]


class SendError(Exception):
    """The digest could not be sent (or sending is misconfigured); the message says why."""


@dataclass(frozen=True)
class Channel:
    """One place the digest goes: `key` names it in the database, `label` in messages."""

    key: str
    label: str
    deliver: Callable[[digest.Digest], None]


@dataclass(frozen=True)
class Outcome:
    channel: str
    status: Literal["sent", "skipped", "failed"]
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.channel}: {self.status}" + (f" ({self.detail})" if self.detail else "")


# --- E-mail


def email_message(result: digest.Digest, settings: Settings) -> EmailMessage:
    """The digest as a multipart/alternative message: the Markdown as text, and HTML."""
    message = EmailMessage()
    message["Subject"] = f"Incident digest {result.week}"
    message["From"] = settings.digest_from or ""
    message["To"] = ", ".join(settings.digest_recipients)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="pml.digest")
    message.set_content(result.markdown)
    message.add_alternative(_html_document(result), subtype="html")
    return message


def _html_document(result: digest.Digest) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Incident digest {result.week}</title></head>"
        f'<body style="font-family: sans-serif; max-width: 40em">{result.html}</body></html>'
    )


def send_email(result: digest.Digest, settings: Settings) -> None:
    """One SMTP conversation: connect, secure, log in, send; any failure is a SendError."""
    host = settings.smtp_host or ""
    where = f"SMTP {host}:{settings.smtp_port}"
    message = email_message(result, settings)
    try:
        client: smtplib.SMTP
        if settings.smtp_security == "ssl":
            context = ssl.create_default_context()
            client = smtplib.SMTP_SSL(host, settings.smtp_port, timeout=TIMEOUT, context=context)
        else:
            client = smtplib.SMTP(host, settings.smtp_port, timeout=TIMEOUT)
        with client:
            if settings.smtp_security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                password = (
                    settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                )
                client.login(settings.smtp_user, password)
            refused = client.send_message(message)
    except smtplib.SMTPNotSupportedError as error:
        raise SendError(f"{where}: {error} (PML_SMTP_SECURITY=starttls)") from None
    except smtplib.SMTPAuthenticationError as error:
        raise SendError(
            f"{where}: login as {settings.smtp_user} refused ({error.smtp_code})"
        ) from None
    except smtplib.SMTPRecipientsRefused as error:
        raise SendError(
            f"{where}: every recipient refused: {', '.join(error.recipients)}"
        ) from None
    except (smtplib.SMTPException, OSError) as error:
        raise SendError(f"{where}: {type(error).__name__}: {error}") from None
    if refused:
        # The others got it; naming the refused ones is all that can be done.
        log.warning("digest %s: %s refused %s", result.week, where, ", ".join(refused))


# --- Chat webhooks


def slack_payload(result: digest.Digest) -> dict[str, Any]:
    """Slack's incoming-webhook message: `text` (what Mattermost and others read) and blocks."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": heading(result)}}
    ]
    lines = [heading(result)]
    if not result.items:
        blocks.append(slack_section(digest.EMPTY))
        lines.append(digest.EMPTY)
    for item in result.items:
        text = (
            f"*<{item['link']}|{slack_escape(item['title'])}>*\n"
            f"{item['date']}, {item['severity'] or 'SEV?'}\n{slack_escape(item['summary'])}"
        )
        blocks.append(slack_section(text[:3000]))  # Slack's limit for a section's text
        lines.append(f"<{item['link']}|{slack_escape(item['title'])}>")
    return {"text": "\n".join(lines), "blocks": blocks}


def slack_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def teams_payload(result: digest.Digest) -> dict[str, Any]:
    """An Adaptive Card in the message envelope a Teams "post to a channel" workflow takes."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": heading(result), "size": "Large", "weight": "Bolder"}
    ]
    if not result.items:
        body.append({"type": "TextBlock", "text": digest.EMPTY, "wrap": True})
    for item in result.items:
        body += [
            {
                "type": "TextBlock",
                "text": f"[{item['title']}]({item['link']})",
                "weight": "Bolder",
                "wrap": True,
            },
            {
                "type": "TextBlock",
                "text": f"{item['date']}, {item['severity'] or 'SEV?'}",
                "isSubtle": True,
            },
            {"type": "TextBlock", "text": item["summary"] or "(no summary)", "wrap": True},
        ]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
    return {"type": "message", "attachments": [attachment]}


def heading(result: digest.Digest) -> str:
    """`Incident digest, 2025-W11 (10 Mar to 16 Mar 2025)`: the digest's title everywhere."""
    return f"Incident digest, {result.week} ({result.since:%d %b} to {result.until:%d %b %Y})"


PAYLOADS: dict[HookKind, Callable[[digest.Digest], dict[str, Any]]] = {
    "slack": slack_payload,
    "teams": teams_payload,
}


def post_webhook(url: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    """POST the payload as JSON; anything but a 2xx is a SendError naming the host and status.

    `headers` are added (an API's credentials); they never appear in an error.
    """
    where = f"webhook {urlsplit(url).hostname}"  # the URL itself is the secret
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode("utf-8"),
        headers={
            "Content-Type": "application/json",
            "User-Agent": "postmortem-library",
            **(headers or {}),
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            response.read()
    except urllib.error.HTTPError as error:
        said = error.read(300).decode("utf-8", "replace").strip()
        raise SendError(f"{where}: HTTP {error.code} {said}".rstrip()) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise SendError(f"{where}: {reason}") from None


def webhooks(settings: Settings) -> list[tuple[HookKind, str]]:
    """`PML_DIGEST_WEBHOOKS` as (kind, URL) pairs; a bare URL is Slack-compatible."""
    return parse_webhooks(settings.digest_webhooks, "PML_DIGEST_WEBHOOKS")


def parse_webhooks(value: SecretStr | None, setting: str) -> list[tuple[HookKind, str]]:
    """A webhooks setting (`slack=URL,teams=URL`) as (kind, URL) pairs; SendError if bad."""
    if value is None:
        return []
    found: list[tuple[HookKind, str]] = []
    for part in value.get_secret_value().split(","):
        part = part.strip()
        if not part:
            continue
        kind, _, url = part.partition("=") if re.match(r"[a-z]+=", part) else ("slack", "", part)
        if kind not in PAYLOADS:
            raise SendError(f"{setting}: '{kind}' is not slack or teams")
        if urlsplit(url).scheme not in ("http", "https"):
            raise SendError(f"{setting}: a {kind} webhook is not an http(s) URL")
        found.append((kind, url))
    return found


# --- Channels and sending


def channels(settings: Settings) -> list[Channel]:
    """Every configured channel; a half-configured one is a SendError saying what is missing."""
    found: list[Channel] = []
    if settings.smtp_host:
        missing = [
            name
            for name, value in (
                ("PML_DIGEST_FROM", settings.digest_from),
                ("PML_DIGEST_TO", settings.digest_recipients),
            )
            if not value
        ]
        if missing:
            raise SendError(f"PML_SMTP_HOST is set but {' and '.join(missing)} is not")
        found.append(
            Channel("email", f"e-mail to {len(settings.digest_recipients)} recipients",
                    lambda result: send_email(result, settings))
        )  # fmt: skip
    for kind, url in webhooks(settings):
        # Keyed by a hash: the URL is a secret, and the key must survive a reorder.
        key = f"{kind}-{hashlib.sha256(url.encode()).hexdigest()[:12]}"
        label = f"{kind} webhook {urlsplit(url).hostname}"
        found.append(Channel(key, label, _poster(url, PAYLOADS[kind])))
    return found


def _poster(
    url: str, payload: Callable[[digest.Digest], dict[str, Any]]
) -> Callable[[digest.Digest], None]:
    return lambda result: post_webhook(url, payload(result))


def _sent_key(week: str, channel: Channel) -> str:
    return f"digest-sent:{week}:{channel.key}"


def sent_at(engine: Engine, week: str, channel: Channel) -> str | None:
    with store.session(engine) as db:
        return store.get_meta(db, _sent_key(week, channel))


def base_url(settings: Settings) -> str:
    """Where links point: PML_PUBLIC_URL, else the address `pml serve` listens on."""
    return (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")


def send(
    engine: Engine,
    settings: Settings,
    week: str,
    build: Callable[[], digest.Digest],
    *,
    force: bool = False,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> list[Outcome]:
    """Send `week`'s digest (`build()`, called only when a channel lacks it) to every channel
    that has not had it (all of them with `force`).

    Raises SendError when nothing is configured or the configuration is broken;
    a channel that fails is an Outcome with status "failed", and the others still go.
    """
    periods.parse_week(week)  # a PeriodError before anything is sent
    configured = channels(settings)
    if not configured:
        raise SendError(
            "nowhere to send the digest: set PML_SMTP_HOST (with PML_DIGEST_FROM and "
            "PML_DIGEST_TO) or PML_DIGEST_WEBHOOKS"
        )
    outcomes, pending = [], []
    for channel in configured:
        earlier = sent_at(engine, week, channel)
        if earlier and not force:
            outcomes.append(Outcome(channel.label, "skipped", f"already sent {earlier}"))
        else:
            pending.append(channel)
    if not pending:
        return outcomes
    result = build()
    for channel in pending:
        try:
            channel.deliver(result)
        except SendError as error:
            outcomes.append(Outcome(channel.label, "failed", str(error)))
            continue
        with store.session(engine) as db:
            store.set_meta(db, _sent_key(week, channel), now().isoformat(timespec="seconds"))
            db.commit()
        outcomes.append(Outcome(channel.label, "sent"))
    return outcomes


# --- The schedule


@dataclass(frozen=True)
class Schedule:
    """A weekly moment: weekday (0 = Monday), time of day, time zone."""

    weekday: int
    at: dt.time
    zone: zoneinfo.ZoneInfo

    @classmethod
    def parse(cls, text: str, zone: str = "UTC") -> Schedule:
        match = _SCHEDULE.match(text)
        if not match or match[1].lower() not in DAYS:
            raise SendError(f"PML_DIGEST_SCHEDULE must look like 'mon 09:00', got '{text}'")
        hour, minute = int(match[2]), int(match[3])
        if hour > 23 or minute > 59:
            raise SendError(f"PML_DIGEST_SCHEDULE: {match[2]}:{match[3]} is not a time of day")
        try:
            tz = zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise SendError(f"PML_DIGEST_TIMEZONE: unknown time zone '{zone}'") from None
        return cls(DAYS.index(match[1].lower()), dt.time(hour, minute), tz)

    def this_week(self, now: dt.datetime) -> dt.datetime:
        """The scheduled moment of `now`'s week (Monday to Sunday in the schedule's zone)."""
        local = now.astimezone(self.zone)
        day = local.date() - dt.timedelta(days=local.weekday() - self.weekday)
        return dt.datetime.combine(day, self.at, tzinfo=self.zone)

    def due_week(self, now: dt.datetime, which: Literal["previous", "current"]) -> str | None:
        """The week whose digest is due at `now`, or None before this week's moment."""
        moment = self.this_week(now)
        if now < moment:
            return None
        covered = moment.date() - dt.timedelta(days=7 if which == "previous" else 0)
        return periods.label(covered, "week")


# Sends a week's digest, with the clock that stamps what was sent (`send` with a builder).
Send = Callable[[str, Callable[[], dt.datetime]], list[Outcome]]


class Scheduler:
    """The thread in `pml serve` that sends the digest when the schedule says so."""

    def __init__(
        self, engine: Engine, settings: Settings, send: Send, interval: float = TICK
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.send = send
        self.interval = interval
        self.schedule = Schedule.parse(settings.digest_schedule or "", settings.digest_timezone)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pml-digest", daemon=True)

    def start(self) -> None:
        if not self.settings.public_url:
            log.warning(
                "PML_PUBLIC_URL is not set: the digest links to %s", base_url(self.settings)
            )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=TIMEOUT + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick(dt.datetime.now(dt.UTC))
            self._stop.wait(self.interval)

    def tick(self, now: dt.datetime) -> list[Outcome]:
        """Send the due week's digest to the channels that lack it; never raises."""
        week = self.schedule.due_week(now, self.settings.digest_week)
        if week is None:
            return []
        with store.session(self.engine) as db:
            indexed = store.count_postmortems(db)
        if not indexed:
            # A first git sync may still be running: an empty digest now would count as sent.
            log.info("digest %s waits: no postmortems indexed yet", week)
            return []
        try:
            outcomes = self.send(week, lambda: now)
        except Exception as error:  # the server must keep serving whatever happens here
            log.error("digest %s not sent: %s", week, error)
            return [Outcome("digest", "failed", str(error))]
        for outcome in outcomes:
            if outcome.status == "sent":
                log.info("digest %s sent: %s", week, outcome.channel)
            elif outcome.status == "failed":
                log.error("digest %s failed, retrying in %.0f s: %s", week, self.interval, outcome)
        return outcomes


def scheduler(engine: Engine, settings: Settings, send: Send) -> Scheduler | None:
    """The scheduler `pml serve` runs, or None when no schedule is set.

    A broken schedule is logged, not raised: the site must serve without the digest.
    """
    if not settings.digest_schedule:
        return None
    try:
        return Scheduler(engine, settings, send)
    except SendError as error:
        log.error("the digest will not be sent: %s", error)
        return None
