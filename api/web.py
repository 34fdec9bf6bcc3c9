"""What the HTML pages share: templates, static files, security headers, HTML error pages.

The pages are server-rendered Jinja2 (autoescaped) with a little JavaScript
from our own /static path; a strict Content-Security-Policy on every HTML
response means no inline script or handler can run, even if a template
slipped. Third-party code (htmx, Chart.js) is served from /static/vendor;
`frontend.VENDORED` says where it comes from.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import jinja2
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import frontend
from api import security
from indexer.format import markdown
from indexer.reports import pack

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Anything that is not a page (JSON, CSV, Markdown, files) runs nothing and is framed nowhere.
NOT_A_PAGE_CSP = "default-src 'none'; frame-ancestors 'none'"
JSON_PATHS = ("/api/", "/healthz", "/readyz", "/metrics", "/openapi.json")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
# Caches must keep one reader's answer from another: these are what identity comes from.
IDENTITY_VARY = "Authorization, Cookie, X-Forwarded-User, X-Forwarded-Groups"
NO_STORE_PATHS = ("/api/audit", "/api/intake", "/intake")  # the admin's views


def install(app: FastAPI) -> None:
    """Mount the static files: ours and the vendored libraries.

    The security headers are not a middleware added here: `SecurityHeaders`
    wraps the whole app, outside Starlette's error layer (see `api.app`), so
    that a 500 carries them too.
    """
    frontend.check_assets()  # a missing file stops the start, not each request for it
    templates()  # compiled now, so the first reader of each page does not wait for it
    for vendored in frontend.VENDORED:
        app.mount(
            f"/static/vendor/{vendored.name}",
            StaticFiles(directory=vendored.directory()),
            name=f"vendor-{vendored.name}",
        )
    app.mount("/static", StaticFiles(directory=frontend.STATIC), name="static")


class SecurityHeaders:
    """Headers every response gets, errors and static files included.

    nosniff and a referrer policy everywhere; the pages' CSP on HTML (a page
    that set its own keeps it) and a deny-all CSP on everything else; and on
    every answer that asked who is asking (`deps.get_identity`),
    `Cache-Control: private` (`no-store` for the audit log) and a `Vary` on
    the identity headers and cookie.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _harden(scope, list(message.get("headers", [])))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _harden(scope: Scope, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    headers = [(n, _own_path(scope, v) if n.lower() == b"location" else v) for n, v in headers]
    names = {name.lower() for name, _ in headers}
    headers += [(name, value) for name, value in SECURITY_HEADERS if name not in names]
    if b"content-security-policy" not in names:
        html = dict(headers).get(b"content-type", b"").startswith(b"text/html")
        headers.append((b"content-security-policy", (CSP if html else NOT_A_PAGE_CSP).encode()))
    if scope.get("state", {}).get("identity_asked"):
        path: str = scope["path"]
        cache = "no-store" if path.startswith(NO_STORE_PATHS) else "private"
        headers = [(n, v) for n, v in headers if n.lower() != b"cache-control"]
        headers.append((b"cache-control", cache.encode()))
        vary = [v.decode("latin-1") for n, v in headers if n.lower() == b"vary"]
        headers = [(n, v) for n, v in headers if n.lower() != b"vary"]
        headers.append((b"vary", ", ".join([*vary, IDENTITY_VARY]).encode("latin-1")))
    return headers


def _own_path(scope: Scope, location: bytes) -> bytes:
    """Starlette's redirects (`/trends/` -> `/trends`) name the Host header's host: drop it.

    A relative Location means the same, and no one can point it elsewhere with `Host:`.
    """
    parts = urlsplit(location.decode("latin-1"))
    host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
    if not parts.netloc or parts.netloc.lower() != host.lower():
        return location
    return urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment)).encode("latin-1")


@cache
def templates() -> Jinja2Templates:
    """The page templates, autoescaped, with the filters the pages use."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(frontend.TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        duration=duration,
        moment=moment,
        percent=percent,
        reason=pack.describe_reason,
        status=status_label,
        markdown=markdown.render_html,
    )
    # Compile every page once, up front: the postmortem page took ~100 ms on its
    # first request (benchmarks/bench_pages.py's p99 was that one request).
    for name in environment.list_templates(extensions=["html"]):
        environment.get_template(name)
    return Jinja2Templates(env=environment)


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """A page (or, for htmx, a fragment) rendered with `context`.

    A form calls `csrf_token()`; the first time, that makes the cookie the token is tied to.
    """
    context = {**context, "csrf_token": lambda: security.form_token(request)}
    response = templates().TemplateResponse(request, name, context, status_code=status_code)
    security.set_form_cookie(request, response)
    # The same URL answers a full page or an htmx fragment: caches must tell them apart.
    response.headers["vary"] = "HX-Request, HX-Target"
    return response


def fragment_for(request: Request, target: str) -> bool:
    """Whether htmx asked for just the element `target` (a history restore wants the page)."""
    headers = request.headers
    return (
        headers.get("hx-request") == "true"
        and headers.get("hx-target") == target
        and headers.get("hx-history-restore-request") != "true"
    )


def wants_html(request: Request) -> bool:
    """Errors on pages are pages; errors on the API (or asked for as JSON) are JSON."""
    if request.url.path.startswith(JSON_PATHS):
        return False
    accept = request.headers.get("accept", "")
    return "application/json" not in accept or "text/html" in accept


class NotFound(HTTPException):
    """A 404 that says what the caller may have meant: ids in JSON, links on the page."""

    def __init__(self, detail: str, did_you_mean: list[str], link: str = "/postmortems/{}") -> None:
        super().__init__(404, detail)
        self.did_you_mean = did_you_mean
        self.links = [(value, link.format(quote(value))) for value in did_you_mean]


def error_page(
    request: Request,
    status_code: int,
    message: str,
    links: list[tuple[str, str]] | None = None,
) -> HTMLResponse:
    titles = {404: "Not found", 409: "Cannot be shown", 422: "Bad request", 500: "Server error"}
    title = titles.get(status_code, "Bad request" if status_code < 500 else "Unavailable")
    context = {"title": title, "status": status_code, "message": message, "links": links or []}
    return render(request, "error.html", context, status_code=status_code)


def status_label(value: str | None) -> str:
    """An action item's status in words: `wont_do` is "won't do"."""
    return pack.STATUS_WORDS.get(value or "", (value or "").replace("_", " "))


def duration(seconds: float | None) -> str:
    """3 min, 1 h 33 min, 2 d 4 h; an empty value is a dash."""
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def moment(value: str | None) -> str:
    """An ISO timestamp as `2025-02-11 18:02 UTC`."""
    if not value:
        return "—"
    stamp = datetime.fromisoformat(value)
    return stamp.strftime("%Y-%m-%d %H:%M ") + (stamp.tzname() or "")


def percent(change: float | None) -> str:
    return "" if change is None else f"{change:+.0%}"
