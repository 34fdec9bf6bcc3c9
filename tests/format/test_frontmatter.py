"""The strict YAML reader: what it refuses, and what it leaves alone."""

from __future__ import annotations

import pytest

from indexer.format import frontmatter


def test_reads_fields_and_remembers_their_lines() -> None:
    doc = frontmatter.parse("---\ntitle: A\ntimestamps:\n  started_at: x\n---\nbody\n")
    assert doc.data == {"title": "A", "timestamps": {"started_at": "x"}}
    assert doc.lines["title"] == 2
    assert doc.lines["timestamps.started_at"] == 4
    assert doc.body == "body\n"
    assert doc.body_line == 6


def test_yaml_11_words_stay_text_and_dates_stay_strings() -> None:
    doc = frontmatter.parse(
        "---\nnorway: no\nflag: on\nreal: true\nwhen: 2025-01-01 10:00\nday: 2025-01-01\n---\n"
    )
    assert doc.data == {
        "norway": "no",
        "flag": "on",
        "real": True,
        "when": "2025-01-01 10:00",
        "day": "2025-01-01",
    }


def test_numbers_and_nulls() -> None:
    doc = frontmatter.parse("---\na: 12\nb: 1.5\nc: ~\nd:\ne: '12'\n---\n")
    assert doc.data == {"a": 12, "b": 1.5, "c": None, "d": None, "e": "12"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("---\na: &x [1]\nb: *x\n---\n", "anchors"),
        ("---\nlol: &a ['lol']\nl2: [*a, *a]\n---\n", "anchors"),
        ("---\na: !!python/object:os.system 'id'\n---\n", "tags"),
        ("---\na: 1\na: 2\n---\n", "duplicate key 'a'"),
        ("---\na: [1, 2\n---\n", "invalid YAML"),
        ("---\n- a\n- b\n---\n", "must be a mapping"),
        ("title: x\n", "must start with a '---'"),
        ("---\ntitle: x\n", "not closed"),
    ],
)
def test_refuses_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(frontmatter.FrontMatterError, match=message):
        frontmatter.parse(text)


def test_alias_error_points_at_the_line() -> None:
    with pytest.raises(frontmatter.FrontMatterError) as caught:
        frontmatter.parse("---\ntitle: x\nbase: 1\nother: *base\n---\n")
    assert caught.value.line == 4


def test_refuses_deep_nesting_and_oversized_front_matter() -> None:
    deep = "---\na: " + "[" * 50 + "]" * 50 + "\n---\n"
    with pytest.raises(frontmatter.FrontMatterError, match="nested deeper"):
        frontmatter.parse(deep)
    huge = "---\n" + "".join(f"k{i}: {'x' * 60}\n" for i in range(2000)) + "---\n"
    with pytest.raises(frontmatter.FrontMatterError, match="larger than 64 KiB"):
        frontmatter.parse(huge)
