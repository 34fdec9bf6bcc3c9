"""Typo tolerance: corrections from the index's own words, in the API, on the page, per reader."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from indexer.config import Settings
from indexer.search import _typos
from tests.conftest import postmortem_text, write

POSTMORTEMS = {
    "pool": ("Orders API timeouts", "The connection pool ran dry; PgBouncer queued clients."),
    "replica": ("Stale reads", "Replication fell behind and the replica served old stock."),
    "cert": ("Login failures", "The certificate on the identity provider expired."),
}


def _library(folder: Path) -> None:
    for identifier, (title, summary) in POSTMORTEMS.items():
        write(
            folder, f"{identifier}.md", postmortem_text(id=identifier, title=title, summary=summary)
        )
    write(
        folder,
        "secret.md",
        postmortem_text(
            id="secret",
            title="Vault incident",
            summary="The zanzibarite cipher leaked.",
            visibility="restricted",
            audience=["sec"],
        ),
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    _library(settings.library)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _search(client: TestClient, q: str, **params: Any) -> dict[str, Any]:
    response = client.get("/api/search", params={"q": q, "mode": "fulltext", **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_misspelled_word_is_corrected_from_the_library_and_said_so(client: TestClient) -> None:
    body = _search(client, "conection pool")
    assert body["corrected"] is True
    assert body["did_you_mean"] == "connection pool"
    assert body["query"] == "conection pool"
    assert [hit["id"] for hit in body["results"]] == ["pool"]
    assert "<b>connection</b>" in body["results"][0]["snippet"]
    hybrid = _search(client, "replicaton", mode="hybrid")
    assert hybrid["corrected"] and hybrid["did_you_mean"] == "replication"
    assert hybrid["results"][0]["id"] == "replica"


def test_the_query_as_typed_can_still_be_searched(client: TestClient) -> None:
    body = _search(client, "conection pool", as_typed="true")
    assert body["corrected"] is False and body["did_you_mean"] is None
    assert [hit["id"] for hit in body["results"]] == ["pool"]  # by "pool" alone
    assert "<b>connection</b>" not in body["results"][0]["snippet"]


def test_known_words_and_short_names_are_left_alone(client: TestClient) -> None:
    assert _search(client, "connection pool")["did_you_mean"] is None
    assert _search(client, "etcd quorum")["did_you_mean"] is None  # too short to guess
    assert _search(client, "certificates")["did_you_mean"] is None  # the same stem


def test_the_page_shows_the_correction_and_the_way_back(client: TestClient) -> None:
    page = client.get("/", params={"q": "conection pool"}).text
    assert "Showing results for" in page and "<strong>connection pool</strong>" in page
    assert "Search for “conection pool” instead" in page
    assert "as_typed=1" in page
    as_typed = client.get("/", params={"q": "conection pool", "as_typed": "1"}).text
    assert "Showing results for" not in as_typed


def test_corrections_never_come_from_postmortems_the_reader_cannot_see(
    settings: Settings, open_library: Any
) -> None:
    _library(settings.library)
    library = open_library(settings)
    library.refresh()
    outsider = library.searcher.search("zanzbarite", mode="fulltext")
    assert outsider.did_you_mean is None and outsider.total == 0
    insider = library.searcher.search("zanzbarite", mode="fulltext", groups=frozenset({"sec"}))
    assert insider.corrected and insider.did_you_mean == "zanzibarite"
    assert [hit.id for hit in insider.results] == ["secret"]


def test_edit_distance_counts_a_swap_as_one_edit() -> None:
    assert _typos.distance("conection", "connection", 2) == 1
    assert _typos.distance("replciation", "replication", 2) == 1
    assert _typos.distance("abcdef", "uvwxyz", 2) == 3  # past the bound: bound + 1
