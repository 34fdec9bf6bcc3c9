"""Server-side render time of every HTML page on the sample library: p50 and p99.

    .venv/bin/python benchmarks/bench_pages.py [--requests 200]

Requests go through the whole ASGI app in-process (FastAPI's TestClient), so
the figures are the server's work (routing, indexer calls, templates,
middleware) without network or browser time. The target is under 100 ms.
Each page is requested WARM_UP times before it is timed: the process's first
use of a query or template (compiled once) is not the steady state.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PML_EMBEDDING_MODEL", "hash")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient

from api.app import create_app
from indexer.config import Settings

LIBRARY = Path(__file__).resolve().parent.parent / "postmortems"
EXAMPLE = "2025-02-11-orders-pgbouncer-pool-exhaustion"
WARM_UP = 5
PAGES = {
    "search (empty)": "/",
    "search (query)": "/?q=connection+pool+exhaustion",
    "search (query + facet)": "/?q=pool&service=orders",
    "search (htmx fragment)": "/?q=database+ran+out+of+connections",
    "postmortem": f"/postmortems/{EXAMPLE}",
    "presenter pack": f"/postmortems/{EXAMPLE}/pack",
    "trends": "/trends",
    "trends CSV": "/trends/mttr.csv",
    "review weekly": "/review/weekly",
    "review monthly": "/review/monthly",
    "review quarterly": "/review/quarterly",
    "near-misses": "/near-misses",
    "digest": "/digest",
}
FRAGMENT = {"HX-Request": "true", "HX-Target": "results"}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    count = parser.parse_args().requests
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(library=LIBRARY, data_dir=Path(data), embedding_model="hash")
        with TestClient(create_app(settings)) as client:
            while not client.get("/readyz").json()["semantic"]:
                time.sleep(0.1)
            print(f"{'page':<26} {'p50 ms':>8} {'p99 ms':>8}   ({count} requests each)")
            for name, url in PAGES.items():
                headers = FRAGMENT if "fragment" in name else {}
                for _ in range(WARM_UP):  # first-use costs (statement compilation) are not counted
                    client.get(url, headers=headers)
                timings = []
                for _ in range(count):
                    started = time.perf_counter()
                    response = client.get(url, headers=headers)
                    timings.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, (url, response.status_code)
                p50, p99 = statistics.median(timings), percentile(timings, 0.99)
                print(f"{name:<26} {p50:8.1f} {p99:8.1f}")


if __name__ == "__main__":
    main()
