"""Benchmark following a git repository.

    python benchmarks/bench_gitsync.py [--count 10000] [--rounds 5] [--embedding-model none]

(a) Webhook to searchable: the sample library in a local git repository,
    `pml serve` following it on a free loopback port; each round commits a
    new postmortem, sends a signed GitHub push webhook and polls
    GET /api/search until the postmortem is found.
(b) Sync cost on a synthetic library of `--count` postmortems in one commit:
    the first (full) sync, a sync with nothing new, a sync after one changed
    file, and a full comparison (`--force`), all in this process.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_core import free_port, wait_ready
from benchmarks.synthetic import generate
from indexer.config import Settings
from indexer.indexing import gitsync
from indexer.library import Library

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env={**os.environ, **GIT_ENV}, check=True)


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", message)


def new_postmortem(number: int) -> tuple[str, str]:
    word = f"zebrafish{number}"
    text = (
        f"---\nschema: 1\nid: bench-{number}\ntitle: Bench incident {word}\n"
        f"date: 2026-01-{number % 28 + 1:02d}\nservices: [orders]\n---\n"
        f"## Summary\nThe {word} service stopped answering.\n"
    )
    return word, text


def webhook_to_searchable(tmp: Path, rounds: int, model: str) -> None:
    origin = tmp / "sample"
    shutil.copytree(ROOT / "postmortems", origin / "postmortems")
    git(origin, "init", "--quiet", "--initial-branch=main")
    commit_all(origin, "Sample library")
    port = free_port()
    env = {
        **os.environ,
        "PML_GIT_URL": str(origin),
        "PML_WEBHOOK_SECRET": SECRET,
        "PML_SYNC_INTERVAL": "0",
        "PML_DATA_DIR": str(tmp / "serve-data"),
        "PML_EMBEDDING_MODEL": model,
        "PML_LOG_LEVEL": "warning",
    }
    command = [str(Path(sys.executable).parent / "pml"), "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        _wait_synced(base)
        times, answers = [], []
        for number in range(rounds):
            word, text = new_postmortem(number)
            (origin / "postmortems" / f"bench-{number}.md").write_text(text)
            commit_all(origin, f"Bench postmortem {number}")
            answer, found = _push_and_find(base, word)
            answers.append(answer)
            times.append(found)
        print(f"(a) webhook to searchable, sample library, {rounds} rounds, model={model}:")
        print(f"    webhook answered in   median {statistics.median(answers) * 1000:.1f} ms")
        print(
            f"    searchable after      median {statistics.median(times):.2f} s, "
            f"max {max(times):.2f} s (includes the 0.5 s burst settle)"
        )
    finally:
        server.terminate()
        server.wait(30)


def _wait_synced(base: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sync = httpx.get(f"{base}/readyz").json().get("sync", {})
        if sync.get("state") == "ok" and not sync.get("running"):
            return
        time.sleep(0.1)
    raise RuntimeError("first sync did not finish")


def _push_and_find(base: str, word: str, timeout: float = 60) -> tuple[float, float]:
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": f"sha256={signature}", "X-GitHub-Event": "push"}
    started = time.perf_counter()
    response = httpx.post(f"{base}/api/webhooks/github", content=body, headers=headers)
    answered = time.perf_counter() - started
    response.raise_for_status()
    while time.perf_counter() - started < timeout:
        params = {"q": word, "mode": "fulltext"}
        if httpx.get(f"{base}/api/search", params=params).json().get("total"):
            return answered, time.perf_counter() - started
        time.sleep(0.02)
    raise RuntimeError(f"{word} was not searchable after {timeout}s")


def large_repository(tmp: Path, count: int) -> None:
    origin = tmp / "large"
    started = time.perf_counter()
    generate(origin / "postmortems", count)
    git(origin, "init", "--quiet", "--initial-branch=main")
    commit_all(origin, f"{count} synthetic postmortems")
    elapsed = time.perf_counter() - started
    print(f"(b) {count} postmortems generated and committed in {elapsed:.1f}s")
    settings = Settings(git_url=str(origin), data_dir=tmp / "large-data", sync_interval=0)
    library = Library.open(settings)
    try:
        _timed("first sync (full)", library)
        _timed("sync, nothing new", library)
        changed = sorted((origin / "postmortems").rglob("*.md"))[count // 2]
        changed.write_text(changed.read_text().replace("## Summary\n", "## Summary\nEdited. ", 1))
        commit_all(origin, "Edit one postmortem")
        _timed("sync after 1 changed file", library)
        _timed("full comparison (--force)", library, force=True)
    finally:
        library.close()


def _timed(label: str, library: Library, *, force: bool = False) -> None:
    started = time.perf_counter()
    report = gitsync.sync(library, force=force)
    seconds = time.perf_counter() - started
    index = report.index
    print(
        f"    {label:27} {seconds:7.2f} s  files read {report.files_read:6}  "
        f"added {index.added} updated {index.updated} unchanged {index.unchanged}  "
        f"history rows updated {report.history_updated}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--embedding-model", default="none", help="PML_EMBEDDING_MODEL for (a)")
    args = parser.parse_args()
    os.environ.setdefault("PML_EMBEDDING_MODEL", "none")  # (b) measures the full-text sync
    with tempfile.TemporaryDirectory(prefix="pml-bench-git-") as folder:
        tmp = Path(folder)
        webhook_to_searchable(tmp, args.rounds, args.embedding_model)
        large_repository(tmp, args.count)


if __name__ == "__main__":
    main()
