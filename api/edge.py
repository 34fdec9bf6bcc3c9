"""The request's own envelope, checked before any route sees it.

- **Host** (`PML_ALLOWED_HOSTS`): a request naming a host we do not serve is
  refused (400). A DNS-rebinding page makes the victim's browser send our
  address under its own name; it cannot make it send ours, so the origin
  check's "same host" stops meaning "same site" unless the host is checked.
  Liveness, readiness and metrics answer any host: probes and scrapers call
  the pod by its address, and those answers carry nothing a reader's do not.
- **Identity headers sent twice** (`X-Forwarded-User`, `X-Forwarded-Groups`):
  refused (400). A proxy that appends instead of replacing would let a
  client's own header win.
- **Text no database can store** in the path or a query parameter (a NUL):
  refused (400) naming the parameter, on SQLite as on PostgreSQL.
- **Query strings in the access log**: `quiet_access_log` drops them, since a
  token pasted into a URL would otherwise be written to disk.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from indexer import storable

ANY_HOST = frozenset({"/healthz", "/readyz", "/metrics"})
IDENTITY_HEADERS = (b"x-forwarded-user", b"x-forwarded-groups")


class Envelope:
    """Pure ASGI middleware refusing a bad Host, repeated identity headers and NULs."""

    def __init__(self, app: ASGIApp, allowed_hosts: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = self.problem(scope)
            if problem is not None:
                await JSONResponse({"detail": problem}, status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def problem(self, scope: Scope) -> str | None:
        """Why the request is refused, or None."""
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        if scope["path"] not in ANY_HOST and "*" not in self.allowed:
            host = host_name(_header(headers, b"host"))
            if host not in self.allowed:
                return f"host {host[:100]!r} is not served here (PML_ALLOWED_HOSTS)"
        for name in IDENTITY_HEADERS:
            if sum(1 for key, _ in headers if key.lower() == name) > 1:
                return f"the {name.decode()} header was sent more than once"
        return _unstorable(scope)


def host_name(value: str) -> str:
    """The host of a Host header, lower case, without its port or IPv6 brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rpartition(":")[0] if value.count(":") == 1 else value


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    return next((v.decode("latin-1") for k, v in headers if k.lower() == name), "")


def _unstorable(scope: Scope) -> str | None:
    reason = storable.unstorable_reason(scope["path"])
    if reason is not None:
        return f"the path {reason}"
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        for text, what in ((name, "a query parameter name"), (value, f"query parameter {name!r}")):
            reason = storable.unstorable_reason(text)
            if reason is not None:
                return f"{what[:140]} {reason}"
    return None


class _WithoutQuery(logging.Filter):
    """uvicorn's access-log record is (client, method, path with query, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path, mark, _ = args[2].partition("?")
            record.args = (args[0], args[1], path + ("?…" if mark else ""), args[3], args[4])
        return True


_FILTER = _WithoutQuery()


def quiet_access_log() -> None:
    """Keep query strings (and any token in them) out of uvicorn's access log."""
    logger = logging.getLogger("uvicorn.access")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
