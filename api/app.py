"""The FastAPI application factory: resources in lifespan state, one error policy."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import ASGIApp

from api import (
    admission,
    browse,
    deps,
    docs,
    edge,
    feeds,
    incidents,
    intake,
    limits,
    mcp,
    oncall,
    operations,
    postmortems,
    prometheus,
    reports,
    security,
    web,
    webhooks,
)
from indexer import __version__, usecases
from indexer.config import Settings
from indexer.incidents import deliveries
from indexer.indexing import gitsync, replicas
from indexer.library import Library
from indexer.oncall import delivery
from indexer.reports import metrics
from indexer.search import SearchQueryError, SemanticUnavailable

log = logging.getLogger("pml.api")


class _App(FastAPI):
    """FastAPI with `web.SecurityHeaders` outside everything, Starlette's error layer included.

    Middleware added with `add_middleware` sits inside that layer, so the 500
    it answers for an unhandled error would go out without the headers.
    """

    def build_middleware_stack(self) -> ASGIApp:
        return web.SecurityHeaders(super().build_middleware_stack())


def create_app(settings: Settings | None = None, *, index_on_start: bool = True) -> FastAPI:
    """Build the app. The library is opened (and indexed if it changed) at start-up."""
    settings = settings or Settings()
    # MCP over streamable HTTP: its tools read the library and the caller from each request.
    assistant = mcp.build()
    assistant_app = mcp.http_app(assistant)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
        edge.quiet_access_log()  # after uvicorn configured its loggers
        library = Library.open(settings)
        follower = gitsync.follower(library) if settings.git_url else None
        if follower is not None:
            # Serve the previous index at once; the first sync runs in the background.
            follower.start(run_now=index_on_start)
        elif index_on_start:
            # With the shipped incident history, so no dashboard is empty on a first start.
            usecases.refresh(library)
        # Full-text answers now; semantic search joins when the model has loaded.
        library.semantic.start()
        # Webhook deliveries a killed process stored but never finished: process them now.
        deliveries.resume(library, on_push=follower.request if follower is not None else None)
        # Other replicas (or `pml index`) may write the shared database: follow them.
        replica = replicas.Follower(library, settings.replica_poll)
        replica.start()
        digests = usecases.digest_scheduler(library)  # PML_DIGEST_SCHEDULE
        if digests is not None:
            digests.start()
        oncall_sender = delivery.dispatcher(library)  # PML_ONCALL_*: precedents to the on-call
        if oncall_sender is not None:
            oncall_sender.start()
        try:
            async with assistant.session_manager.run():
                yield {
                    "library": library,
                    "sync": follower,
                    "trend_cache": metrics.TrendCache(),
                    "form_secret": usecases.shared_secret(library, security.SECRET_KEY),
                    # Called with each delivery that stored a new incident or firing alert
                    # (`deliveries.Listener`): append to announce them.
                    "intake_listeners": [oncall_sender.listen] if oncall_sender else [],
                    "oncall": oncall_sender,
                }
        finally:
            if oncall_sender is not None:
                oncall_sender.stop()
            if digests is not None:
                digests.stop()
            replica.stop()
            if follower is not None:
                follower.stop()
            library.close()

    app = _App(
        title="Postmortem Library",
        version=__version__,
        description="Search and browse the postmortem library.",
        lifespan=lifespan,
        docs_url=None,  # api.docs serves both from local assets
        redoc_url=None,
        # In this order: a cross-site write is refused before it is audited as a write.
        dependencies=[Depends(security.check_origin), Depends(deps.guard_writes)],
    )
    # Imports are files of many megabytes; every other body is small. Added first, so it is
    # the innermost middleware: its 413 still gets the security headers and request metrics.
    imports = {"/api/incidents/import": settings.import_max_bytes}
    app.add_middleware(limits.BodyLimit, limit=settings.max_body_bytes, per_path=imports)
    app.include_router(postmortems.router)
    app.include_router(operations.router)
    app.include_router(reports.router)
    app.include_router(incidents.router)
    app.include_router(oncall.router)
    # Inside the request metrics: a request's wait for its turn is part of its latency.
    app.add_middleware(admission.Admission, limit=settings.max_busy_requests)
    prometheus.install(app)
    app.include_router(webhooks.router)
    app.include_router(reports.page_router)
    app.include_router(feeds.router)
    app.include_router(incidents.page_router)
    app.include_router(browse.router)  # after incidents: /api/services/unmapped comes first
    app.include_router(browse.page_router)
    app.include_router(intake.router)
    app.include_router(intake.page_router)
    app.include_router(oncall.page_router)
    app.router.routes.append(Route(mcp.PATH, assistant_app, methods=["GET", "POST", "DELETE"]))
    docs.install(app)
    web.install(app)
    _install_error_handlers(app)
    # Before any route: a foreign Host, a repeated identity header, a NUL in the URL.
    app.add_middleware(edge.Envelope, allowed_hosts=settings.allowed_host_names)
    # Outermost, so every layer below sees the forwarded client and the real peer is kept.
    app.add_middleware(security.ClientAddress, trusted_proxies=settings.trusted_proxies)
    return app


def _describe(error: dict[str, Any]) -> str:
    location = [str(part) for part in error.get("loc", ()) if part not in ("query", "path", "body")]
    where = ".".join(location) or "request"
    return f"{where}: {error.get('msg', 'invalid value')}"


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        errors = [dict(e) for e in error.errors()]
        message = "; ".join(_describe(e) for e in errors)
        if web.wants_html(request):
            return web.error_page(request, 422, message)
        detail = [
            {
                "loc": list(e.get("loc", ())),
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in errors
        ]
        return JSONResponse({"detail": detail, "message": message}, status_code=422)

    @app.exception_handler(SemanticUnavailable)
    async def semantic_unavailable(request: Request, error: SemanticUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=503, headers={"Retry-After": "10"})

    @app.exception_handler(SearchQueryError)
    async def search_error(request: Request, error: SearchQueryError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=400)

    @app.exception_handler(usecases.NotFound)
    async def not_found(request: Request, error: usecases.NotFound) -> Response:
        if error.did_you_mean is None:
            return await http_error(request, StarletteHTTPException(404, error.message))
        close = web.NotFound(error.message, error.did_you_mean, error.link)
        return await http_error(request, close)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if web.wants_html(request):
            links = error.links if isinstance(error, web.NotFound) else None
            return web.error_page(request, error.status_code, str(error.detail), links)
        body: dict[str, Any] = {"detail": error.detail}
        if isinstance(error, web.NotFound):
            body["did_you_mean"] = error.did_you_mean
        return JSONResponse(
            body,
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if web.wants_html(request):
            return web.error_page(
                request, 500, "Something went wrong; the server log has the details."
            )
        return JSONResponse(
            {"detail": "internal error; the server log has the details"}, status_code=500
        )
