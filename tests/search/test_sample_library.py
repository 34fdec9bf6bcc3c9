"""What a new engineer sees when searching the shipped sample library."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from indexer.config import Settings
from indexer.library import Library
from tests.conftest import SAMPLE_LIBRARY

POOL_EXHAUSTION = {
    "2025-02-11-orders-pgbouncer-pool-exhaustion",
    "2025-07-22-catalog-replica-too-many-clients",
    "2026-03-09-checkout-hikari-pool-saturation",
}


@pytest.fixture
def sample(sample_settings: Settings, open_library: Any) -> Library:
    library: Library = open_library(sample_settings)
    library.refresh()
    return library


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_pool_exhaustion_postmortems_come_first(sample: Library) -> None:
    found = sample.searcher.search("connection pool exhaustion", mode="fulltext", limit=4)
    assert {hit.id for hit in found.results} >= POOL_EXHAUSTION, found.results
    # The catalog write-up never says "pool": the query names the taxonomy's
    # error class, whose postmortems match too.
    assert "pool" not in (
        SAMPLE_LIBRARY / "2025/2025-07-22-catalog-replica-too-many-clients.md"
    ).read_text().replace("connection-pool-exhaustion", "")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("query", ["the database ran out of connections", "too many connections"])
def test_pool_exhaustion_found_by_what_people_remember(sample: Library, query: str) -> None:
    top = [hit.id for hit in sample.searcher.search(query, mode="fulltext", limit=5).results]
    assert len(POOL_EXHAUSTION & set(top)) >= 2, top


def test_sample_library_indexes_completely(sample: Library) -> None:
    report = sample.last_report
    assert report is not None and report.problems == []
    files = [p for p in SAMPLE_LIBRARY.rglob("*.md") if not p.name.startswith("_")]  # templates
    assert report.indexed == len(files) >= 40
    facets = sample.index.search("", limit=1).facets
    assert len(facets["service"]) >= 8
    assert len(facets["error_class"]) >= 10


@pytest.fixture
def client(sample_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(sample_settings)) as test_client:
        yield test_client


def test_restricted_sample_postmortems_stay_hidden(client: TestClient) -> None:
    restricted = [
        p.stem for p in SAMPLE_LIBRARY.rglob("*.md") if "visibility: restricted" in p.read_text()
    ]
    assert restricted
    listing = client.get("/api/postmortems", params={"limit": 100}).json()
    search = client.get("/api/search", params={"q": "credential stuffing", "limit": 100}).json()
    for identifier in restricted:
        assert identifier not in str(listing) and identifier not in str(search)
        assert client.get(f"/api/postmortems/{identifier}").status_code == 404
