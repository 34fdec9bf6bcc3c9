"""The MCP server (official `mcp` SDK): the library as tools for an assistant.

    pml mcp                      # stdio, for a local assistant
    POST /mcp                    # streamable HTTP, behind the API's authentication

Tools: `search_postmortems` (with the search filters), `get_postmortem`,
`related_postmortems`, `seen_before` (an alert's text or a vendor payload),
`service_incidents` and `service_trends`. Every tool answers as its caller
may read the library: over HTTP the caller is resolved exactly as for the
API (PML_AUTH: a token, a trusted proxy's user, or nobody, the outsider),
and restricted postmortems reach only their audience; over stdio the
groups are the ones `pml mcp --group` names (none: the outsider's view).
Each tool calls the same library function as its HTTP route.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from api import security
from indexer import __version__, auth, usecases
from indexer.filters import INCIDENT_FIELDS, FilterError, Filters
from indexer.library import Library
from indexer.oncall import AlertReadError, reading, seen_before
from indexer.reports import metrics
from indexer.search import SearchQueryError, related

PATH = "/mcp"
GROUPS = "pml.groups"  # the scope key the HTTP door puts the caller's groups under
MAX_RESULTS = 50


class _Server(MCPServer):
    """The SDK's server and the library it serves over stdio (HTTP reads each request's)."""

    def __init__(self, library: Library | None, groups: frozenset[str]) -> None:
        super().__init__(
            "postmortem-library",
            version=__version__,
            instructions="Search the organisation's postmortems, read them, and find the ones an "
            "alert has been seen in before. Restricted postmortems appear only to their audience.",
        )
        self.library, self.groups = library, groups


def build(library: Library | None = None, groups: frozenset[str] = frozenset()) -> MCPServer:
    """The server; `library` and `groups` serve stdio (HTTP takes both from each request)."""
    server = _quietly(lambda: _Server(library, groups))
    for tool in TOOLS:
        server.add_tool(tool, description=inspect.cleandoc(tool.__doc__ or ""))
    return server


def _quietly(make: Callable[[], _Server]) -> _Server:
    """`make()` with the root logger left as it was.

    The SDK's server configures the root logger when it is built (a rich
    console handler at INFO, `logging.basicConfig`): every library's INFO
    lines would then reach the service's log, drawn for a terminal. The
    service's logging is uvicorn's and PML_LOG_LEVEL's to set.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        return make()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _reader(ctx: Context) -> tuple[Library, frozenset[str]]:
    """The library and the caller's groups: the HTTP request's, else the stdio server's."""
    request = ctx.request_context.request
    if isinstance(request, Request):
        found: Library = request.state.library
        return found, request.scope.get(GROUPS, frozenset())
    server = ctx.mcp_server
    assert isinstance(server, _Server) and server.library is not None, "stdio needs the library"
    return server.library, server.groups


async def search_postmortems(
    ctx: Context,
    query: str,
    service: list[str] | None = None,
    error_class: list[str] | None = None,
    severity: list[str] | None = None,
    team: list[str] | None = None,
    tag: list[str] | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 10,
) -> dict[str, Any]:
    """Search postmortems (full-text and semantic); filters narrow by service, error class,
    severity (SEV1-SEV4), team, tag and incident date (YYYY-MM-DD)."""
    library, groups = _reader(ctx)
    chosen = {
        "service": service,
        "error_class": error_class,
        "severity": severity,
        "team": team,
        "tag": tag,
    }
    try:
        filters = Filters(
            {name: values for name, values in chosen.items() if values},
            _day(since, "since"),
            _day(until, "until"),
        )
    except FilterError as error:
        raise ToolError(str(error)) from None
    searcher = library.searcher_for(groups)
    count = max(1, min(limit, MAX_RESULTS))
    try:
        results = await run_in_threadpool(
            lambda: searcher.search(query, filters, limit=count, groups=groups)
        )
    except SearchQueryError as error:
        raise ToolError(str(error)) from None
    body = results.as_dict()
    body.pop("facets", None)
    return body


async def get_postmortem(ctx: Context, postmortem_id: str) -> dict[str, Any]:
    """One postmortem: its metadata, Markdown body, action items and linked incidents."""
    library, groups = _reader(ctx)
    try:
        record = await run_in_threadpool(usecases.postmortem_record, library, postmortem_id, groups)
    except usecases.NotFound:
        raise ToolError(f"no postmortem with id '{postmortem_id[:200]}'") from None
    found: dict[str, Any] = _json(record)
    return found


async def related_postmortems(ctx: Context, postmortem_id: str, limit: int = 5) -> dict[str, Any]:
    """The postmortems most like one, each with why (shared terms, a close passage)."""
    library, groups = _reader(ctx)
    count = max(1, min(limit, MAX_RESULTS))
    items = await run_in_threadpool(
        lambda: related(library.engine, library.semantic, postmortem_id, limit=count, groups=groups)
    )
    if items is None:
        raise ToolError(f"no postmortem with id '{postmortem_id[:200]}'")
    return {"id": postmortem_id, "items": _json(items)}


