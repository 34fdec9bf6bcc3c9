"""Sending the digest: a real SMTP server (aiosmtpd) and a real HTTP receiver on loopback.

Nothing here is mocked: the digest leaves through smtplib and urllib to
servers listening on 127.0.0.1, and the tests read what those servers got.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import CliRunner
from pydantic import SecretStr

from api.cli import main
from indexer import periods, usecases
from indexer.config import Settings
from indexer.library import Library
from indexer.reports import sending
from tests.conftest import SAMPLE_LIBRARY, postmortem_text, write
from tests.live_server import free_port, serve

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "chat"
WEEK = "2025-W11"  # 10 .. 16 March 2025
SECRET = postmortem_text(
    id="secret",
    title="Leaked signing key at the merger",
    date="2025-03-13",
    severity="SEV1",
    visibility="restricted",
    audience=["security"],
    owner="valentina.okonkwo",
    summary="valentina.okonkwo found the signing key in a public bucket.",
)


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


class Receiver:
    """A tiny HTTP server that records JSON posts and answers with the next queued status."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["content-length"])
                receiver.posts.append((self.path, json.loads(self.rfile.read(length))))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 400 else b"invalid_payload")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.thread.start()
    try:
        yield found
    finally:
        found.server.shutdown()
        found.server.server_close()


def _library(folder: Path, *, secret: bool) -> Path:
    folder.mkdir(parents=True)
    (folder / "taxonomy.yaml").write_bytes((SAMPLE_LIBRARY / "taxonomy.yaml").read_bytes())
    write(
        folder,
        "2025/pub.md",
        postmortem_text(
            id="pub",
            title="Orders timeouts after pool exhaustion",
            date="2025-03-12",
            summary="The pool ran dry when the batch job started.",
        ),
    )
    if secret:
        write(folder, "2025/secret.md", SECRET)
    return folder


def _settings(tmp_path: Path, name: str, **values: Any) -> Settings:
    chosen: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / name / 'pml.sqlite3'}",
        "public_url": "https://pml.example.com/",
        "digest_from": "pml@example.com",
        "digest_to": "sre@example.com, guild@example.com",
        "smtp_host": "127.0.0.1",
        "smtp_security": "none",
    }
    secret = values.pop("secret", True)
    chosen.update(values)
    return Settings(
        library=_library(tmp_path / name / "library", secret=secret),
        data_dir=tmp_path / name / "data",
        embedding_model="hash",
        **chosen,
    )


def _open(settings: Settings) -> Library:
    library = Library.open(settings)
    library.refresh()
    return library


def _scheduler(library: Library) -> sending.Scheduler:
    scheduler = usecases.digest_scheduler(library)
    assert scheduler is not None, "PML_DIGEST_SCHEDULE is set"
    return scheduler


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_email_is_multipart_and_never_has_restricted_postmortems(
    tmp_path: Path, smtp: tuple[Inbox, int], database_url: str
) -> None:
    inbox, port = smtp
    bodies = []
    for name, secret in (("with", True), ("without", False)):
        url = database_url if secret else f"sqlite:///{tmp_path / 'b.sqlite3'}"
        settings = _settings(tmp_path, name, smtp_port=port, secret=secret, database_url=url)
        with _open(settings) as library:
            outcomes = usecases.send_digest(library, WEEK)
        assert [o.status for o in outcomes] == ["sent"]
        bodies.append(_parts(inbox.messages[-1]))
    message = inbox.messages[0]
    assert message["Subject"] == f"Incident digest {WEEK}"
    assert message.get_content_type() == "multipart/alternative"
    assert inbox.envelopes[0] == ("pml@example.com", ["sre@example.com", "guild@example.com"])
    text, html = bodies[0]
    assert "## Orders timeouts after pool exhaustion" in text
    assert "https://pml.example.com/postmortems/pub" in text
    assert '<a href="https://pml.example.com/postmortems/pub">' in html
    for word in ("Leaked", "secret", "valentina", "Okonkwo", "merger"):
        assert word not in text and word not in html
    # The outsider's view: the library with the restricted postmortem sends what the one
    # without it sends, word for word.
    assert bodies[0] == bodies[1]


