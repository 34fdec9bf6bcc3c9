"""`pml import postmortems`: a mixed folder of real foreign postmortems becomes a library.

The folder holds the real postmortems of tests/fixtures/foreign (Markdown
without front matter, Jekyll, Hugo and Zola TOML, MkDocs) plus a Word file,
a Confluence export page and a Notion export built from real postmortems'
text (tests/format/foreign.py). The converted library must lint with no
errors, and each converted file must be found by a phrase from its own body.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.cli import main
from indexer.format import convert, lint, postmortem
from indexer.format.taxonomy import Taxonomy
from tests.conftest import SAMPLE_LIBRARY, write
from tests.format import foreign

_WORDS = re.compile(r"[A-Za-z0-9]+")


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """A folder like a team's export: real files in their folders, plus Word, Confluence, Notion."""
    source = tmp_path / "old-postmortems"
    for path in foreign.real_postmortems():
        target = source / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    (source / "word").mkdir()
    foreign.build_word(source / "word" / "ALB 502 errors.docx")
    (source / "confluence" / "attachments").mkdir(parents=True)
    foreign.build_confluence(source / "confluence" / "Log4Shell-investigations_98765.html")
    (source / "notion").mkdir()
    foreign.build_notion(source / "notion")
    return source


@pytest.fixture
def library(tmp_path: Path) -> Path:
    folder = tmp_path / "library"
    folder.mkdir()
    shutil.copy(SAMPLE_LIBRARY / "taxonomy.yaml", folder / "taxonomy.yaml")
    return folder


def converted(out: str) -> dict[str, Path]:
    """Source name -> converted file, from the report lines."""
    pairs = re.findall(r"^(?:converted|needs attention): (.+?) -> (\S+\.md)", out, re.M)
    return {source: Path(target) for source, target in pairs}


