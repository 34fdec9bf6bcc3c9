"""The author loop from the command line: `pml index` with nothing to do loads no model,
a changed file says what was embedded, `pml search` answers full-text without a model,
and nothing draws progress bars into a log (timings: benchmarks/bench_author_loop.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from tests.conftest import postmortem_text, write


@pytest.fixture
def library(library_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PML_LIBRARY", str(library_dir))
    monkeypatch.setenv("PML_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PML_EMBEDDING_MODEL", "hash")
    for name in ("a", "b"):
        write(library_dir, f"{name}.md", postmortem_text(id=name, summary=f"Pool {name} broke."))
    return library_dir


def _run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_nothing_to_do_loads_no_model_and_a_change_says_what_was_embedded(library: Path) -> None:
    first = _run("index")
    assert "2 added" in first and "new passages embedded (from 2 added or changed" in first
    idle = _run("index")
    assert "2 unchanged" in idle
    assert "semantic: nothing to embed (the model was not loaded)" in idle
    write(library, "a.md", postmortem_text(id="a", summary="Pool a broke again, differently."))
    changed = _run("index")
    assert "1 updated" in changed
    assert re.search(
        r"semantic: [1-9]\d* new passages? embedded \(from 1 added or changed", changed
    )
    assert "nothing to embed" not in changed
    forced = _run("index", "--force")  # --force always syncs the vectors
    assert "nothing to embed" not in forced


def test_no_progress_bars_in_a_log(library: Path) -> None:
    output = _run("index")
    assert "Reading postmortems" not in output and "Embedding passages" not in output
    assert "%" not in output and "█" not in output and "#" not in output


def test_search_is_full_text_unless_asked_for_meaning(library: Path) -> None:
    _run("index")
    found = json.loads(_run("search", "--json", "pool"))
    assert found["mode"] == "fulltext" and found["results"]
    hybrid = json.loads(_run("search", "--json", "--mode", "hybrid", "pool"))
    assert hybrid["mode"] == "hybrid"
