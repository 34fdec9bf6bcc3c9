"""Local HTTP servers standing in for PagerDuty, Opsgenie, Slack and Teams.

Each checks the request the vendor documents (path, method, auth header,
body shape) and answers as the vendor does; a request that is not right is
answered 400 with the reason, and every request is recorded. `failures`
makes the next N requests fail with 500 (a vendor outage).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    problem: str | None


@dataclass
class Vendor:
    """What the server saw; `failures` fail that many requests first."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    failures: int = 0

    def good(self) -> list[Received]:
        return [r for r in self.requests if r.problem is None]


PD_TOKEN, PD_FROM, OG_KEY = "pd-rest-token", "oncall-bot@example.com", "og-api-key"


def problem(path: str, headers: dict[str, str], body: Any) -> str | None:
    """Why a request is not what the vendor's API documents, or None."""
    if path.startswith("/pagerduty/incidents/") and path.endswith("/notes"):
        if headers.get("authorization") != f"Token token={PD_TOKEN}":
            return "Authorization must be 'Token token=<key>'"
        if headers.get("from") != PD_FROM:
            return "From must be the e-mail of a PagerDuty user"
        if "application/vnd.pagerduty+json;version=2" not in headers.get("accept", ""):
            return "Accept must ask for API v2"
        note = body.get("note") if isinstance(body, dict) else None
        ok = isinstance(note, dict) and isinstance(note.get("content"), str) and note["content"]
        return None if ok else "body must be {note: {content}}"
    if path.startswith("/opsgenie/v2/alerts/") and "/notes" in path:
        if headers.get("authorization") != f"GenieKey {OG_KEY}":
            return "Authorization must be 'GenieKey <key>'"
        ok = isinstance(body, dict) and isinstance(body.get("note"), str) and body["note"]
        return None if ok else "body must have a note"
    if path == "/slack":
        ok = isinstance(body, dict) and body.get("text") and isinstance(body.get("blocks"), list)
        return None if ok else "Slack needs text and blocks"
    if path == "/teams":
        attachments = body.get("attachments") if isinstance(body, dict) else None
        ok = (
            body.get("type") == "message"
            and isinstance(attachments, list)
            and attachments[0].get("contentType") == "application/vnd.microsoft.card.adaptive"
        )
        return None if ok else "Teams needs a message with an Adaptive Card"
    return f"no such endpoint {path}"


@contextmanager
def serving() -> Iterator[Vendor]:
    vendor = Vendor()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            headers = {k.lower(): v for k, v in self.headers.items()}
            if headers.get("content-type") != "application/json":
                reason: str | None = "Content-Type must be application/json"
            else:
                reason = problem(self.path.split("?")[0], headers, body)
            with lock:
                vendor.requests.append(Received(self.path, headers, body, reason))
                failing = vendor.failures > 0 and reason is None
                if failing:
                    vendor.failures -= 1
            status = 500 if failing else 400 if reason else self._created()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps({"error": reason} if reason else {}).encode())

        def _created(self) -> int:
            if self.path.startswith("/pagerduty/"):
                return 201
            return 202 if self.path.startswith("/opsgenie/") else 200

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    vendor.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield vendor
    finally:
        server.shutdown()
        server.server_close()
