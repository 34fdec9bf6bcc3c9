"""Stored related lists at scale: the first build, one edit, one addition, one read.

    python benchmarks/bench_related.py [--count 10000] [--model hash]

Generates a synthetic library (benchmarks/synthetic.py), indexes it (which
stores every related list), then times: re-storing every list, the
incremental refresh after editing one postmortem and after adding one (how
many lists each recomputes), and reading one stored list against computing
it per request. The default embedder is the deterministic `hash` one (the
lists' cost does not depend on the model; use --model for the real one).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.synthetic import generate
from indexer.config import Settings
from indexer.library import Library
from indexer.search import _related, refresh_neighbours, related


def timed(step: str, action: object) -> object:
    started = time.perf_counter()
    result = action()  # type: ignore[operator]
    print(f"{step}: {time.perf_counter() - started:.2f} s ({result})", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--model", default="hash")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pml-related-") as tmp:
        folder = generate(Path(tmp) / "library", args.count)
        settings = Settings(library=folder, data_dir=Path(tmp) / "data", embedding_model=args.model)
        with Library.open(settings) as library:
            library.semantic.listeners.clear()  # time the lists on their own
            timed("index and embed", lambda: library.refresh().added)
            library.semantic.sync()
            engine, semantic = library.engine, library.semantic
            timed("store every list (first build)", lambda: refresh_neighbours(engine, semantic))
            paths = sorted(folder.rglob("*.md"))
            text = paths[len(paths) // 2].read_text(encoding="utf-8")
            paths[len(paths) // 2].write_text(text.replace("## ", "## Note\n\nEdited.\n\n## ", 1))
            library.refresh()
            semantic.sync()
            timed(
                "one postmortem edited: lists recomputed",
                lambda: refresh_neighbours(engine, semantic),
            )
            (folder / "added.md").write_text(text.replace("id: ", "id: added-", 1))
            library.refresh()
            semantic.sync()
            timed(
                "one postmortem added: lists recomputed",
                lambda: refresh_neighbours(engine, semantic),
            )
            ids = [path.stem for path in paths[:: max(1, len(paths) // 200)]]
            ids = [i for i in ids if _related.target_summary(engine, i) is not None]
            for name, read in (
                ("read a stored list", lambda i: related(engine, semantic, i)),
                ("compute a list per request", lambda i: _related.compute(engine, semantic, i)),
            ):
                took = []
                for identifier in ids:
                    started = time.perf_counter()
                    read(identifier)
                    took.append((time.perf_counter() - started) * 1000)
                took.sort()
                p99 = took[min(len(took) - 1, int(0.99 * len(took)))]
                print(f"{name}: p50 {statistics.median(took):.1f} ms, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
