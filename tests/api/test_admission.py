"""Admission: a few reads compute at once, the rest wait in arrival order; probes never wait."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.admission import Admission
from api.app import create_app
from indexer.config import Settings


class _Work:
    """Routes that run until the test lets them finish, recording who started when."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finish: dict[str, asyncio.Event] = {}

    async def slow(self, request: Request) -> JSONResponse:
        name = request.query_params["name"]
        self.started.append(name)
        await self.finish.setdefault(name, asyncio.Event()).wait()
        return JSONResponse({"name": name})

    async def health(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    def app(self, limit: int) -> Admission:
        routes = [
            Route("/slow", self.slow, methods=["GET", "POST"]),
            Route("/healthz", self.health),
        ]
        return Admission(Starlette(routes=routes), limit=limit)


async def _until(check: object) -> None:
    for _ in range(200):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within 2 s")


def test_reads_wait_their_turn_in_arrival_order_and_probes_never_wait() -> None:
    work = _Work()

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=work.app(limit=1))
        async with httpx.AsyncClient(transport=transport, base_url="http://pml") as client:
            first = asyncio.create_task(client.get("/slow", params={"name": "a"}))
            await _until(lambda: work.started == ["a"])
            second = asyncio.create_task(client.get("/slow", params={"name": "b"}))
            await asyncio.sleep(0.01)
            third = asyncio.create_task(client.get("/slow", params={"name": "c"}))
            await asyncio.sleep(0.1)
            assert work.started == ["a"]  # one at a time
            # A probe answers at once, and a write does not take a turn.
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            write = asyncio.create_task(client.post("/slow", params={"name": "w"}))
            await _until(lambda: "w" in work.started)
            work.finish.setdefault("w", asyncio.Event()).set()
            assert (await write).status_code == 200
            work.finish.setdefault("a", asyncio.Event()).set()
            assert (await first).json() == {"name": "a"}
            await _until(lambda: work.started[-1] == "b")
            work.finish.setdefault("b", asyncio.Event()).set()
            work.finish.setdefault("c", asyncio.Event()).set()
            assert [(await t).json()["name"] for t in (second, third)] == ["b", "c"]
            assert work.started == ["a", "w", "b", "c"]  # in the order they arrived

    asyncio.run(scenario())


def test_a_failing_read_gives_its_turn_back() -> None:
    async def broken(request: Request) -> JSONResponse:
        raise RuntimeError("boom")

    app = Admission(Starlette(routes=[Route("/broken", broken)]), limit=1)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://pml") as client:
            for _ in range(3):  # a lost turn would leave the third waiting forever
                response = await asyncio.wait_for(client.get("/broken"), 2)
                assert response.status_code == 500

    asyncio.run(scenario())


def test_the_service_answers_many_readers_at_once_with_one_turn(settings: Settings) -> None:
    settings.max_busy_requests = 1
    with TestClient(create_app(settings)) as client:

        def search(n: int) -> int:
            return client.get(
                "/api/search", params={"q": f"pool {n}", "mode": "fulltext"}
            ).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(search, range(24))) == {200}
        assert client.get("/healthz").status_code == 200


def test_an_app_served_again_from_another_event_loop_still_takes_turns() -> None:
    work = _Work()
    app = work.app(limit=1)

    async def contended(round: int) -> list[str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pml") as client:
            names = [f"{round}-{n}" for n in range(3)]
            tasks = []
            for name in names:
                tasks.append(asyncio.create_task(client.get("/slow", params={"name": name})))
                await asyncio.sleep(0.01)
            for name in names:
                await _until(lambda name=name: name in work.started)
                work.finish.setdefault(name, asyncio.Event()).set()
            return [(await task).json()["name"] for task in tasks]

    assert asyncio.run(contended(1)) == ["1-0", "1-1", "1-2"]
    assert asyncio.run(contended(2)) == ["2-0", "2-1", "2-2"]  # a new loop, new turns


def test_an_import_takes_a_turn_once_its_body_has_arrived() -> None:
    """Issue 29: imports skipped admission, and three at once slowed every search."""
    work = _Work()

    async def importing(request: Request) -> JSONResponse:
        await request.body()
        work.started.append("import")
        await work.finish.setdefault("import", asyncio.Event()).wait()
        return JSONResponse({"name": "import"})

    routes = [
        Route("/slow", work.slow),
        Route("/api/incidents/import", importing, methods=["POST"]),
    ]
    app = Admission(Starlette(routes=routes), limit=1)
    last_part = asyncio.Event()

    async def body() -> object:
        yield b"source_id,started_at\n"
        await last_part.wait()  # a slow upload: still arriving
        yield b"A,2025-03-01T10:00:00Z\n"

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pml") as client:
            upload = asyncio.create_task(client.post("/api/incidents/import", content=body()))
            await asyncio.sleep(0.05)
            # The upload holds no turn while its body arrives: a read goes first.
            read = asyncio.create_task(client.get("/slow", params={"name": "a"}))
            await _until(lambda: work.started == ["a"])
            last_part.set()
            await asyncio.sleep(0.1)
            assert work.started == ["a"]  # the whole body is in: now it waits for the turn
            work.finish.setdefault("a", asyncio.Event()).set()
            await _until(lambda: work.started == ["a", "import"])
            work.finish["import"].set()
            assert (await upload).status_code == 200 and (await read).status_code == 200

    asyncio.run(scenario())