async def seen_before_alert(
    ctx: Context,
    alert_text: str | None = None,
    payload: str | None = None,
    source: str | None = None,
    service: str | None = None,
) -> dict[str, Any]:
    """The postmortems an alert has been seen in before, each with its reasons. Give the
    alert as text (its name on the first line), or a vendor's webhook `payload` (JSON) with
    its `source`: alertmanager, pagerduty, opsgenie or firehydrant."""
    library, groups = _reader(ctx)
    try:
        if payload is not None:
            said = reading.read(source or "", payload.encode("utf-8"))
        else:
            said = reading.from_text(alert_text or "", service)
    except AlertReadError as error:
        raise ToolError(str(error)) from None
    answer = await run_in_threadpool(lambda: seen_before(library, said, groups))
    return answer.as_dict()


async def service_incidents(
    ctx: Context, service: str, since: str | None = None, limit: int = 50
) -> dict[str, Any]:
    """A service's stored incidents, newest first (times, severity, error classes)."""
    library, groups = _reader(ctx)
    chosen = Filters({"service": [service]}, _day(since, "since"), fields=INCIDENT_FIELDS)
    count = max(1, min(limit, 500))
    listed = await run_in_threadpool(usecases.incident_list, library, groups, chosen, count)
    return {"service": service, "total": listed["total"], "items": listed["items"]}


async def service_trends(ctx: Context, service: str, days: int = 90) -> dict[str, Any]:
    """A service's failure modes in the last `days` (against the days before) and its
    monthly time to resolve, with whether it is getting better."""
    library, _ = _reader(ctx)
    scope = metrics.Scope(service=service)
    today = dt.date.today()

    def read() -> dict[str, Any]:
        cache = metrics.TrendCache()
        return {
            "service": service,
            "failure_modes": usecases.failure_modes(library, today, days, scope),
            "mttr": usecases.duration_report(library, cache, "mttr", today, "month", 12, scope),
        }

    found: dict[str, Any] = _json(await run_in_threadpool(read))
    return found


# Each registered under its function's name, its docstring the description.
TOOLS: tuple[Callable[..., Awaitable[dict[str, Any]]], ...] = (
    search_postmortems,
    get_postmortem,
    related_postmortems,
    seen_before_alert,
    service_incidents,
    service_trends,
)


def _day(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ToolError(f"{name} must be a date like 2026-03-01, not {value[:40]!r}") from None


def _json(value: Any) -> Any:
    """Dates and times as ISO strings, as the HTTP API sends them."""
    return json.loads(json.dumps(value, default=str))


class Guarded:
    """The HTTP door: the API's origin check and authentication, then the MCP app.

    The caller's groups go into the request scope (`GROUPS`) for the tools to read.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "GET":
            # Stateless: no server-initiated messages, so no stream to open; the
            # transport's answer for that is 405 (a GET would otherwise hang open).
            refusal = {"detail": "the MCP endpoint takes POST (streamable HTTP, stateless)"}
            await JSONResponse(refusal, 405, {"Allow": "POST, DELETE"})(scope, receive, send)
            return
        request = Request(scope, receive)
        library: Library = request.state.library
        try:
            await security.check_origin(request)
            identity = await run_in_threadpool(
                auth.resolve, library.settings, library.engine, request.headers, _peer(scope)
            )
        except auth.AuthError as error:
            answer = JSONResponse(
                {"detail": str(error)}, 401, {"WWW-Authenticate": 'Bearer realm="pml"'}
            )
            await answer(scope, receive, send)
            return
        except Exception as error:  # the origin check's HTTPException
            status = getattr(error, "status_code", None)
            if status is None:
                raise
            await JSONResponse({"detail": getattr(error, "detail", "")}, status)(
                scope, receive, send
            )
            return
        groups = identity.groups if identity is not None else frozenset()
        if identity is not None and identity.groups:
            client = request.client.host if request.client else None
            await run_in_threadpool(auth.audit_read, library.engine, identity, "MCP", client)
        scope[GROUPS] = groups
        await self.app(scope, receive, send)


def _peer(scope: Scope) -> str | None:
    peer: str | None = scope.get(security.PEER)
    if peer is None and scope.get("client"):
        peer = scope["client"][0]
    return peer


def http_app(server: MCPServer) -> ASGIApp:
    """Streamable HTTP at PATH, stateless (any replica answers any request), JSON answers.

    The SDK's own Host check is off: the API's origin check and authentication guard it.
    """
    inner = server.streamable_http_app(
        streamable_http_path=PATH,
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    return Guarded(inner)
