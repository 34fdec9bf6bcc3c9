"""Benchmark the library core: full-text indexing throughput and search latency over HTTP.

    python benchmarks/bench_core.py [--count 10000] [--queries 2000]

Generates a synthetic library, indexes it from scratch (no embeddings),
re-indexes with one file changed, then starts `pml serve` on a free
loopback port and times GET /api/search end to end from a client in this
process (one keep-alive connection, sequential requests).
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.synthetic import ERROR_CLASSES, SERVICES, WORDS, generate
from indexer.config import Settings
from indexer.library import Library


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def queries(count: int, rng: random.Random) -> list[dict[str, str]]:
    result = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.5:
            q = " ".join(rng.sample(WORDS, rng.randint(1, 3)))
            result.append({"q": q})
        elif kind < 0.8:
            result.append({"q": rng.choice(ERROR_CLASSES)["title"].lower()})
        else:
            result.append({"q": rng.choice(WORDS), "service": rng.choice(SERVICES)})
    return result


def wait_ready(base: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pml-bench-") as tmp:
        library = Path(tmp) / "library"
        started = time.perf_counter()
        generate(library, args.count)
        print(f"generated {args.count} postmortems in {time.perf_counter() - started:.1f}s")
        settings = Settings(library=library, data_dir=Path(tmp) / "data")
        lib = Library.open(settings)
        report = lib.refresh()
        rate = report.indexed / report.seconds
        print(f"full index: {report.summary()} -> {rate:,.0f} postmortems/s")
        changed = sorted(library.rglob("*.md"))[0]
        changed.write_text(changed.read_text().replace("## Summary", "## Summary\nEdited.", 1))
        report = lib.refresh()
        print(f"re-index after 1 change: {report.summary()}")
        lib.close()

        port = free_port()
        env = {
            **os.environ,
            "PML_LIBRARY": str(library),
            "PML_DATA_DIR": str(settings.data_dir),
            "PML_LOG_LEVEL": "warning",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base)
            rng = random.Random(11)
            timings = []
            with httpx.Client(base_url=base) as client:
                for params in queries(200, rng):  # warm-up
                    client.get("/api/search", params=params)
                for params in queries(args.queries, rng):
                    start = time.perf_counter()
                    response = client.get("/api/search", params=params)
                    timings.append((time.perf_counter() - start) * 1000)
                    response.raise_for_status()
            print(
                f"search over HTTP, {args.queries} queries at {args.count} postmortems: "
                f"p50 {percentile(timings, 0.5):.2f} ms, p99 {percentile(timings, 0.99):.2f} ms, "
                f"mean {statistics.mean(timings):.2f} ms"
            )
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
