"""`pml new`: a fresh draft from the template that lint accepts, with only TODOs left."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import yaml
from click.testing import CliRunner

from api.cli import main
from indexer.format import authoring, postmortem
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
        postmortem_text(
            id=taken,
            date=TODAY.isoformat(),
            timestamps={"started_at": f"{TODAY.isoformat()}T10:00:00+00:00"},
        ),
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


def test_a_past_incident_takes_its_date_and_start(library_dir: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["new", "Orders API timeouts", "--library", str(library_dir),
         "--date", "2024-11-02", "--started-at", "18:02+01:00"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip())
    assert path == library_dir / "2024" / "2024-11-02-orders-api-timeouts.md"
    parsed = postmortem.parse(path.read_text(), str(path))
    assert (parsed.id, parsed.date.isoformat()) == ("2024-11-02-orders-api-timeouts", "2024-11-02")
    assert parsed.timestamps["started_at"].isoformat() == "2024-11-02T18:02:00+01:00"
    assert lint_json(path) == []
    only_start = CliRunner().invoke(
        main, ["new", "Cache stampede", "--library", str(library_dir),
               "--started-at", "2023-06-30T23:30:00Z"],
    )  # fmt: skip
    assert Path(only_start.stdout.strip()).name == "2023-06-30-cache-stampede.md"


def test_a_start_without_a_time_zone_or_on_another_day_is_refused(library_dir: Path) -> None:
    base = ["new", "X", "--library", str(library_dir)]
    naive = CliRunner().invoke(main, [*base, "--started-at", "2024-11-02T18:02:00"])
    assert naive.exit_code == 2 and "not a timestamp with a time zone" in naive.output
    other = CliRunner().invoke(
        main, [*base, "--date", "2024-11-03", "--started-at", "2024-11-02T18:02:00Z"]
    )
    assert other.exit_code == 2 and "is not on 2024-11-03" in other.output
    assert not list(library_dir.rglob("*.md"))


def test_from_an_imported_incident(library_dir: Path, tmp_path: Path, database_url: str) -> None:
    env = {
        "PML_LIBRARY": str(library_dir),
        "PML_DATA_DIR": str(tmp_path / "data"),
        "PML_DATABASE_URL": database_url,
        "PML_GIT_URL": "",
    }
    runner = CliRunner()
    fixture = str(ROOT / "tests" / "fixtures" / "pagerduty_incidents.json")
    command = ["import", "incidents", fixture, "--source", "pagerduty"]
    imported = runner.invoke(main, command, env=env)
    assert imported.exit_code in (0, 1), imported.output  # rows the fixture rejects are listed
    missing = runner.invoke(main, ["new", "--from-incident", "pagerduty:NOPE"], env=env)
    assert missing.exit_code == 2 and "no incident pagerduty:NOPE in the database" in missing.output
    result = runner.invoke(main, ["new", "--from-incident", "pagerduty:Q1ORDERS0314"], env=env)
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip())
    assert path == library_dir / "2025" / "2025-03-14-orders-api-latency-high.md"
    parsed = postmortem.parse(path.read_text(), str(path))
    assert parsed.title == "Orders API latency high"
    assert parsed.services == ["orders"]
    assert parsed.external_refs == {"pagerduty": ["Q1ORDERS0314"]}
    assert parsed.timestamps["resolved_at"].isoformat() == "2025-03-14T19:30:00+00:00"
    assert parsed.timestamps["started_at"] <= parsed.timestamps["resolved_at"]
    assert not [f for f in lint_json(path) if f["level"] == "error"]