def test_login_and_a_server_without_starttls(tmp_path: Path) -> None:
    seen: list[tuple[bytes, bytes]] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        seen.append((data.login, data.password))
        return AuthResult(success=data.password == b"s3cret", handled=False)

    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,
        # smtplib falls back from PLAIN to LOGIN, which aiosmtpd answers differently.
        auth_exclude_mechanism=["LOGIN"],
    )
    controller.start()
    try:
        settings = _settings(
            tmp_path, "a", smtp_port=port, smtp_user="pml", smtp_password=SecretStr("s3cret")
        )
        with _open(settings) as library:
            assert [o.status for o in usecases.send_digest(library, WEEK)] == ["sent"]
            assert seen == [(b"pml", b"s3cret")] and len(inbox.messages) == 1
            wrong = settings.model_copy(update={"smtp_password": SecretStr("nope")})
            failed = usecases.send_digest(replace(library, settings=wrong), WEEK, force=True)
            assert failed[0].status == "failed" and "login as pml refused" in failed[0].detail
            # This server offers no STARTTLS: saying so beats sending in the clear.
            tls = settings.model_copy(update={"smtp_security": "starttls"})
            failed = usecases.send_digest(replace(library, settings=tls), WEEK, force=True)
            assert failed[0].status == "failed" and "STARTTLS" in failed[0].detail
            assert len(inbox.messages) == 1
    finally:
        controller.stop()


