"""The request body cap: `PML_MAX_BODY_BYTES` for every route, a larger one for imports.

A pure ASGI middleware, so it also catches bodies sent without a
Content-Length (chunked): a declared size over the cap is refused before the
route runs; an undeclared body is read up to the cap first and refused as
soon as it passes it. The 413 is JSON with a `detail`, like every other error.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int, per_path: dict[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.per_path = per_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.limit)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit():
            if int(declared) > limit:
                await _refuse(limit, scope, receive, send)
                return
            await self.app(scope, receive, send)  # the server holds the body to its length
            return
        if scope["path"] in self.per_path:
            # Routes with their own limit stream the body to a file and count as it comes
            # (an import): buffering 50 MB here would defeat that.
            await self.app(scope, receive, send)
            return
        buffered = await _read_up_to(receive, limit)
        if buffered is None:
            await _refuse(limit, scope, receive, send)
            return
        await self.app(scope, _replay(buffered, receive), send)


async def _read_up_to(receive: Receive, limit: int) -> list[Message] | None:
    """Every body message of a chunked request, or None once they pass `limit` bytes."""
    messages, size = [], 0
    while True:
        message = await receive()
        messages.append(message)
        size += len(message.get("body", b""))
        if size > limit:
            return None
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    async def replayed() -> Message:
        return messages.pop(0) if messages else await receive()

    return replayed


async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    detail = f"request body is larger than the limit of {limit} bytes"
    await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
