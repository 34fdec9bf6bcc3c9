"""Admission: at most `PML_MAX_BUSY_REQUESTS` reads compute at once; the rest wait their turn.

Searches, pages and trends are CPU work in Python threads. Admitted all at
once, 32 of them share two cores and the interpreter lock in slices, so every
one of them takes as long as all of them together, and the longest take
longest of all (the tail of a load test). Admitted a few at a time, in
arrival order, each runs nearly as fast as alone and waits only for the
requests that came before it: more requests per second and a far shorter
tail (docs/deployment.md has the figures).

Reads (GET, HEAD) take turns, and so does an incident import, once its
whole body has arrived (`COMPUTING_WRITES`): parsing and storing a large
file is CPU work like any read, and three at once slowed every search; the
upload itself still arrives at the client's pace, holding no turn. A request holds its turn until
its response starts; a streamed body (an export) is sent without it. The
operations routes (`/healthz`, `/readyz`, `/metrics`) and static files never
wait: a probe must answer under load. A pure ASGI middleware (asyncio's
semaphore wakes waiters in arrival order).
"""

from __future__ import annotations

import asyncio
import os

from starlette.types import ASGIApp, Message, Receive, Scope, Send

NEVER_WAIT = ("/healthz", "/readyz", "/metrics")
STATIC = "/static/"
READS = ("GET", "HEAD")
COMPUTING_WRITES = ("/api/incidents/import",)


def default_limit() -> int:
    """One turn per CPU core this process may use.

    Measured with benchmarks/bench_load.py on 2 cores (docs/deployment.md):
    2 turns gave the most requests per second and the shortest tail; 1
    leaves a core idle while a turn waits on the database or on tantivy
    (which lets go of the interpreter lock), 3 or more bring the contention
    back.
    """
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2


class Admission:
    def __init__(self, app: ASGIApp, limit: int | None = None) -> None:
        self.app = app
        self.limit = default_limit() if limit is None else limit
        # Made in the server's event loop (anew if the app is served from another one).
        self._turns: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or self.limit <= 0:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "POST" and path in COMPUTING_WRITES:
            await self._after_body(scope, receive, send)
            return
        if scope["method"] not in READS or path in NEVER_WAIT or path.startswith(STATIC):
            await self.app(scope, receive, send)
            return
        turns = self._semaphore()
        await turns.acquire()
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                turns.release()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                release()  # computed; a streamed body goes out without the turn
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            release()

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._turns is None or self._turns[0] is not loop:
            self._turns = (loop, asyncio.Semaphore(self.limit))
        return self._turns[1]

    async def _after_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Take a turn when the body's last part has arrived; give it back when answering."""
        turns = self._semaphore()
        held = False

        async def receiving() -> Message:
            nonlocal held
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body") and not held:
                await turns.acquire()
                held = True
            return message

        async def sending(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and held:
                held = False
                turns.release()
            await send(message)

        try:
            await self.app(scope, receiving, sending)
        finally:
            if held:
                turns.release()