def test_webhooks_get_slack_and_teams_payloads_and_a_500_is_retried(
    tmp_path: Path, receiver: Receiver
) -> None:
    hooks = f"slack={receiver.url}/services/T0/B0/x, teams={receiver.url}/workflows/1"
    settings = _settings(tmp_path, "a", smtp_host=None, digest_webhooks=SecretStr(hooks))
    receiver.statuses = [200, 500]
    with _open(settings) as library:
        first = usecases.send_digest(library, WEEK)
        assert [o.status for o in first] == ["sent", "failed"]
        assert "teams webhook 127.0.0.1" in str(first[1]) and "HTTP 500" in first[1].detail
        assert "/workflows/1" not in str(first[1])  # the URL is the secret
        second = usecases.send_digest(library, WEEK)
        assert [o.status for o in second] == ["skipped", "sent"]
    paths = [path for path, _ in receiver.posts]
    assert paths == ["/services/T0/B0/x", "/workflows/1", "/workflows/1"]
    slack, teams = receiver.posts[0][1], receiver.posts[2][1]
    # Slack: `text` is the fallback (and all Slack-compatible chats read), blocks the layout.
    assert "<https://pml.example.com/postmortems/pub|Orders timeouts" in slack["text"]
    assert slack["blocks"][0]["type"] == "header"
    assert "The pool ran dry" in slack["blocks"][1]["text"]["text"]
    # Teams workflow: a message with one Adaptive Card attachment.
    assert teams["type"] == "message"
    card = teams["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    # The card is checked against Microsoft's Adaptive Card 1.4 schema (tests/fixtures/chat).
    schema = json.loads((FIXTURES / "adaptive-card-1.4.json").read_text("utf-8"))
    assert card["content"]["version"] == "1.4"
    jsonschema_rs.validator_for(schema).validate(card["content"])
    # Slack's documented limits: a header's text at most 150 characters, a section's 3,000.
    assert len(slack["blocks"][0]["text"]["text"]) <= 150
    assert all(len(block["text"]["text"]) <= 3000 for block in slack["blocks"][1:])
    texts = [block["text"] for block in card["content"]["body"]]
    assert (
        "[Orders timeouts after pool exhaustion](https://pml.example.com/postmortems/pub)" in texts
    )
    for payload in (slack, teams):
        assert "Leaked" not in json.dumps(payload) and "valentina" not in json.dumps(payload)


def test_unreachable_servers_are_failures_not_crashes(tmp_path: Path) -> None:
    closed = free_port()
    settings = _settings(
        tmp_path,
        "a",
        smtp_port=closed,
        digest_webhooks=SecretStr(f"http://127.0.0.1:{closed}/hook"),
    )
    with _open(settings) as library:
        outcomes = usecases.send_digest(library, WEEK)
    assert [o.status for o in outcomes] == ["failed", "failed"]
    assert f"SMTP 127.0.0.1:{closed}" in outcomes[0].detail
    assert "refused" in outcomes[0].detail.lower() and "refused" in outcomes[1].detail.lower()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"smtp_host": None}, "nowhere to send the digest"),
        ({"digest_to": ""}, "PML_DIGEST_TO is not"),
        ({"digest_webhooks": SecretStr("discord=https://x")}, "'discord' is not slack or teams"),
        ({"digest_webhooks": SecretStr("ftp://x")}, r"not an http\(s\) URL"),
    ],
)
def test_configuration_mistakes_are_named(
    tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    settings = _settings(tmp_path, "a", **values)
    with _open(settings) as library, pytest.raises(sending.SendError, match=message):
        usecases.send_digest(library, WEEK)


def test_schedule_is_once_a_week_in_its_time_zone() -> None:
    schedule = sending.Schedule.parse("Mon 09:00", "Europe/Berlin")
    monday = dt.datetime(2025, 3, 17, 7, 59, tzinfo=dt.UTC)  # 08:59 in Berlin
    assert schedule.due_week(monday, "previous") is None
    assert schedule.due_week(monday + dt.timedelta(minutes=1), "previous") == "2025-W11"
    assert schedule.due_week(monday + dt.timedelta(days=6), "current") == "2025-W12"
    # Sunday night in Berlin is already the next week's Monday in Tokyo.
    tokyo = sending.Schedule.parse("mon 00:30", "Asia/Tokyo")
    assert tokyo.due_week(dt.datetime(2025, 3, 16, 16, 0, tzinfo=dt.UTC), "previous") == WEEK
    for text, zone, message in (
        ("monday", "UTC", "must look like 'mon 09:00'"),
        ("fri 25:00", "UTC", "not a time of day"),
        ("fri 09:00", "Mars/Olympus", "unknown time zone"),
    ):
        with pytest.raises(sending.SendError, match=message):
            sending.Schedule.parse(text, zone)


def test_scheduler_sends_once_across_restarts_and_retries_failures(
    tmp_path: Path, smtp: tuple[Inbox, int], receiver: Receiver
) -> None:
    inbox, port = smtp
    settings = _settings(
        tmp_path,
        "a",
        smtp_port=port,
        digest_webhooks=SecretStr(f"{receiver.url}/hook"),
        digest_schedule="mon 09:00",
    )
    receiver.statuses = [500]
    before = dt.datetime(2025, 3, 17, 8, 0, tzinfo=dt.UTC)
    with _open(settings) as library:
        scheduler = _scheduler(library)
        assert scheduler.tick(before) == []
        first = scheduler.tick(before + dt.timedelta(hours=1))
        assert [o.status for o in first] == ["sent", "failed"]
        again = scheduler.tick(before + dt.timedelta(hours=1, minutes=1))
        assert [o.status for o in again] == ["skipped", "sent"]
    # A restart: a new process, the same database.
    with _open(settings) as library:
        restarted = _scheduler(library)
        later = restarted.tick(before + dt.timedelta(days=2))
        assert [o.status for o in later] == ["skipped", "skipped"]
        next_week = restarted.tick(before + dt.timedelta(days=7, hours=1))
        assert [o.status for o in next_week] == ["sent", "sent"]
    assert [m["Subject"] for m in inbox.messages] == [
        "Incident digest 2025-W11",
        "Incident digest 2025-W12",
    ]
    assert len(receiver.posts) == 3


def test_cli_digest_send(
    tmp_path: Path, smtp: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, port = smtp
    settings = _settings(tmp_path, "a", smtp_port=port)
    environment = {
        "PML_LIBRARY": settings.library,
        "PML_DATA_DIR": settings.data_dir,
        "PML_DATABASE_URL": settings.resolved_database_url,
        "PML_PUBLIC_URL": "https://pml.example.com",
        "PML_SMTP_HOST": "127.0.0.1",
        "PML_SMTP_PORT": port,
        "PML_SMTP_SECURITY": "none",
        "PML_DIGEST_FROM": "pml@example.com",
        "PML_DIGEST_TO": "sre@example.com",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, str(value))
    runner = CliRunner()
    sent = runner.invoke(main, ["digest", "--send", "--week", WEEK])
    assert sent.exit_code == 0, sent.output
    assert f"digest {WEEK}: e-mail to 1 recipients: sent" in sent.output
    twice = runner.invoke(main, ["digest", "--send", "--week", WEEK])
    assert twice.exit_code == 0 and "skipped (already sent" in twice.output
    forced = runner.invoke(main, ["digest", "--send", "--week", WEEK, "--force"])
    assert forced.exit_code == 0 and len(inbox.messages) == 2
    monkeypatch.setenv("PML_SMTP_PORT", str(free_port()))
    down = runner.invoke(main, ["digest", "--send", "--week", "2025-W12"])
    assert down.exit_code == 1 and "failed (SMTP 127.0.0.1" in down.output
    bad = runner.invoke(main, ["digest", "--send", "--week", "someday"])
    assert bad.exit_code == 2 and "week must look like 2025-W07" in bad.output


def test_pml_serve_sends_on_schedule_once_across_restarts_and_survives_smtp_down(
    tmp_path: Path, smtp: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real `pml serve`: the schedule's moment of this week has passed, so it sends at once."""
    inbox, port = smtp
    today = dt.datetime.now(dt.UTC)
    environment = {
        "PML_PUBLIC_URL": "https://pml.example.com",
        "PML_SMTP_HOST": "127.0.0.1",
        "PML_SMTP_PORT": free_port(),  # nobody listens: the first server cannot send
        "PML_SMTP_SECURITY": "none",
        "PML_DIGEST_FROM": "pml@example.com",
        "PML_DIGEST_TO": "sre@example.com",
        "PML_DIGEST_SCHEDULE": f"{sending.DAYS[today.weekday()]} 00:00",
        "PML_DIGEST_WEEK": "current",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, str(value))
    data = tmp_path / "data"
    with serve(data) as base:
        assert httpx.get(f"{base}/digest", timeout=10).status_code == 200
    assert inbox.messages == []
    monkeypatch.setenv("PML_SMTP_PORT", str(port))
    with serve(data):
        deadline = time.monotonic() + 30
        while not inbox.messages and time.monotonic() < deadline:
            time.sleep(0.2)
    with serve(data) as base:  # a restart finds this week's digest already sent
        time.sleep(3)  # the scheduler's first tick runs at start-up
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
    week = periods.label(today.date(), "week")
    assert [message["Subject"] for message in inbox.messages] == [f"Incident digest {week}"]
    text, _ = _parts(inbox.messages[0])
    assert "Credential stuffing" not in text  # the sample library's restricted postmortems


def test_scheduler_waits_for_a_library_that_is_not_indexed_yet(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    """With PML_GIT_URL the first sync runs in the background: an empty digest must not go."""
    inbox, port = smtp
    settings = _settings(tmp_path, "a", smtp_port=port, digest_schedule="mon 09:00")
    due = dt.datetime(2025, 3, 17, 10, 0, tzinfo=dt.UTC)
    with Library.open(settings) as library:  # opened, not refreshed: nothing indexed
        scheduler = _scheduler(library)
        assert scheduler.tick(due) == []
        library.refresh()
        assert [o.status for o in scheduler.tick(due)] == ["sent"]
    assert len(inbox.messages) == 1
    assert "Orders timeouts after pool exhaustion" in _parts(inbox.messages[0])[0]
