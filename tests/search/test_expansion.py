"""Query expansion: the library taxonomy's own names and aliases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from indexer.config import Settings
from indexer.format import taxonomy
from indexer.search import Expansion
from indexer.search import _expansion as synonyms
from tests.conftest import postmortem_text, write

TAXONOMY = """\
schema: 1
error_classes:
  - id: bad-rollout
    title: Bad rollout
    aliases: [rolled back, reverted]
  - id: queue-backlog
    title: Queue backlog
    aliases: [messages piling up, consumer lag]
"""


def _library(folder: Path) -> None:
    write(folder, "taxonomy.yaml", TAXONOMY)
    write(
        folder,
        "revert.md",
        postmortem_text(
            id="revert",
            title="Checkout errors after the 14:00 release",
            body="## Summary\nWe reverted the release and the database recovered.\n",
        ),
    )
    write(
        folder,
        "lag.md",
        postmortem_text(
            id="lag",
            title="Notifications were late",
            body="## Summary\nConsumer lag grew for six hours before anyone looked.\n",
        ),
    )
    write(
        folder,
        "other.md",
        postmortem_text(
            id="other",
            title="Certificate on the login page",
            body="## Summary\nThe certificate was renewed one day late.\n",
        ),
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    _library(settings.library)
    settings.embedding_model = "none"  # full-text only: what the words alone find
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _ids(client: TestClient, query: str) -> list[str]:
    body = client.get("/api/search", params={"q": query, "mode": "fulltext"}).json()
    return [hit["id"] for hit in body["results"]]


def test_other_names_of_a_failure_mode_find_the_postmortem(client: TestClient) -> None:
    # "rolled back" and "reverted" share no word; the taxonomy says they name one thing.
    body = client.get("/api/search", params={"q": "rolled back", "mode": "fulltext"}).json()
    assert [hit["id"] for hit in body["results"]] == ["revert"]
    assert "<b>reverted</b>" in body["results"][0]["snippet"]  # why it matched
    assert body["total"] == 1


def test_the_library_taxonomy_adds_its_own_aliases(client: TestClient) -> None:
    assert _ids(client, "messages piling up") == ["lag"]  # an alias, not in the text


def test_an_excluded_word_also_excludes_what_expansion_found(client: TestClient) -> None:
    assert _ids(client, "rolled back -database") == []


def test_expansion_is_on_stemmed_words_and_only_for_what_the_query_names() -> None:
    vocabulary = taxonomy.parse(TAXONOMY, Path("taxonomy.yaml"))
    rolling = synonyms.expand(vocabulary, "Rolling back the deploy")
    assert "reverted" in rolling.phrases and "rolled back" not in rolling.phrases
    lag = synonyms.expand(vocabulary, "consumer lag on the orders topic")
    assert lag.error_classes == ("queue-backlog",)
    assert "messages piling up" in lag.phrases
    assert synonyms.expand(vocabulary, "quarterly planning notes") == Expansion()


def test_an_other_name_matches_only_where_its_words_stand_together(settings: Settings) -> None:
    _library(settings.library)
    together = "## Summary\nAll night, messages piling up in the orders queue went unseen.\n"
    apart = "## Summary\nNo messages were lost; work piling up on one team was the problem.\n"
    write(settings.library, "together.md", postmortem_text(id="together", body=together))
    write(settings.library, "apart.md", postmortem_text(id="apart", body=apart))
    settings.embedding_model = "none"
    with TestClient(create_app(settings)) as client:
        # "consumer lag" names queue-backlog, whose alias "messages piling up" is three
        # words: the body must hold all of them side by side, not just each of them.
        assert sorted(_ids(client, "consumer lag")) == ["lag", "together"]
