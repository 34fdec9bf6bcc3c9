"""`pml new`: a fresh draft from the template that lint accepts, with only TODOs left."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import yaml
from click.testing import CliRunner

from api.cli import main
from indexer.format import authoring
from indexer.format.postmortem import parse
from tests.conftest import ROOT, postmortem_text, write

TODAY = date.today()


def new(library: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["new", *args, "--library", str(library)])
    return result.exit_code, result.stdout.strip() or result.output


def lint_json(path: Path) -> list[dict[str, object]]:
    result = CliRunner().invoke(main, ["lint", "--format", "json", str(path)])
    findings: list[dict[str, object]] = json.loads(result.stdout or "[]")
    return findings


def test_new_writes_a_draft_that_passes_lint(library_dir: Path) -> None:
    code, out = new(
        library_dir,
        "Checkout errors after a deploy",
        "--service",
        "checkout",
        "--error-class",
        "deployment-regression",
    )
    assert code == 0, out
    identifier = f"{TODAY.isoformat()}-checkout-errors-after-a-deploy"
    path = library_dir / str(TODAY.year) / f"{identifier}.md"
    assert out == str(path)
    postmortem = parse(path.read_text(encoding="utf-8"), str(path))
    assert (postmortem.id, postmortem.title) == (identifier, "Checkout errors after a deploy")
    assert (postmortem.date, postmortem.status) == (TODAY, "draft")
    assert (postmortem.services, postmortem.error_classes) == (
        ["checkout"],
        ["deployment-regression"],
    )
    result = CliRunner().invoke(main, ["lint", str(library_dir)])
    assert (result.exit_code, result.stdout) == (0, "")


def test_once_published_lint_lists_only_the_sections_to_fill(library_dir: Path) -> None:
    _, out = new(library_dir, "Search results went stale")
    path = Path(out)
    path.write_text(path.read_text().replace("status: draft", "status: published"))
    findings = lint_json(path)
    assert {f["code"] for f in findings} == {"placeholder", "no-timestamps"}
    assert sum(f["code"] == "placeholder" for f in findings) == 8  # one TODO per section
    assert all(f["level"] == "warning" for f in findings)


def test_ids_are_unique_in_the_library(library_dir: Path) -> None:
    first = Path(new(library_dir, "Pool exhaustion")[1])
    second = Path(new(library_dir, "Pool exhaustion")[1])
    assert second.stem == f"{first.stem}-2"
    taken = f"{TODAY.isoformat()}-cache-stampede"
    write(
        library_dir,
        "old/elsewhere.md",
        postmortem_text(id=taken, timestamps={"started_at": "2025-03-14T10:00:00+00:00"}),
    )
    assert Path(new(library_dir, "Cache stampede!")[1]).stem == f"{taken}-2"
    assert lint_json(library_dir) == []


def test_titles_with_quotes_and_accents_stay_intact(library_dir: Path) -> None:
    title = 'Zahlungen "hängen" nach Deploy: 50% Fehler # nicht kommentiert'
    path = Path(new(library_dir, title)[1])
    assert path.stem.endswith("-zahlungen-hangen-nach-deploy-50-fehler-nicht-kommentiert")
    assert parse(path.read_text(encoding="utf-8"), str(path)).title == title
    assert lint_json(path) == []


def test_unknown_vocabulary_and_bad_titles_are_refused(library_dir: Path) -> None:
    code, out = new(library_dir, "Orders down", "--service", "ordrs")
    assert code == 2
    assert "unknown service 'ordrs' (not in taxonomy.yaml); did you mean 'orders'?" in out
    code, out = new(library_dir, "  ")
    assert code == 2
    assert "the title must be one line" in out
    assert not any(library_dir.rglob("*.md"))


def test_the_library_template_is_used_when_there_is_one(library_dir: Path) -> None:
    write(library_dir, "_template.md", "---\ntitle: {{title}}\ndate: {{date}}\n---\nHouse style.\n")
    path = Path(new(library_dir, "Disk full")[1])
    assert path.read_text() == f'---\ntitle: "Disk full"\ndate: {TODAY}\n---\nHouse style.\n'


def test_the_shipped_template_is_the_built_in_one() -> None:
    shipped = ROOT / "postmortems" / authoring.TEMPLATE_NAME
    assert shipped.read_text(encoding="utf-8") == authoring.DEFAULT_TEMPLATE


def test_the_pre_commit_hook_runs_the_linter_over_the_library() -> None:
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert (hook["id"], hook["entry"], hook["pass_filenames"]) == ("pml-lint", "pml lint", False)
    result = CliRunner().invoke(main, ["lint", *(str(ROOT / a) for a in hook["args"])])
    assert result.exit_code == 0