def phrase(path: Path) -> str:
    """Five words from the middle of the converted file's body: what a reader might remember."""
    body = postmortem.parse(path.read_text(encoding="utf-8"), str(path)).body
    lines = [line for line in body.split("\n") if len(_WORDS.findall(line)) >= 10]
    words = _WORDS.findall(lines[len(lines) // 2])
    return " ".join(words[2:7])


def test_a_mixed_folder_converts_lints_clean_and_is_searchable(
    mixed: Path, library: Path, tmp_path: Path
) -> None:
    result = cli("import", "postmortems", str(mixed), "--out", str(library))
    assert result.exit_code == 0, result.output
    files = converted(result.stdout)
    assert len(result.stdout.strip().split("\n")) == len(files) == 18  # one line per file
    kinds = {Path(name).suffix for name in files} | {Path(name).parts[0] for name in files}
    assert {".md", ".docx", ".html", "plain", "jekyll", "hugo", "zola", "mkdocs"} <= kinds
    assert "18 converted, 0 failed" not in result.stderr  # some need a person's review
    assert re.search(r"(\d+) converted, (\d+) need attention, 0 failed", result.stderr)

    lint = cli("lint", str(library))
    assert lint.exit_code == 0
    assert re.search(r"^0 errors, \d+ warnings", lint.stderr, re.M)

    env = {
        "PML_LIBRARY": str(library),
        "PML_DATA_DIR": str(tmp_path / "data"),
        "PML_DATABASE_URL": "",
        "PML_GIT_URL": "",
    }
    assert cli("index", env=env).exit_code == 0
    for name, path in files.items():
        words = phrase(path)
        query = f'"{words}"'  # the exact phrase: only this file (and its twin, below) has it
        search = cli("search", "--mode", "fulltext", "--json", "--limit", "50", query, env=env)
        ids = [hit["id"] for hit in json.loads(search.stdout)["results"]]
        assert path.stem in ids, f"{name}: {query} did not find {path.stem}"
        # The Word, Confluence and Notion files carry the words of postmortems that are in
        # the folder as Markdown too (dfds ALB, Log4Shell; the ALX one): a phrase finds both.
        assert len(ids) <= 2, f"{name}: {query} found {ids}"


def test_sre_book_example_keeps_its_action_items_and_sections(library: Path) -> None:
    source = foreign.FOREIGN / "plain" / "sre-book-example-postmortem.md"
    result = cli("import", "postmortems", str(source), "--out", str(library))
    assert result.stdout.startswith("converted: sre-book-example-postmortem.md -> ")
    path = next(iter(converted(result.stdout).values()))
    parsed = postmortem.parse(path.read_text(), str(path))
    assert parsed.title == "Shakespeare Sonnet++ Postmortem (incident #465)"
    assert parsed.date.isoformat() == "2015-10-21"
    assert parsed.authors == ["jennifer", "martym", "agoogler"]
    first = parsed.action_items[0]
    assert (first.title, first.type, first.owner, first.status) == (
        "Update playbook with instructions for responding to cascading failure",
        "mitigate",
        "jennifer",
        "done",
    )
    assert (
        parsed.action_items[1].ticket == "Bug 5554823" and parsed.action_items[1].status == "open"
    )
    headings = [s.heading for s in parsed.sections]
    assert {"Summary", "Impact", "Contributing factors", "Lessons learned", "Timeline"} <= set(
        headings
    )
    assert "Estimated 1.21B queries lost, no revenue impact." in parsed.body
    assert parsed.source_url == "sre-book-example-postmortem.md"


def test_notion_export_name_and_properties(library: Path, tmp_path: Path) -> None:
    page = foreign.build_notion(tmp_path)
    result = cli("import", "postmortems", str(page), "--out", str(library))
    path = next(iter(converted(result.stdout).values()))
    parsed = postmortem.parse(path.read_text(), str(path))
    assert parsed.date.isoformat() == "2022-02-05"  # from "Created: February 5, 2022 11:40 AM"
    assert parsed.tags == ["outage", "rails"]
    assert "Created:" not in parsed.body and "## Summary" in parsed.body
    assert parsed.source_url == page.name


def test_issue_summary_style_and_what_needs_a_person(library: Path) -> None:
    source = foreign.FOREIGN / "plain" / "Blog_Post.md"
    result = cli("import", "postmortems", str(source), "--out", str(library))
    assert result.exit_code == 0
    line = result.stdout.strip()
    assert line.startswith("needs attention: Blog_Post.md -> ")
    assert "the title 'Postmortem' is generic" in line and "no date in the original" in line
    path = next(iter(converted(result.stdout).values()))
    text = path.read_text()
    assert "## Summary\n" in text and "## Action items\n" in text  # Issue Summary, Corrective...
    assert "## Root Cause And Resolution\n" in text  # two of ours: kept as written
    lint = cli("lint", str(path))
    assert lint.exit_code == 0
    assert "to review: the title 'Postmortem' is generic" in lint.stdout
    assert "action item AI-1 ('Setup a continuous integration pipeline" in lint.stdout


def test_jekyll_post_date_from_file_name_and_earlier_mention(library: Path) -> None:
    source = foreign.FOREIGN / "jekyll" / "2018-08-05-security-incident-disclosure.md"
    result = cli("import", "postmortems", str(source), "--out", str(library), "--base-url",
                 "https://github.com/Homebrew/brew.sh/blob/HEAD/_posts/")  # fmt: skip
    path = next(iter(converted(result.stdout).values()))
    parsed = postmortem.parse(path.read_text(), str(path))
    assert parsed.date.isoformat() == "2018-08-05"
    assert parsed.source_url == (
        "https://github.com/Homebrew/brew.sh/blob/HEAD/_posts/"
        "2018-08-05-security-incident-disclosure.md"
    )
    assert "the text first mentions 2018-07-31" in result.stdout
    assert [s.heading for s in parsed.sections if s.heading] == ["Impact", "Action items"]


def test_hugo_incident_gets_its_start_time_and_services_are_suggested(library: Path) -> None:
    write(
        library,
        "taxonomy.yaml",
        "schema: 1\nservices:\n  - id: web-api\n    title: Web API\n  - id: mapserv\n"
        "  - id: checkout\n",
    )
    source = foreign.FOREIGN / "hugo" / "network-core-outage.md"
    result = cli("import", "postmortems", str(source), "--out", str(library))
    path = next(iter(converted(result.stdout).values()))
    parsed = postmortem.parse(path.read_text(), str(path))
    assert parsed.timestamps["started_at"].isoformat() == "2022-10-19T11:07:23+00:00"
    # From the original's `affectedsystems = ["web api", "mapserv"]`; not checkout.
    assert parsed.front_matter["suggested"] == {"services": ["mapserv", "web-api"]}
    assert "the original says severity 'partial-outage'" in result.stdout
    lint = cli("lint", str(path)).stdout
    assert (
        "suggested services from the text: mapserv, web-api; move the right ones to 'services'"
        in lint
    )


def test_unreadable_files_fail_alone_and_nothing_is_overwritten(
    library: Path, tmp_path: Path
) -> None:
    source = tmp_path / "in"
    write(source, "good.md", "# Cache stampede on 2024-02-01\n\nThe cache fell over.\n")
    (source / "latin1.md").write_bytes("# Caf\xe9 outage\n".encode("latin-1"))
    (source / "broken.docx").write_bytes(b"not a zip file")
    first = cli("import", "postmortems", str(source), "--out", str(library))
    assert first.exit_code == 1
    assert "failed: broken.docx: not a readable Word file" in first.stdout
    assert "failed: latin1.md: not UTF-8 text" in first.stdout
    assert "good.md -> " in first.stdout
    second = cli("import", "postmortems", str(source / "good.md"), "--out", str(library))
    targets = list(converted(first.stdout).values()) + list(converted(second.stdout).values())
    assert len(targets) == 2 and targets[0] != targets[1]
    assert targets[1].stem == targets[0].stem + "-2"


def test_links_out_of_the_source_folder_are_refused(library: Path, tmp_path: Path) -> None:
    """Issue 29: a link to a secrets file outside the source became a postmortem everyone reads."""
    secret = write(tmp_path / "elsewhere", "secrets.md", "# Vault keys on 2024-02-01\n\nhunter2\n")
    source = tmp_path / "in"
    write(source, "good.md", "# Cache stampede on 2024-02-01\n\nThe cache fell over.\n")
    (source / "keys.md").symlink_to(secret)
    (source / "inner.md").symlink_to(source / "good.md")  # inside the folder: converted
    result = cli("import", "postmortems", str(source), "--out", str(library))
    assert "failed: keys.md: a symbolic link to a file outside the source folder" in result.stdout
    assert set(converted(result.stdout)) == {"good.md", "inner.md"}
    written = "".join(p.read_text("utf-8") for p in library.rglob("*.md"))
    assert "hunter2" not in written


_MARKDOWNISH = st.text(
    alphabet=st.sampled_from(list("#|-*:[]()`>+ \n\tabcTODOne0123456789/年")), max_size=400
)


@pytest.mark.reliability
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=_MARKDOWNISH, front=st.sampled_from(["", "---\ntitle: x\n---\n", "+++\ndate = 1\n+++\n"])
)
def test_any_text_converts_to_a_file_that_lints_or_fails_alone(
    tmp_path: Path, body: str, front: str
) -> None:
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    write(work, "in/x.md", front + body)
    report = convert.convert(work / "in", work / "out", today=date(2025, 1, 1))
    [line] = report.files
    assert line.outcome in ("converted", "needs attention"), str(line)
    assert line.target is not None
    text = Path(line.target).read_text(encoding="utf-8")
    parsed = postmortem.parse(text, line.target)
    assert not [f for f in lint.lint_postmortem(parsed, Taxonomy()) if f.level == "error"]


def test_only_headings_that_name_a_section_are_renamed(library: Path, tmp_path: Path) -> None:
    text = (
        "# Slow checkout\n\n## Summary:\nIt was slow.\n\n## Response time degradation\n"
        "p99 doubled.\n\n## Timeline: 2024-03-01\n- 10:00 slow\n"
    )
    source = write(tmp_path, "in/slow.md", text)
    result = cli("import", "postmortems", str(source), "--out", str(library))
    body = next(iter(converted(result.stdout).values())).read_text().split("---\n", 2)[2]
    assert "## Summary\n" in body
    assert "## Response time degradation\n" in body  # not our "Response and recovery"
    assert "## Timeline\n\n2024-03-01\n" in body


def _import_one(library: Path, tmp_path: Path, name: str, text: str) -> tuple[Result, Path]:
    source = write(tmp_path, f"in/{name}", text)
    result = cli("import", "postmortems", str(source), "--out", str(library))
    assert result.exit_code == 0, result.output
    return result, next(iter(converted(result.stdout).values()))


def test_action_items_over_several_lines_keep_title_priority_and_ticket(
    library: Path, tmp_path: Path
) -> None:
    text = (
        "# Payments API outage on 2024-03-02\n\nThe API was down.\n\n## Action items\n\n"
        "- **HIGH** [#2227]: Add a circuit breaker to the payments client so that\n"
        "  a slow upstream cannot exhaust the worker pool\n"
        "- (P2) Alert on queue depth before the workers saturate,\n"
        "  not after the error budget is gone JIRA-123\n"
        "- [x] Page the database team earlier\n"
        "  ([#88](https://github.com/acme/ops/issues/88))\n"
        "- Document the SHA-256 key rotation\n"
        "- SEV-1 follow-up: patch CVE-2021-44228 everywhere\n"
    )
    _, path = _import_one(library, tmp_path, "payments.md", text)
    items = postmortem.parse(path.read_text(), str(path)).action_items
    assert [(i.title, i.priority, i.ticket, i.status) for i in items] == [
        (
            "Add a circuit breaker to the payments client so that a slow upstream cannot "
            "exhaust the worker pool",
            "P1",
            "#2227",
            "open",
        ),
        (
            "Alert on queue depth before the workers saturate, not after the error budget is gone",
            "P2",
            "JIRA-123",
            "open",
        ),
        ("Page the database team earlier", None, "https://github.com/acme/ops/issues/88", "done"),
        ("Document the SHA-256 key rotation", None, None, "open"),
        ("SEV-1 follow-up: patch CVE-2021-44228 everywhere", None, None, "open"),
    ]


def test_date_notes_say_truly_where_the_date_came_from(library: Path, tmp_path: Path) -> None:
    jekyll = foreign.FOREIGN / "jekyll" / "2018-08-05-security-incident-disclosure.md"
    result = cli("import", "postmortems", str(jekyll), "--out", str(library))
    # "On 31st July 2018" is on the file's line 6 (after five lines of front matter).
    assert "from the file name (the text first mentions 2018-07-31, on line 6)" in result.stdout


_LATER = "\n".join(f"Paragraph {n} about the cache." for n in range(30))


def test_a_date_from_a_folder_is_not_said_to_be_from_the_file_name(
    library: Path, tmp_path: Path
) -> None:
    later = _LATER
    text = f"# Cache stampede\n\nThe cache fell over.\n\n{later}\n\nIt began on 2024-05-20.\n"
    write(tmp_path, "export/2024-06-01-export/cache.md", text)
    result = cli("import", "postmortems", str(tmp_path / "export"), "--out", str(library))
    line = result.stdout.strip()
    assert "date 2024-06-01 is from the folder name: check it" in line  # not the file name
    assert "first mentions" not in line  # 2024-05-20 is in a later paragraph, not the opening


def test_the_note_cites_the_earliest_day_of_the_opening(library: Path, tmp_path: Path) -> None:
    later = _LATER
    opening = (
        "# DB failover\n\nOn 2024-06-09 the primary failed over; the replica had lagged\n"
        "since 2024-06-08 without an alert.\n\n" + later + "\n\nA similar one on 2024-03-01.\n"
    )
    named = write(tmp_path, "in/2024-06-10-db-failover.md", opening)
    result = cli("import", "postmortems", str(named), "--out", str(library))
    assert "from the file name (the text first mentions 2024-06-08, on line 4)" in result.stdout


# Section headings as each template lists them (tests/fixtures/foreign/SOURCES.md says where),
# each with what the converter should call it: ours where it is another name for one of ours,
# its own name where the template keeps it apart.
TEMPLATES: dict[str, list[tuple[str, str]]] = {
    "atlassian": [
        ("Incident summary", "Summary"), ("Leadup", "Leadup"), ("Fault", "Fault"),
        ("Impact", "Impact"), ("Detection", "Detection"), ("Response", "Response"),
        ("Recovery", "Recovery"), ("Timeline", "Timeline"),
        ("Root cause identification: The Five Whys", "Root cause identification: The Five Whys"),
        ("Five whys", "Five whys"), ("Root cause", "Contributing factors"),
        ("Backlog check", "Backlog check"), ("Recurrence", "Recurrence"),
        ("Lessons learned", "Lessons learned"), ("Corrective actions", "Action items"),
    ],
    "pagerduty": [
        ("Summary", "Summary"), ("Impact", "Impact"), ("Root cause(s)", "Root cause(s)"),
        ("Resolution and recovery", "Response and recovery"), ("Timeline", "Timeline"),
        ("Action items", "Action items"), ("Messaging", "Messaging"),
    ],
    "google-sre": [
        ("Summary", "Summary"), ("Impact", "Impact"), ("Root Causes", "Contributing factors"),
        ("Trigger", "Trigger"), ("Resolution", "Response and recovery"),
        ("Detection", "Detection"), ("Action Items", "Action items"),
        ("Lessons Learned", "Lessons learned"), ("What went well", "What went well"),
        ("What went wrong", "What went wrong"), ("Where we got lucky", "Where we got lucky"),
        ("Timeline", "Timeline"), ("Supporting information", "Supporting information"),
    ],
    "gitlab": [
        ("Summary", "Summary"), ("Customer Impact", "Impact"),
        ("Detection and Response", "Detection and Response"), ("Timeline", "Timeline"),
        ("Root Cause Analysis", "Contributing factors"), ("What went well", "What went well"),
        ("What can be improved", "What can be improved"),
        ("Corrective actions", "Action items"),
    ],
    "etsy-morgue": [
        ("Summary", "Summary"), ("TL;DR", "TL;DR"), ("Why surprised", "Why surprised"),
        ("Timeline", "Timeline"), ("Tickets", "Tickets"), ("Images", "Images"),
    ],
}  # fmt: skip


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_template_section_keeps_its_own_heading(
    template: str, library: Path, tmp_path: Path
) -> None:
    sections = TEMPLATES[template]
    body = "".join(
        f"## {label}\n\nWhat the team wrote under {label} ({number}).\n\n"
        for number, (label, _) in enumerate(sections)
    )
    text = f"# Checkout outage on 2024-04-02\n\n{body}"
    _, path = _import_one(library, tmp_path, f"{template}.md", text)
    parsed = postmortem.parse(path.read_text(), str(path))
    assert [(s.heading, s.text.strip()) for s in parsed.sections if s.heading] == [
        (ours, f"What the team wrote under {label} ({number}).")
        for number, (label, ours) in enumerate(sections)
    ]


def test_real_action_items_with_ticket_references_over_several_lines(library: Path) -> None:
    source = foreign.FOREIGN / "zola" / "crates-io-incident-report.md"
    result = cli("import", "postmortems", str(source), "--out", str(library))
    path = next(iter(converted(result.stdout).values()))
    items = postmortem.parse(path.read_text(), str(path)).action_items
    second = items[1]
    assert second.title == (
        "Add a periodic job that checks the index and the database for consistency, paging the "
        "on-call person if there are any mismatches. The job will need to account for the "
        "crates not yet published on the index but in the queue."
    )
    # `[#2227]:` is a reference link; the file defines it at its end.
    assert second.ticket == "https://github.com/rust-lang/crates.io/issues/2227"
    assert [i.title.startswith("[#") for i in items] == [False] * 5
    third = "Include the crate name in the HTTP log entry for the publish API call."
    assert items[2].title == third
