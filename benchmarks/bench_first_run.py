"""A new user's first run: `make run` on a fresh clone, to the first page and to semantic search.

    python benchmarks/bench_first_run.py [--keep]

Clones this checkout's HEAD into a temporary folder, runs `make run` there
(the README's first command: virtual environment, Python packages, the
vendored browser files, then `pml serve` indexing the sample library) and
prints how long each step took, when the home page first answered, and
when semantic search became ready. Steps are timed from the commands make
echoes, so the figures say where the time goes. Caches outside the clone
(pip's, uv's, npm's) are whatever this machine has: say so with the
figures. The target is the first page in under 60 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
STEPS = {  # a line make echoes -> the step it starts
    "-m venv": "virtual environment",
    "install --quiet --upgrade pip": "pip upgrade",
    "install --quiet uv": "uv",
    "pip install --quiet": "Python packages",
    "npm ci": "browser files (npm ci)",
    "pml serve": "pml serve: start, index, first page",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the clone in place")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="pml-first-run-"))
    clone = scratch / "pml"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    port = free_port()
    env = {**os.environ, "PML_PORT": str(port)}
    env.pop("VIRTUAL_ENV", None)
    started = time.monotonic()
    marks: list[tuple[float, str]] = []
    process = subprocess.Popen(
        ["make", "run"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            step = next((name for key, name in STEPS.items() if key in line), None)
            if step and step not in [name for _, name in marks]:
                marks.append((time.monotonic() - started, step))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    first_page = semantic = None
    try:
        while semantic is None and process.poll() is None and time.monotonic() - started < 900:
            try:
                if first_page is None and httpx.get(base + "/", timeout=5).status_code == 200:
                    first_page = time.monotonic() - started
                if first_page is not None and httpx.get(base + "/readyz").json()["semantic"]:
                    semantic = time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    load = os.getloadavg()
    print(f"fresh clone of {ROOT.name} at {time.strftime('%Y-%m-%d %H:%M')}")
    ends = [at for at, _ in marks[1:]] + [first_page or time.monotonic() - started]
    for (at, step), end in zip(marks, ends, strict=True):
        print(f"  {step}: {end - at:.1f} s")
    print(f"first page after {first_page:.1f} s" if first_page else "no page was served")
    print(f"semantic search ready after {semantic:.1f} s" if semantic else "semantic never ready")
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
