"""The author loop as a person runs it: `pml index` with nothing to do, `pml index` after
editing one file (with semantic search on), and `pml search`; wall time of each command.

    .venv/bin/python benchmarks/bench_author_loop.py [--rounds 3] [--model all-MiniLM-L6-v2]

Each command runs as its own process (interpreter start and imports included,
as the author pays them) on a copy of the sample library in a temporary
folder. Targets: no-op index under 2 s, one changed file under 5 s with
semantic, search under 3 s. The machine's load average is printed with the
figures: on a shared machine they say as much about the neighbours.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PML = [sys.executable, "-m", "api.cli"]
EDITED = "2025/2025-02-11-orders-pgbouncer-pool-exhaustion.md"


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default=os.environ.get("PML_EMBEDDING_MODEL", ""))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        library = Path(scratch) / "library"
        shutil.copytree(ROOT / "postmortems", library)
        env = {**os.environ, "PML_LIBRARY": str(library), "PML_DATA_DIR": f"{scratch}/data"}
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        if args.model:
            env["PML_EMBEDDING_MODEL"] = args.model
        first, _ = timed([*PML, "index"], env)
        print(f"first index (embeds everything): {first:.1f} s")
        figures: dict[str, list[float]] = {"no-op index": [], "one file changed": [], "search": []}
        for round_ in range(args.rounds):
            seconds, _ = timed([*PML, "index"], env)
            figures["no-op index"].append(seconds)
            # An edit of the summary: a passage that must be embedded again.
            path = library / EDITED
            edit = f"## Summary\nEdited in round {round_}: the pool was sized for last year.\n"
            path.write_text(path.read_text().replace("## Summary\n", edit, 1))
            seconds, output = timed([*PML, "index"], env)
            figures["one file changed"].append(seconds)
            if round_ == 0:
                print("  " + "\n  ".join(output.strip().splitlines()))
            seconds, _ = timed([*PML, "search", "connection", "pool", "exhaustion"], env)
            figures["search"].append(seconds)
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")
    for name, values in figures.items():
        print(f"{name}: median {statistics.median(values):.2f} s, min {min(values):.2f} s")


if __name__ == "__main__":
    main()
