"""Peak memory of `pml serve` while it imports a large incident CSV over HTTP.

    python benchmarks/bench_import_memory.py [--rows 1000000] [--at-once 1]

Writes a canonical CSV of `--rows` incidents (the rows of
benchmarks/incident_history.py over the sample library, repeated under
fresh ids: about 50 bytes a row), starts `pml serve` on it (SQLite, no
embedding model), POSTs the file to `/api/incidents/import?source=csv`
(`--at-once` uploads side by side) and reads the server's peak resident
memory (VmHWM) from /proc before and after. Goal: the import adds a fixed
amount, not one proportional to the file (under 200 MB at 1,000,000 rows).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.incident_history import HEADER, generate
from indexer.format import files as library
from tests.live_server import free_port

ROOT = Path(__file__).resolve().parent.parent
BASE_ROWS = 10_000


def write_csv(path: Path, rows: int, lib: Path) -> None:
    """`rows` incidents: the generated history repeated, each copy under its own ids."""
    body = generate(BASE_ROWS, library.scan(lib).postmortems)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(HEADER)
        written = 0
        copy = 0
        while written < rows:
            for row in body[: rows - written]:
                out.writerow([f"{row[0]}-{copy}", *row[1:]])
            written += min(len(body), rows - written)
            copy += 1


def peak_kib(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) of a process, in KiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmHWM"].split()[0]), int(fields["VmRSS"].split()[0])


def upload(base: str, path: Path) -> tuple[float, dict[str, object]]:
    def chunks() -> object:
        with path.open("rb") as handle:
            while block := handle.read(1024 * 1024):
                yield block

    headers = {"Content-Type": "text/csv", "Content-Length": str(path.stat().st_size)}
    started = time.perf_counter()
    reply = httpx.post(
        f"{base}/api/incidents/import?source=csv", content=chunks(), headers=headers, timeout=3600
    )
    assert reply.status_code == 200, reply.text[:500]
    return time.perf_counter() - started, reply.json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--at-once", type=int, default=1)
    args = parser.parse_args()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"{args.rows:,} rows x {args.at_once}; {os.cpu_count()} CPUs, load average {load}")
    with tempfile.TemporaryDirectory(prefix="pml-bench-import-memory-") as tmp:
        folder = Path(tmp)
        lib = folder / "library"
        shutil.copytree(ROOT / "postmortems", lib, ignore=shutil.ignore_patterns("incidents.csv"))
        csv_path = folder / "incidents.csv"
        write_csv(csv_path, args.rows, lib)
        print(f"file: {csv_path.stat().st_size / 1e6:.1f} MB")
        port = free_port()
        env = {
            **os.environ,
            "PML_LIBRARY": str(lib),
            "PML_DATA_DIR": str(folder / "data"),
            "PML_EMBEDDING_MODEL": "none",
            "PML_LOG_LEVEL": "warning",
            "PML_IMPORT_MAX_BYTES": str(1024 * 1024 * 1024),
        }
        env.pop("PML_DATABASE_URL", None)
        command = [sys.executable, "-m", "api.cli", "serve", "--port", str(port)]
        server = subprocess.Popen(command, cwd=ROOT, env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            idle_peak, idle_rss = peak_kib(server.pid)
            print(
                f"server idle: peak {idle_peak / 1024:.0f} MiB, resident {idle_rss / 1024:.0f} MiB"
            )
            with ThreadPoolExecutor(args.at_once) as pool:
                results = list(pool.map(lambda _: upload(base, csv_path), range(args.at_once)))
            peak, rss = peak_kib(server.pid)
            for seconds, report in results:
                print(
                    f"import: {seconds:.1f}s, {report['added']:,} added, "
                    f"{report['updated']:,} updated, {report['rejected']} rejected"
                )
            print(
                f"server peak {peak / 1024:.0f} MiB (+{(peak - idle_peak) / 1024:.0f} MiB over "
                f"idle), resident after {rss / 1024:.0f} MiB"
            )
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
