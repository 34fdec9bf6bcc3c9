"""Match strength: every result says how well it matches, and the page says when nothing does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from indexer.config import Settings
from indexer.search import _strength


@pytest.fixture
def client(sample_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(sample_settings)) as test_client:
        yield test_client


def _hits(client: TestClient, q: str, mode: str) -> list[dict[str, Any]]:
    response = client.get("/api/search", params={"q": q, "mode": mode})
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["results"]
    return hits


@pytest.mark.parametrize("mode", ["fulltext", "hybrid"])
def test_a_query_the_library_knows_nothing_about_is_weak_everywhere(
    client: TestClient, mode: str
) -> None:
    hits = _hits(client, "etcd quorum lost", mode)
    assert hits  # "lost" alone still finds postmortems ...
    assert {hit["strength"] for hit in hits} == {"weak"}  # ... none of them confidently
    page = client.get("/", params={"q": "etcd quorum lost", "mode": mode}).text
    assert "Nothing matches “etcd quorum lost” well" in page


@pytest.mark.parametrize("mode", ["fulltext", "hybrid"])
def test_a_query_the_library_answers_has_strong_results(client: TestClient, mode: str) -> None:
    hits = _hits(client, "connection pool exhaustion", mode)
    assert hits[0]["strength"] == "strong" and hits[0]["coverage"] == 1.0
    assert "pgbouncer-pool-exhaustion" in " ".join(
        h["id"] for h in hits if h["strength"] == "strong"
    )
    page = client.get("/", params={"q": "connection pool exhaustion", "mode": mode}).text
    assert "Nothing matches" not in page
    assert "strong match" in page


def test_the_grades_follow_the_calibrated_thresholds() -> None:
    assert _strength.grade(1.0, None) == "strong"  # every word of the query
    assert _strength.grade(0.2, _strength.STRONG_SIMILARITY) == "strong"  # close in meaning
    assert _strength.grade(0.5, None) == "partial"
    assert _strength.grade(0.0, _strength.PARTIAL_SIMILARITY) == "partial"
    assert _strength.grade(0.34, 0.30) == "weak"
