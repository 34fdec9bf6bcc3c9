"""Parser fuzzing: front matter, postmortems, Markdown and every importer take anything.

For arbitrary and hostile input each either returns a result or raises its one
documented error with a message; anything else (a crash, a hang) fails. The
pathological inputs (alias bombs, deep nesting, 1 MB lines) must also finish
within a bounded time.
"""

from __future__ import annotations

import contextlib
import json
import time

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from indexer.config import Settings
from indexer.format import frontmatter, markdown
from indexer.format.postmortem import MalformedPostmortem, parse
from indexer.incidents import importers
from tests.conftest import postmortem_text

pytestmark = pytest.mark.reliability
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))

yaml_ish = st.text(alphabet=st.sampled_from(list(":-[]{}&*!|>'\"#,? \n\tabc019é")), max_size=300)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=30,
)


def _bounded(seconds: float, action: object) -> None:
    """`action` ends, refused or not, within `seconds` of this process's CPU time:
    the work the input costs, whatever else the machine runs meanwhile (a full
    suite on 2 cores once took 10.8 s of wall time for ~2 s of work)."""
    started = time.process_time()
    with contextlib.suppress(
        frontmatter.FrontMatterError, MalformedPostmortem, importers.ImportFormatError
    ):
        action()  # type: ignore[operator]
    assert time.process_time() - started < seconds


@FUZZ
@given(st.one_of(st.text(max_size=500), yaml_ish.map(lambda y: f"---\n{y}\n---\nbody")))
def test_front_matter_parses_or_says_why(text: str) -> None:
    try:
        document = frontmatter.parse(text)
    except frontmatter.FrontMatterError as error:
        assert str(error) and error.line >= 1
    else:
        assert isinstance(document.data, dict)


@FUZZ
@given(
    title=st.text(max_size=80),
    severity=st.one_of(st.none(), st.text(max_size=6)),
    services=st.lists(st.text(max_size=20), max_size=4),
    date=st.one_of(st.text(max_size=12), st.dates().map(str)),
    body=st.text(max_size=400),
)
def test_postmortems_parse_or_say_why(
    title: str, severity: str | None, services: list[str], date: str, body: str
) -> None:
    text = postmortem_text(title=title, severity=severity, services=services, date=date, body=body)
    try:
        postmortem = parse(text, "fuzz.md")
    except MalformedPostmortem as error:
        assert error.finding.message and error.finding.path == "fuzz.md"
    else:
        assert postmortem.id


@FUZZ
@given(st.text(max_size=2000))
def test_markdown_renders_anything_without_active_content(body: str) -> None:
    html = markdown.render_html(body)
    assert "<script" not in html.lower()
    markdown.sections(body)
    markdown.plain_text(body)


@FUZZ
@given(source=st.sampled_from(sorted(importers.SOURCES)), value=json_values)
def test_importers_take_any_json(source: str, value: object) -> None:
    _assert_clear_outcome(source, json.dumps(value).encode())


@FUZZ
@given(source=st.sampled_from(sorted(importers.SOURCES)), data=st.binary(max_size=600))
def test_importers_take_any_bytes(source: str, data: bytes) -> None:
    _assert_clear_outcome(source, data)


def _assert_clear_outcome(source: str, data: bytes) -> None:
    """A file-level error with a message, or rows whose every error has one."""
    try:
        parsed = importers.parse(source, data)
    except importers.ImportFormatError as error:
        assert str(error)
    else:
        assert all(message for _, message in parsed.errors)


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(9)
)
PATHOLOGICAL = {
    "alias bomb": f"---\n{ALIAS_BOMB}---\nbody",
    "deep nesting": "---\ntitle: " + "[" * 5000 + "]" * 5000 + "\n---\nbody",
    "deep mappings": "---\n" + "".join(" " * i + f"k{i}:\n" for i in range(3000)) + "---\n",
    "1 MB line": "---\ntitle: " + "x" * 1_000_000 + "\n---\nbody",
    "1 MB body line": postmortem_text(body="## Summary\n" + "word " * 200_000),
    "many headings": postmortem_text(body="## h\n" * 50_000),
    "nested emphasis": postmortem_text(body="*" * 100_000 + "a" + "*" * 100_000),
    "nested brackets": postmortem_text(body="[" * 50_000 + "a" + "](x)" * 50_000),
    "nested quotes": postmortem_text(body="> " * 10_000 + "deep"),
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_postmortems_finish_quickly(name: str) -> None:
    text = PATHOLOGICAL[name]
    _bounded(10, lambda: parse(text, "evil.md"))
    if name.startswith(("1 MB body", "many", "nested")):
        body = text.split("---\n", 2)[2]
        _bounded(10, lambda: markdown.render_html(body))


def test_alias_bomb_is_refused_with_a_reason() -> None:
    with pytest.raises(MalformedPostmortem, match=r"anchors|aliases"):
        parse(PATHOLOGICAL["alias bomb"], "bomb.md")


@pytest.mark.parametrize("source", sorted(importers.SOURCES))
def test_huge_and_deep_import_files_finish_quickly(source: str) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    line = b'{"incidents": [{"id": "' + b"x" * 1_000_000 + b'"}]}'
    csv = b"source_id,title\n" + b"a," + b"b" * 1_000_000 + b"\n"
    for data in (deep, line, csv):
        _bounded(10, lambda data=data: importers.parse(source, data))


@pytest.mark.parametrize("source", sorted(importers.SOURCES))
def test_hostile_import_files_are_a_400_over_http(settings: Settings, source: str) -> None:
    with TestClient(create_app(settings)) as client:
        for data in (b"[" * 100_000 + b"]" * 100_000, b"a" * 200_000 + b"\n"):
            reply = client.post("/api/incidents/import", params={"source": source}, content=data)
            assert reply.status_code == 400 and reply.json()["detail"], reply.text[:200]
