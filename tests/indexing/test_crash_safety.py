"""Crash safety: `kill -9` at random points while `pml index` and `pml import incidents` run.

After each kill the command is run again to completion; then the database
and the search index must agree with the library (every file's id and
content hash, each once) and every incident of the file must be stored
exactly once. Between runs the library changes (edits, additions,
deletions) and most index runs are `--force`; each kill comes at a random
fraction of a measured full run, so it lands in start-up, parsing, the index
commit or the database writes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import func, select

from benchmarks import synthetic
from benchmarks.synthetic import generate
from indexer.config import Settings
from indexer.db import store
from indexer.db.models import IncidentRow
from indexer.format.files import folder_files
from indexer.format.postmortem import MalformedPostmortem, parse
from indexer.search import SearchIndex
from tests.conftest import ROOT

pytestmark = pytest.mark.reliability
RUNS = int(os.environ.get("PML_CRASH_RUNS", "20"))
POSTMORTEMS = 1000
INCIDENTS = 10_000


def _runs(settings: Settings) -> int:
    """All runs on SQLite; a few on PostgreSQL (the same code paths; CI time is the limit)."""
    return RUNS if settings.resolved_database_url.startswith("sqlite") else max(1, RUNS // 10)


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "PML_LIBRARY": str(settings.library),
        "PML_DATA_DIR": str(settings.data_dir),
        "PML_DATABASE_URL": settings.resolved_database_url,
        "PML_EMBEDDING_MODEL": "none",
        "PML_LOG_LEVEL": "warning",
    }


def _pml(settings: Settings, *args: str, capture: bool = False) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", *args],
        env=_env(settings),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if capture else subprocess.DEVNULL,
    )


def _kill_at_random(process: subprocess.Popen[bytes], rng: random.Random, within: float) -> bool:
    """SIGKILL after a random delay; False if the command had already finished."""
    deadline = time.monotonic() + rng.uniform(0.1, 0.95) * within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True


def _finish(settings: Settings, *args: str) -> float:
    """Run to completion; returns the seconds it took (kills are timed against it)."""
    started = time.monotonic()
    process = _pml(settings, *args, capture=True)
    _, errors = process.communicate(timeout=600)
    assert process.returncode in (0, 1), errors.decode()  # 1: rows rejected, none here
    return time.monotonic() - started


def _change_library(folder: Path, rng: random.Random, run: int) -> None:
    files = sorted(folder.rglob("*.md"))
    for path in rng.sample(files, 20):
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("## Summary\n", f"## Summary\nRun {run} edit.\n", 1))
    for path in rng.sample(files, 5):
        path.unlink()
    for number in range(100_000 + 10 * run, 100_005 + 10 * run):  # new ones, new ids
        relative, text = synthetic.postmortem(number, rng)
        (folder / f"run-{run}").mkdir(exist_ok=True)
        (folder / f"run-{run}" / Path(relative).name).write_text(text, encoding="utf-8")


def _assert_index_matches_library(settings: Settings) -> None:
    expected: dict[str, str] = {}
    for source in folder_files(settings.library):
        try:
            postmortem = parse(source.read(), source.path)
        except MalformedPostmortem:
            continue
        expected[postmortem.id] = postmortem.content_hash
    engine = store.make_engine(settings.resolved_database_url)
    with store.session(engine) as db:
        stored = {identifier: digest for identifier, digest in store.known_hashes(db).values()}
    engine.dispose()
    assert stored == expected  # nothing lost, nothing stale
    index = SearchIndex(settings.index_dir)
    assert index.ids() == set(expected) and index.count() == len(expected)  # no duplicates


def test_kill_9_while_indexing(settings: Settings) -> None:
    rng = random.Random(42)
    generate(settings.library, POSTMORTEMS)
    full = _finish(settings, "index")
    killed, runs = 0, _runs(settings)
    for run in range(runs):
        _change_library(settings.library, rng, run)
        # Mostly full rebuilds, which run long enough to be killed anywhere in them.
        args = ("index",) if run % 4 == 3 else ("index", "--force")
        killed += _kill_at_random(_pml(settings, *args), rng, within=full)
        _finish(settings, "index")
        _assert_index_matches_library(settings)
    assert killed >= runs // 2, f"only {killed} of {runs} runs were killed mid-way"


def _incident_csv(path: Path) -> None:
    lines = [
        "source_id,title,service,severity,started_at,detected_at,acknowledged_at,"
        "mitigated_at,resolved_at,error_class,error_budget_minutes,postmortem"
    ]
    for number in range(INCIDENTS):
        day = 1 + number % 28
        lines.append(
            f"INC-{number},Errors {number},orders,SEV{1 + number % 4},"
            f"2025-03-{day:02d}T10:00:00Z,2025-03-{day:02d}T10:05:00Z,,,"
            f"2025-03-{day:02d}T11:00:00Z,deployment-regression,{number % 60},"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_kill_9_while_importing_incidents(settings: Settings, tmp_path: Path) -> None:
    rng = random.Random(7)
    export = tmp_path / "incidents.csv"
    _incident_csv(export)
    command = ("import", "incidents", str(export), "--source", "csv")
    full = _finish(settings, *command)
    killed, runs = 0, _runs(settings)
    for _ in range(runs):
        killed += _kill_at_random(_pml(settings, *command), rng, within=full)
        _finish(settings, *command)
        engine = store.make_engine(settings.resolved_database_url)
        with store.session(engine) as db:
            count = db.exec(select(func.count()).select_from(IncidentRow)).one()
            ids = db.exec(select(func.count(func.distinct(IncidentRow.source_id)))).one()
        engine.dispose()
        assert count == ids == INCIDENTS
    assert killed >= runs // 2, f"only {killed} of {runs} runs were killed mid-way"
