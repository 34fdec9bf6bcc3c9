"""Snippets: sentence starts, no title or heading run in, meaningful highlights, log lines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from indexer.config import Settings
from tests.conftest import postmortem_text, write

BODY = """## Summary

Checkout was slow for an hour. Nobody was paged at first. The orders pod ran out of \
memory after the release rolled out to every region.

## Diagnosis

The database logged this line thousands of times:

```
FATAL: remaining connection slots are reserved for non-replication superuser connections
```

We ran a script to count the sessions.
"""


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    write(
        settings.library,
        "slow.md",
        postmortem_text(id="slow", title="Checkout slow after release", body=BODY),
    )
    settings.embedding_model = "none"
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _snippet(client: TestClient, q: str) -> str:
    body: dict[str, Any] = client.get("/api/search", params={"q": q, "mode": "fulltext"}).json()
    assert body["results"], q
    snippet: str = body["results"][0]["snippet"]
    return snippet


def test_a_snippet_starts_at_a_sentence_and_never_at_the_title_or_a_heading(
    client: TestClient,
) -> None:
    snippet = _snippet(client, "paged")
    assert snippet.startswith("Nobody was <b>paged</b> at first.")
    checkout = _snippet(client, "checkout slow")
    assert checkout.startswith("<b>Checkout</b> was <b>slow</b> for an hour.")
    assert "Summary" not in checkout and "after release" not in checkout


def test_expansion_marks_whole_names_not_the_little_words_inside_them(client: TestClient) -> None:
    snippet = _snippet(client, "oom")
    assert "<b>out of memory</b>" in snippet
    assert "<b>ran</b>" not in snippet and "rolled <b>out</b>" not in snippet


def test_a_pasted_error_message_shows_its_line(client: TestClient) -> None:
    snippet = _snippet(
        client, "FATAL: remaining connection slots are reserved for non-replication superuser"
    )
    assert snippet.startswith("<b>FATAL</b>: <b>remaining</b> <b>connection</b> <b>slots</b>")
    assert "thousands of times" not in snippet and "count the sessions" not in snippet


def test_words_the_stemmer_respells_are_still_marked(settings: Settings) -> None:
    """The index stores "during" as "dure": the snippet still finds the sentence and marks it."""
    write(
        settings.library,
        "batch.md",
        postmortem_text(
            id="batch",
            title="Nightly batch overran",
            body="## Summary\n\nThe export ran long.\n\nIt failed during the backup window.\n",
        ),
    )
    settings.embedding_model = "none"
    with TestClient(create_app(settings)) as client:
        snippet = _snippet(client, "during")
    assert snippet.startswith("It failed <b>during</b> the backup window."), snippet


@pytest.mark.parametrize("team", ["Payments", "Paiements à Zürich"])
def test_words_are_marked_whatever_their_case_in_any_script(settings: Settings, team: str) -> None:
    """ASCII bodies are searched lower-cased; others as they are: the same marks either way."""
    body = f"## Summary\n\n{team} saw errors.\n\nThe DATABASE Failover took ten minutes.\n"
    write(settings.library, "failover.md", postmortem_text(id="failover", body=body))
    settings.embedding_model = "none"
    with TestClient(create_app(settings)) as client:
        snippet = _snippet(client, "database failover")
    assert snippet.startswith("The <b>DATABASE</b> <b>Failover</b> took ten minutes."), snippet
