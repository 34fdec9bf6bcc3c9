"""The real public corpus (../shared/corpus), written out as a library and indexed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.corpus import write_library
from benchmarks.relevance import load_queries, score
from indexer.config import Settings
from tests.conftest import SHARED

CORPUS = SHARED / "corpus" / "public-postmortems.jsonl"
QUERIES = SHARED / "eval" / "queries-dev.jsonl"

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not CORPUS.is_file(), reason="../shared/corpus is not here"),
]


@pytest.fixture(scope="module")
def corpus_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus") / "library"
    write_library(CORPUS, folder)
    return folder


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_whole_corpus_indexes(
    corpus_library: Path, tmp_path: Path, database_url: str, open_library: Any
) -> None:
    settings = Settings(
        library=corpus_library, data_dir=tmp_path / "data", database_url=database_url
    )
    library = open_library(settings)
    report = library.refresh()
    assert report.problems == []
    assert report.added == 230
    hits = library.index.search("BGP route leak", limit=3).results
    assert hits and "BGP" in hits[0].snippet.replace("<b>", "").replace("</b>", "")


@pytest.mark.skipif(not QUERIES.is_file(), reason="../shared/eval is not here")
def test_fulltext_ranking_matches_plain_bm25(
    corpus_library: Path, tmp_path: Path, open_library: Any
) -> None:
    library = open_library(Settings(library=corpus_library, data_dir=tmp_path / "data"))
    library.refresh()
    queries = load_queries(QUERIES)
    runs = {
        q["qid"]: [h.id for h in library.index.search(q["query"], limit=10).results]
        for q in queries
    }
    scores = score(runs, queries)
    # Plain BM25 over title+text scores 0.498 overall and 0.795 on keyword queries.
    assert scores["overall"]["ndcg@10"] >= 0.47
    assert scores["keyword"]["ndcg@10"] >= 0.72
