"""Defences at the HTTP edge: cross-site writes, client addresses, per-reader caching.

- `check_origin` (app-wide dependency): a write (POST, PUT, PATCH, DELETE)
  whose `Origin` is not our own origin, or that a browser marks
  `Sec-Fetch-Site: cross-site` / `same-site`, is refused with 403 before any
  route or audit entry sees it. Our origin is `PML_PUBLIC_URL`'s; unset, the
  request's own scheme and host. A request with neither header is not from a
  browser (curl, Alertmanager, a webhook) and is judged by its credentials.
- HTML forms also carry a signed double-submit token (`form_token`,
  `check_form_token`): a random cookie, and in the form an HMAC of that cookie
  and the reader's identity under a secret kept in the database (so every
  replica accepts every other's forms).
- `require_json` / `refuse_form_types`: JSON endpoints take only
  `application/json`; the import refuses the three content types a browser
  form can send cross-site without asking (415).
- `ClientAddress` (outermost middleware): remembers the direct peer for the
  trust check, and takes the client address and scheme from
  `X-Forwarded-For` / `X-Forwarded-Proto` only when that peer is one of
  `PML_TRUSTED_PROXIES`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from indexer import auth
from indexer.config import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BROWSER_SITES = frozenset({"same-origin", "none"})  # `none`: the user typed or bookmarked it
CSRF_COOKIE = "pml_csrf"
CSRF_FIELD = "csrf_token"
SECRET_KEY = "form_token_secret"
PEER = "pml.peer"  # the scope key holding the direct peer's address
# What a page on another site can POST without a CORS preflight (the "simple" types).
FORM_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str:
    """`scheme://host[:port]`, lower case, the default port left out (as browsers send it)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        return ""
    if port is None or port == DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def own_origin(settings: Settings, request: Request) -> str:
    """`PML_PUBLIC_URL`'s origin; unset, the scheme and Host of the request itself."""
    if settings.public_url:
        return origin_of(settings.public_url)
    return origin_of(f"{request.url.scheme}://{request.headers.get('host', '')}")


async def check_origin(request: Request) -> None:
    """Refuse a write that a browser sent from another site (app-wide dependency)."""
    if request.method in SAFE_METHODS:
        return
    settings: Settings = request.state.library.settings
    origin = request.headers.get("origin")
    if origin is not None:
        expected = own_origin(settings, request)
        if origin_of(origin) != expected:
            raise HTTPException(
                403, f"cross-site request refused: Origin {origin[:200]!r} is not {expected!r}"
            )
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in BROWSER_SITES:
        raise HTTPException(403, f"cross-site request refused: Sec-Fetch-Site is {site[:40]!r}")


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def require_json(request: Request) -> None:
    """A JSON endpoint reads only a body declared as JSON (route dependency)."""
    kind = media_type(request)
    if kind != "application/json" and not kind.endswith("+json"):
        shown = kind or "none"
        raise HTTPException(415, f"send Content-Type: application/json (got {shown})")


def refuse_form_types(request: Request, wanted: str) -> None:
    """A file upload must not be something a form on another site could send."""
    if media_type(request) in FORM_TYPES:
        raise HTTPException(
            415, f"send the file with Content-Type: {wanted} (got {media_type(request)})"
        )


def _sign(secret: bytes, cookie: str, identity: auth.Identity | None) -> str:
    who = identity.name if identity else ""
    return hmac.new(secret, f"{cookie}\n{who}".encode(), hashlib.sha256).hexdigest()


def form_token(request: Request) -> str:
    """The token for this reader's forms; sets the cookie it is tied to when there is none."""
    cookie = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf_cookie", None)
    if not cookie:
        cookie = secrets.token_urlsafe(32)
        request.state.new_csrf_cookie = cookie
    identity = getattr(request.state, "identity", None)
    return _sign(request.state.form_secret, cookie, identity)


def set_form_cookie(request: Request, response: Response) -> None:
    """Send the cookie `form_token` made for this response, if it made one."""
    cookie = getattr(request.state, "new_csrf_cookie", None)
    if cookie:
        secure = own_origin(request.state.library.settings, request).startswith("https:")
        response.set_cookie(
            CSRF_COOKIE, cookie, httponly=True, samesite="strict", secure=secure, path="/"
        )


def check_form_token(request: Request, submitted: str | None) -> None:
    """403 unless the form's token matches this reader's cookie and identity."""
    cookie = request.cookies.get(CSRF_COOKIE)
    identity = getattr(request.state, "identity", None)
    expected = _sign(request.state.form_secret, cookie, identity) if cookie else None
    if expected is None or not submitted or not hmac.compare_digest(expected, submitted):
        raise HTTPException(
            403, "the form has expired or came from another site: reload the page and submit again"
        )


class ClientAddress:
    """The outermost layer: the real peer for the trust check, the forwarded client for logs.

    uvicorn's own forwarded-header handling is off (`pml serve`): it would trust
    127.0.0.1 by default, and it overwrites the peer address the trust check needs.
    """

    def __init__(self, app: ASGIApp, trusted_proxies: str) -> None:
        self.app = app
        self.networks = auth.trusted_networks(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            peer = client[0] if client else None
            scope[PEER] = peer
            if auth.is_trusted(peer, self.networks):
                self._forwarded(scope)
        await self.app(scope, receive, send)

    def _forwarded(self, scope: Scope) -> None:
        headers = dict(scope["headers"])
        listed = headers.get(b"x-forwarded-for", b"").decode("latin-1")
        hops = [hop.strip() for hop in listed.split(",") if hop.strip()]
        if hops:
            # The nearest hop that is not one of our proxies is the client; anything to its
            # left was written by the client itself and proves nothing.
            untrusted = [h for h in hops if not auth.is_trusted(h, self.networks)]
            scope["client"] = (untrusted[-1] if untrusted else hops[0], 0)
        proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1").strip().lower()
        if proto in DEFAULT_PORTS:
            scope["scheme"] = proto
