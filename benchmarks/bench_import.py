"""Benchmark incident import throughput: CSV and PagerDuty JSON, mapped through the taxonomy.

    python benchmarks/bench_import.py [--count 100000]

Generates `--count` incidents over the sample library with
benchmarks/incident_history.py, writes them once as the canonical CSV and
once as PagerDuty `GET /incidents` pages of 100 concatenated in one file
(service names spelled as a vendor would, so every one goes through the
taxonomy's aliases), and imports each into a fresh SQLite database, then
imports the PagerDuty file again (all updates, merged with the stored
times). Target: >= 4,000 incidents/s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.incident_history import generate, write
from indexer.config import Settings
from indexer.format import files as library
from indexer.incidents import importers
from indexer.library import Library

ROOT = Path(__file__).resolve().parent.parent
PAGE = 100


def pagerduty_pages(rows: list[list[str]]) -> bytes:
    """The CSV rows as PagerDuty REST incidents, `PAGE` per page, pages concatenated."""
    records = []
    for row in rows:
        source_id, title, service, severity, started, _, acked, _, resolved = row[:9]
        records.append(
            {
                "id": f"PD{source_id}",
                "type": "incident",
                "title": title,
                "created_at": started,
                "status": "resolved" if resolved else "triggered",
                "resolved_at": resolved or None,
                "service": {"id": f"P{service.upper()[:6]}", "summary": service.title() + " API"},
                "acknowledgements": [{"at": acked}] if acked else [],
                "priority": {"summary": severity.replace("SEV", "P")} if severity else None,
                "urgency": "high",
            }
        )
    pages = [
        json.dumps({"incidents": records[i : i + PAGE], "limit": PAGE, "offset": i})
        for i in range(0, len(records), PAGE)
    ]
    return "\n".join(pages).encode()


def add_aliases(path: Path) -> None:
    """Every sample service gets the vendor name the generated pages use ("Orders API")."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for entry in data["services"]:
        if isinstance(entry, dict):
            entry.setdefault("aliases", []).append(entry["id"].title() + " API")
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def timed(label: str, run: object, count: int) -> None:
    started = time.perf_counter()
    report = run()  # type: ignore[operator]
    seconds = time.perf_counter() - started
    done = report.added + report.updated
    print(
        f"{label}: {done:,} incidents in {seconds:.1f}s = {count / seconds:,.0f}/s "
        f"({report.added:,} added, {report.updated:,} updated, {len(report.errors)} rejected, "
        f"{len(report.warnings)} warnings, unmapped {report.unmapped_services[:3]})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"{args.count:,} incidents; {os.cpu_count()} CPUs, load average {load}")
    with tempfile.TemporaryDirectory(prefix="pml-bench-import-") as tmp:
        folder = Path(tmp)
        lib = folder / "library"
        shutil.copytree(ROOT / "postmortems", lib, ignore=shutil.ignore_patterns("incidents.csv"))
        add_aliases(lib / "taxonomy.yaml")
        rows = generate(args.count, library.scan(lib).postmortems)
        csv_path = folder / "incidents.csv"
        write(csv_path, rows)
        json_data = pagerduty_pages(rows[1:] if rows and rows[0][0] == "source_id" else rows)
        for source, data in (("csv", csv_path.read_bytes()), ("pagerduty", json_data)):
            settings = Settings(
                library=lib, data_dir=folder / f"data-{source}", embedding_model="none"
            )
            with Library.open(settings) as opened:
                opened.refresh()

                def run(source: str = source, data: bytes = data, lib: Library = opened) -> object:
                    return importers.import_bytes(lib.engine, source, data, vocabulary=lib.taxonomy)

                timed(f"{source} import", run, args.count)
                if source == "pagerduty":
                    timed("pagerduty re-import (updates)", run, args.count)


if __name__ == "__main__":
    main()
