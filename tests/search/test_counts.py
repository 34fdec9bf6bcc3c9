"""A count means "this many match": the total and the facets cover the strong and
partial matches only; weak ones may follow on the page, labelled, but are not counted."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from indexer.config import Settings
from indexer.filters import Filters
from indexer.library import Library
from indexer.search import Results

QUERIES = [
    "connection pool exhaustion",
    "certificate expired",
    "the database ran out of connections",
    "why did checkout fail after the deploy",
    "etcd quorum lost",
    "disk full",
]
MODES = ["fulltext", "hybrid", "semantic"]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.conftest import SAMPLE_LIBRARY

    data = tmp_path_factory.mktemp("counts")
    settings = Settings(
        library=SAMPLE_LIBRARY,
        data_dir=data,
        database_url=f"sqlite:///{data / 'pml.sqlite3'}",
        embedding_model="hash",
    )
    library = Library.open(settings)
    library.refresh()
    library.semantic.sync()
    assert library.semantic.ready, library.semantic.status()
    yield library
    library.close()


def _everything(library: Library, query: str, mode: str, **filters: list[str]) -> Results:
    # 100 results hold every candidate of the 44-postmortem sample library.
    return library.searcher.search(query, Filters(filters), mode=mode, limit=100, as_typed=True)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("query", QUERIES)
def test_total_counts_exactly_the_strong_and_partial_results(
    sample: Library, query: str, mode: str
) -> None:
    found = _everything(sample, query, mode)
    counted = [hit for hit in found.results if hit.strength != "weak"]
    assert found.total == len(counted), [(h.id, h.strength) for h in found.results]
    classes = Counter(c for hit in counted for c in hit.error_classes)
    assert found.facets["error_class"] == dict(classes)
    services = Counter(s for hit in counted for s in hit.services)
    assert found.facets["service"] == dict(services)


@pytest.mark.parametrize("mode", MODES)
def test_a_query_the_library_knows_nothing_about_counts_zero(sample: Library, mode: str) -> None:
    found = sample.searcher.search("etcd quorum lost", mode=mode, as_typed=True)
    assert found.total == 0
    assert all(hit.strength == "weak" for hit in found.results)
    assert all(not counts for counts in found.facets.values())


def test_weak_matches_are_still_listed_after_the_count(sample: Library) -> None:
    # "disk" alone is in some postmortems: they are weak for a three-word query.
    found = _everything(sample, "disk quorum etcd", "fulltext")
    assert found.results, "the weak matches are still listed"
    assert found.total == len([h for h in found.results if h.strength != "weak"])


def test_filters_narrow_the_count_and_facets(sample: Library) -> None:
    everything = _everything(sample, "connection pool exhaustion", "fulltext")
    orders = _everything(sample, "connection pool exhaustion", "fulltext", service=["orders"])
    assert 0 < orders.total < everything.total
    assert set(orders.facets["service"]) >= {"orders"}
    assert orders.facets["service"]["orders"] == orders.total


MANY = 1_100


def test_many_matches_are_all_counted(tmp_path: Any, library_dir: Any) -> None:
    """Hundreds of matches are all counted, each by how many of the words it holds."""
    from tests.conftest import postmortem_text, write

    for n in range(MANY):
        day = f"2025-{1 + n % 12:02d}-{1 + n % 28:02d}"
        text = postmortem_text(
            id=f"pm-{n}", date=day, summary=f"Replica lag number {n}" + (" pool" if n % 2 else "")
        )
        write(library_dir, f"pm-{n}.md", text)
    settings = Settings(
        library=library_dir,
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'pml.sqlite3'}",
        embedding_model="none",
    )
    with Library.open(settings) as library:
        library.refresh()
        # "replica lag pool": every file holds two of the three words (partial).
        found = library.index.search("replica lag pool", limit=1)
        assert found.total == MANY
        assert found.facets["service"] == {"orders": MANY}
        # "replica lag pool etcd": half of them hold two of four words (partial), half three.
        assert library.index.search("replica pool etcd quorum", limit=1).total == ((MANY) // 2)
