"""The new engineer's search page: every facet the API has, in natural order, a date range,
newest-first sorting, and saying so when semantic search is not there yet."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from indexer.config import Settings
from indexer.filters import FIELDS
from tests.conftest import SAMPLE_LIBRARY


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("search-page")
    settings = Settings(library=SAMPLE_LIBRARY, data_dir=data, embedding_model="hash")
    with TestClient(create_app(settings)) as test_client:
        deadline = time.monotonic() + 60
        while not test_client.get("/readyz").json()["semantic"]:
            assert time.monotonic() < deadline, "semantic search never became ready"
            time.sleep(0.05)
        yield test_client


def _facet_values(page: str, name: str) -> list[str]:
    return re.findall(rf'data-facet="{name}" data-value="([^"]*)"', page)


def test_every_facet_of_the_api_is_on_the_page(client: TestClient) -> None:
    page = client.get("/", params={"q": "outage"}).text
    api = client.get("/api/search", params={"q": "outage"}).json()["facets"]
    for field in FIELDS:
        assert api[field.name], field.name  # the API counts every field
        assert _facet_values(page, field.name), f"no {field.label} facet on the page"


def test_severity_and_year_are_in_their_natural_order(client: TestClient) -> None:
    page = client.get("/", params={"q": "outage"}).text
    severities = _facet_values(page, "severity")
    assert severities == sorted(severities) and len(severities) >= 3
    years = _facet_values(page, "year")
    assert years == sorted(years, reverse=True) and len(years) >= 2


def test_a_date_range_filters_and_shows_a_chip(client: TestClient) -> None:
    page = client.get("/", params={"q": "pool", "since": "2026-01-01", "until": "2026-06-30"}).text
    dates = re.findall(r'<time datetime="(\d{4}-\d\d-\d\d)"', page)
    assert dates and all("2026-01-01" <= day <= "2026-06-30" for day in dates)
    assert "Date: 2026-01-01 – 2026-06-30" in page
    assert 'name="since" type="date" value="2026-01-01"' in page
    # An empty date field (the form sends since=) is no bound, not an error.
    blank = client.get("/", params={"q": "pool", "since": "", "until": ""})
    assert blank.status_code == 200
    assert client.get("/api/search", params={"q": "pool", "since": ""}).status_code == 200


def test_results_can_be_sorted_newest_first(client: TestClient) -> None:
    best = client.get("/api/search", params={"q": "pool exhaustion", "limit": 20}).json()
    newest = client.get(
        "/api/search", params={"q": "pool exhaustion", "limit": 20, "sort": "date"}
    ).json()
    dates = [hit["date"] for hit in newest["results"]]
    assert dates == sorted(dates, reverse=True)
    assert {hit["id"] for hit in newest["results"]} <= {
        hit["id"]
        for hit in client.get("/api/search", params={"q": "pool exhaustion", "limit": 100}).json()[
            "results"
        ]
    }
    assert [hit["date"] for hit in best["results"]] != dates  # relevance is another order
    page = client.get("/", params={"q": "pool exhaustion", "sort": "date"}).text
    assert "newest first</strong>" in page and 'name="sort" value="date"' in page
    assert client.get("/api/search", params={"q": "x", "sort": "oldest"}).status_code == 422


def test_the_page_says_when_semantic_search_is_not_there(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data = tmp_path_factory.mktemp("no-model")
    settings = Settings(library=SAMPLE_LIBRARY, data_dir=data, embedding_model="none")
    with TestClient(create_app(settings)) as client:
        page = client.get("/", params={"q": "pool", "mode": "hybrid"}).text
        assert 'id="mode-hybrid" value="hybrid" checked' in page
        assert "these are <strong>full-text</strong> results" in page


def test_the_results_come_before_the_filters_in_the_document(client: TestClient) -> None:
    page = client.get("/", params={"q": "pool"}).text
    assert page.index('class="hit-title"') < page.index('class="facets"')
    assert 'href="#hits"' in page and 'id="hits"' in page
