"""A real `pml serve` on a free loopback port, for browser tests, screenshots and timings.

The server runs in a subprocess on the sample library with the small hash
embedder, so it starts in seconds and needs no model download.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serve(
    data_dir: Path,
    library: Path = ROOT / "postmortems",
    extra: dict[str, str] | None = None,
    log: Path | None = None,
) -> Iterator[str]:
    """Start the server, wait until semantic search is ready, yield its base URL.

    `extra` adds or overrides PML_* settings (access control, say); `log`
    receives the server's output (its access log included).
    """
    port = free_port()
    env = {
        **os.environ,
        "PML_LIBRARY": str(library),
        "PML_DATA_DIR": str(data_dir),
        "PML_EMBEDDING_MODEL": "hash",
        "PML_LOG_LEVEL": "warning",
    }
    env.pop("PML_DATABASE_URL", None)
    env.update(extra or {})
    command = [sys.executable, "-m", "api.cli", "serve", "--port", str(port)]
    output = log.open("wb") if log is not None else None
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT if output else None
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
        if output is not None:
            output.close()


def _wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pml serve exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).json().get("semantic"):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"pml serve at {base} was not ready within {timeout} s")
