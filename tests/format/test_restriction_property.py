"""The parser's half of fail-closed (issue 29): no mangled restriction is ever read as public.

For every front matter `tests.restriction_mutations` can produce from a
restricted postmortem, the parsed postmortem is restricted, its audience is
at most the one named (nobody, when the key was misspelled), and lint has an
error for it (so CI fails). The outsider-view test runs the same strategy
through the whole app.
"""

from __future__ import annotations

from hypothesis import given, settings

from indexer.format import lint, postmortem
from indexer.format.taxonomy import Taxonomy
from tests.conftest import BODY
from tests.restriction_mutations import restricted_front_matter

FIELDS = {
    "id": "2026-03-20-merger",
    "title": "Orders pool exhausted during the merger",
    "date": "2026-03-20",
    "severity": "SEV1",
    "services": ["orders"],
    "visibility": "restricted",
    "audience": ["mergers"],
}


@settings(max_examples=400, deadline=None)
@given(front=restricted_front_matter(FIELDS))
def test_no_mangled_restriction_is_read_as_public(front: str) -> None:
    text = f"---\n{front}---\n{BODY.format(summary='Merger traffic.')}"
    parsed = postmortem.parse(text, "2026/merger.md")
    assert parsed.visibility == "restricted", front
    assert set(parsed.audience) <= {"mergers"}, front
    errors = [f for f in lint.lint_postmortem(parsed, Taxonomy()) if f.level == "error"]
    assert errors, front
