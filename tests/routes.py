"""Every route of an app: FastAPI lists an included router as one entry, so walk into it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def every_route(routes: list[Any]) -> Iterator[Any]:
    """The routes (API routes, pages, mounts) of `routes`, through included routers."""
    for route in routes:
        if hasattr(route, "original_router"):
            yield from every_route(route.original_router.routes)
        else:
            yield route
