"""Benchmark the incident trends: 100,000 imported incidents in SQLite, latency over HTTP.

    python benchmarks/bench_metrics.py [--count 100000] [--requests 300]

Copies the sample library (postmortems, taxonomy, targets) to a temporary
folder, generates `--count` incidents over its two years with
benchmarks/incident_history.py, imports them through the CSV importer, then
starts `pml serve` on a free loopback port and times every trend endpoint
end to end from one keep-alive client (sequential requests, a random `as_of`
and filters per request). Target: p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_core import free_port, percentile, wait_ready
from benchmarks.incident_history import SERVICE_CLASSES, generate, write
from indexer.config import Settings
from indexer.format import files as library
from indexer.incidents import importers
from indexer.library import Library

ROOT = Path(__file__).resolve().parent.parent
CLASSES = sorted({c for classes in SERVICE_CLASSES.values() for c in classes})
Params = Callable[[random.Random], dict[str, str]]


def _as_of(rng: random.Random) -> str:
    return (dt.date(2025, 6, 1) + dt.timedelta(days=rng.randint(0, 540))).isoformat()


def _duration(rng: random.Random, period: str = "month") -> dict[str, str]:
    """The issue's parameters (month, 12 periods) with a random as_of and filter."""
    params = {"as_of": _as_of(rng), "period": period}
    kind = rng.random()
    if kind < 0.3:
        params["service"] = rng.choice(list(SERVICE_CLASSES))
    elif kind < 0.5:
        params["error_class"] = rng.choice(CLASSES)
    return params


ENDPOINTS: dict[str, Params] = {
    "/api/trends/failure-modes": lambda r: {"as_of": _as_of(r), "days": str(r.choice([30, 90]))},
    "/api/trends/services": lambda r: {"as_of": _as_of(r), "days": str(r.choice([30, 90]))},
    "/api/trends/mttr": _duration,
    "/api/trends/mtta": _duration,
    "/api/trends/mttd": _duration,
    "/api/trends/error-budget": lambda r: {"as_of": _as_of(r)},
    "/api/investments": lambda r: {"as_of": _as_of(r)},
    "/api/targets": lambda r: {"as_of": _as_of(r)},
    "/metrics": lambda r: {},
}
# Other period lengths, reported apart: 12 quarters span the whole history.
VARIANTS: dict[str, tuple[str, Params]] = {
    "mttr period=week": ("/api/trends/mttr", lambda r: _duration(r, "week")),
    "mttr period=quarter": ("/api/trends/mttr", lambda r: _duration(r, "quarter")),
}


def prepare(folder: Path, count: int) -> Settings:
    """A copy of the sample library with `count` incidents imported into its SQLite database."""
    lib = folder / "library"
    shutil.copytree(ROOT / "postmortems", lib, ignore=shutil.ignore_patterns("incidents.csv"))
    settings = Settings(library=lib, data_dir=folder / "data", embedding_model="none")
    postmortems = library.scan(lib).postmortems
    linked = sum(len(p.external_refs.get("pagerduty", [])) for p in postmortems)
    csv_path = folder / "incidents.csv"
    write(csv_path, generate(count - linked, postmortems))
    opened = Library.open(settings)
    opened.refresh()
    started = time.perf_counter()
    report = importers.import_bytes(opened.engine, "csv", csv_path.read_bytes())
    seconds = time.perf_counter() - started
    print(
        f"imported {report.added:,} incidents in {seconds:.1f}s ({report.added / seconds:,.0f}/s)"
    )
    again = time.perf_counter()
    report = importers.import_bytes(opened.engine, "csv", csv_path.read_bytes())
    print(f"re-import (all updates): {report.updated:,} in {time.perf_counter() - again:.1f}s")
    opened.close()
    return settings


def measure(client: httpx.Client, name: str, path: str, params: Params, requests: int) -> None:
    rng = random.Random(7)
    for _ in range(20):  # warm-up
        client.get(path, params=params(rng)).raise_for_status()
    timings = []
    for _ in range(requests):
        query = params(rng)
        start = time.perf_counter()
        response = client.get(path, params=query)
        timings.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    print(
        f"{name:28} p50 {percentile(timings, 0.5):6.2f} ms  "
        f"p99 {percentile(timings, 0.99):6.2f} ms  mean {statistics.mean(timings):6.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pml-bench-metrics-") as tmp:
        settings = prepare(Path(tmp), args.count)
        port = free_port()
        env = {
            **os.environ,
            "PML_LIBRARY": str(settings.library),
            "PML_DATA_DIR": str(settings.data_dir),
            "PML_EMBEDDING_MODEL": "none",
            "PML_LOG_LEVEL": "warning",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)], cwd=ROOT, env=env
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base)
            load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
            print(
                f"{args.requests} sequential requests per endpoint, {args.count:,} incidents; "
                f"{os.cpu_count()} CPUs, load average {load} (other work skews the tail)"
            )
            with httpx.Client(base_url=base, timeout=30) as client:
                for path, params in ENDPOINTS.items():
                    measure(client, path, path, params, args.requests)
                print("other periods:")
                for name, (path, params) in VARIANTS.items():
                    measure(client, name, path, params, args.requests)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
