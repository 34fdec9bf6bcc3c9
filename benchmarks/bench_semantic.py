"""Benchmark semantic search: embedding throughput, hybrid latency over HTTP, server memory.

    python benchmarks/bench_semantic.py [--count 10000] [--embed 200] [--queries 1000]

1. Embedding throughput at ingest: passages cut and embedded with the real
   model (PML_EMBEDDING_MODEL, default the packaged all-MiniLM-L6-v2) for the
   sample library, for `--embed` synthetic postmortems and, where
   ../shared is present, for the 230 public postmortems; and for the sample
   library as indexing embeds it (`SemanticIndex.sync`: batches of stored
   passages written to the vector cache).
2. Hybrid search latency at `--count` postmortems over HTTP with the model
   loaded. Embedding 10,000 postmortems takes tens of minutes on 2 cores, so
   passages beyond the `--embed` sample get random unit vectors written to
   the same vector cache: the server then loads a matrix of the real size and
   runs the real code path (query embedding, matrix product, fusion); only
   the ranking quality of those rows is meaningless. Use --embed-all to embed
   everything for real.
3. Memory (VmRSS and peak VmHWM) of the serving process after the run.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_core import free_port, percentile, queries, wait_ready
from benchmarks.corpus import write_library
from benchmarks.synthetic import WORDS, generate
from indexer.config import Settings
from indexer.db import models, store
from indexer.format.files import scan
from indexer.library import Library
from indexer.search import _embeddings as embeddings
from indexer.search import _passages as chunks

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "public-postmortems.jsonl"


def throughput(embedder: embeddings.Embedder, folder: Path, limit: int | None = None) -> str:
    postmortems = scan(folder).postmortems[:limit]
    started = time.perf_counter()
    passages = [c.text for p in postmortems for c in chunks.chunk(p)]
    embedder.embed(passages)
    seconds = time.perf_counter() - started
    return (
        f"{len(postmortems)} postmortems, {len(passages)} passages in {seconds:.1f}s: "
        f"{len(postmortems) / seconds:.1f} postmortems/s, {len(passages) / seconds:.1f} passages/s"
    )


def indexing(model: str, folder: Path, data: Path) -> str:
    """Throughput as indexing embeds: `SemanticIndex.sync` after a refresh, model preloaded."""
    library = Library.open(Settings(library=folder, data_dir=data, embedding_model=model))
    try:
        library.refresh()
        library.semantic.load_model()
        started = time.perf_counter()
        passages = library.semantic.sync()
        seconds = time.perf_counter() - started
        count = len(library.semantic.vectors or ())
    finally:
        library.close()
    return (
        f"{count} postmortems, {passages} passages in {seconds:.1f}s: "
        f"{count / seconds:.1f} postmortems/s, {passages / seconds:.1f} passages/s"
    )


def fill_random(library: Library, model: str) -> int:
    """Give every passage without a vector a random unit vector (see the module docstring)."""
    rng = np.random.default_rng(3)
    with library.engine.connect() as connection:
        pending = [
            row[0]
            for row in connection.execute(
                text(
                    "SELECT DISTINCT content_hash FROM chunk WHERE content_hash NOT IN "
                    "(SELECT content_hash FROM embedding WHERE model = :m)"
                ),
                {"m": model},
            )
        ]
    for start in range(0, len(pending), 5000):
        batch = pending[start : start + 5000]
        vectors = embeddings.normalise(rng.standard_normal((len(batch), 384)).astype(np.float32))
        with store.session(library.engine) as db:
            db.add_all(
                models.EmbeddingRow(model=model, content_hash=h, vector=v.tobytes())
                for h, v in zip(batch, vectors, strict=True)
            )
            db.commit()
    return len(pending)


def unique_queries(count: int, rng: random.Random) -> list[dict[str, str]]:
    """Queries that never repeat, so the server's query-embedding cache never answers."""
    seen: set[str] = set()
    result = []
    while len(result) < count:
        params = queries(1, rng)[0]
        params["q"] = f"{params['q']} {rng.choice(WORDS)} {rng.choice(WORDS)}"
        if params["q"] not in seen:
            seen.add(params["q"])
            result.append(params)
    return result


def memory(pid: int) -> str:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return f"VmRSS {fields['VmRSS'].strip()}, peak VmHWM {fields['VmHWM'].strip()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--embed", type=int, default=200)
    parser.add_argument("--embed-all", action="store_true")
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--throughput-only", action="store_true")
    args = parser.parse_args()
    model = os.environ.get("PML_EMBEDDING_MODEL", embeddings.DEFAULT_MODEL)
    embedder = embeddings.load(model)
    with tempfile.TemporaryDirectory(prefix="pml-bench-") as tmp:
        library_dir = generate(Path(tmp) / "library", args.count)
        print("sample library:", throughput(embedder, ROOT / "postmortems"))
        print("  as indexed:  ", indexing(model, ROOT / "postmortems", Path(tmp) / "sample"))
        print("synthetic:     ", throughput(embedder, library_dir, args.embed))
        if CORPUS.is_file():
            write_library(CORPUS, Path(tmp) / "corpus")
            print("public corpus: ", throughput(embedder, Path(tmp) / "corpus"))
        if args.throughput_only:
            return
        settings = Settings(library=library_dir, data_dir=Path(tmp) / "data", embedding_model=model)
        library = Library.open(settings)
        library.refresh()
        if args.embed_all:
            started = time.perf_counter()
            library.semantic.embedder = embedder
            count = library.semantic.sync()
            print(f"embedded all {count} passages in {time.perf_counter() - started:.0f}s")
        else:
            print(f"random unit vectors for {fill_random(library, embedder.name)} passages")
            # Load them and store every related list now, as `pml index` would: the server
            # then has nothing to build in the background while it is timed.
            started = time.perf_counter()
            library.semantic.embedder = embedder
            library.semantic.sync()
            print(f"vectors loaded, related lists stored in {time.perf_counter() - started:.0f}s")
        library.close()
        serve(settings, args.queries)


def serve(settings: Settings, count: int) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PML_LIBRARY": str(settings.library),
        "PML_DATA_DIR": str(settings.data_dir),
        "PML_EMBEDDING_MODEL": settings.embedding_model,
        "PML_LOG_LEVEL": "warning",
        "HF_HUB_OFFLINE": "1",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port)], cwd=ROOT, env=env
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base)
        deadline = time.monotonic() + 600
        while not httpx.get(f"{base}/readyz").json()["semantic"]:
            if time.monotonic() > deadline:
                raise RuntimeError("semantic search never became ready")
            time.sleep(0.5)
        status = httpx.get(f"{base}/readyz").json()["semantic_status"]
        print(f"server ready: semantic index {status['state']}")
        rng = random.Random(5)
        with httpx.Client(base_url=base, timeout=30) as client:
            for mode in ("hybrid", "semantic", "fulltext"):
                for params in unique_queries(100, rng):
                    client.get("/api/search", params={**params, "mode": mode})
                timings = []
                for params in unique_queries(count, rng):
                    started = time.perf_counter()
                    response = client.get("/api/search", params={**params, "mode": mode})
                    timings.append((time.perf_counter() - started) * 1000)
                    response.raise_for_status()
                print(
                    f"{mode:>9} over HTTP, {count} queries: p50 {percentile(timings, 0.5):.1f} ms, "
                    f"p99 {percentile(timings, 0.99):.1f} ms"
                )
        print("serving process memory:", memory(server.pid))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
