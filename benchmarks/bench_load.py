"""Load benchmark: concurrent clients mixing search, postmortem pages and trends over loopback.

    python benchmarks/bench_load.py [--count 10000] [--clients 32] [--seconds 60]

Generates a synthetic library, indexes it with `pml index`, loads the shipped
incident history, starts `pml serve` (uvicorn, one process) on a free
loopback port and runs `--clients` asyncio clients, each with its own
keep-alive connection, for `--seconds`. Each request is picked at random:
55% search (hybrid, the default mode, with and without filters), 30%
postmortem pages (JSON detail and the HTML page), 15% trends. Prints p50/p99
per kind and overall, requests per second and every error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_core import free_port, percentile, queries, wait_ready
from benchmarks.synthetic import ERROR_CLASSES, SERVICES, generate

ROOT = Path(__file__).resolve().parent.parent


def request(rng: random.Random, ids: list[str]) -> tuple[str, str, dict[str, str]]:
    """(kind, path, params) of one request in the mix."""
    draw = rng.random()
    if draw < 0.55:
        return "search", "/api/search", queries(1, rng)[0]
    if draw < 0.70:
        return "postmortem", f"/api/postmortems/{rng.choice(ids)}", {}
    if draw < 0.85:
        return "page", f"/postmortems/{rng.choice(ids)}", {}
    path = rng.choice(["/api/trends/mttr", "/api/trends/failure-modes", "/api/trends/services"])
    params = {"as_of": "2026-11-26"}
    if path == "/api/trends/mttr" and rng.random() < 0.5:
        params["service"] = rng.choice(SERVICES)
    elif path == "/api/trends/mttr":
        params["error_class"] = rng.choice(ERROR_CLASSES)["id"]
    return "trends", path, params


async def client(
    base: str,
    ids: list[str],
    seed: int,
    stop: float,
    timings: dict[str, list[float]],
    errors: list[str],
) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        while time.monotonic() < stop:
            kind, path, params = request(rng, ids)
            started = time.perf_counter()
            try:
                response = await http.get(path, params=params)
                if response.status_code >= 400:
                    errors.append(f"{response.status_code} {path} {params}")
            except httpx.HTTPError as error:
                errors.append(f"{type(error).__name__} {path}")
                continue
            timings[kind].append((time.perf_counter() - started) * 1000)


async def run_load(base: str, ids: list[str], clients: int, seconds: float) -> None:
    timings: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    stop = time.monotonic() + seconds
    started = time.perf_counter()
    await asyncio.gather(*(client(base, ids, n, stop, timings, errors) for n in range(clients)))
    elapsed = time.perf_counter() - started
    everything = [t for values in timings.values() for t in values]
    for kind, values in sorted(timings.items()):
        print(
            f"  {kind:<10} {len(values):>7} requests  p50 {percentile(values, 0.5):7.1f} ms"
            f"  p99 {percentile(values, 0.99):7.1f} ms"
        )
    print(
        f"  all        {len(everything):>7} requests  p50 {percentile(everything, 0.5):7.1f} ms"
        f"  p99 {percentile(everything, 0.99):7.1f} ms  {len(everything) / elapsed:,.0f} requests/s"
        f"  errors {len(errors)}"
    )
    for error in errors[:20]:
        print(f"  error: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--model", default="hash", help="PML_EMBEDDING_MODEL of the server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pml-load-") as tmp:
        library = Path(tmp) / "library"
        generate(library, args.count)
        env = {
            **os.environ,
            "PML_LIBRARY": str(library),
            "PML_DATA_DIR": str(Path(tmp) / "data"),
            "PML_EMBEDDING_MODEL": args.model,
            "PML_LOG_LEVEL": "warning",
        }
        env.pop("PML_DATABASE_URL", None)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "api.cli", "index"], env=env, cwd=ROOT, check=True)
        print(f"indexed {args.count} postmortems in {time.perf_counter() - started:.1f}s")
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)], env=env, cwd=ROOT
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base)
            while httpx.get(f"{base}/readyz").json().get("semantic") is not True:
                time.sleep(0.5)  # hybrid search at full strength, not full-text only
            ids = []
            for offset in range(0, args.count, max(100, args.count // 10)):
                params = {"limit": 100, "offset": offset}
                listing = httpx.get(f"{base}/api/postmortems", params=params).json()
                ids += [item["id"] for item in listing["items"]]
            print(f"{args.clients} clients for {args.seconds:.0f}s against {base}:")
            asyncio.run(run_load(base, ids, args.clients, args.seconds))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
