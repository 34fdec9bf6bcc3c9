"""`Searcher` in every mode: an in-memory index, passage vectors in SQLite, the hash embedder."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from api.cli import main
from indexer.db import store
from indexer.filters import Filters
from indexer.format import taxonomy
from indexer.format.postmortem import Postmortem, parse
from indexer.indexing import ingest
from indexer.search import (
    Searcher,
    SearchIndex,
    SearchRequest,
    SemanticIndex,
    SemanticUnavailable,
    _query,
)
from tests.conftest import SAMPLE_LIBRARY, postmortem_text
from tests.filter_samples import NAMES, pair, sample

MODES = ("fulltext", "semantic", "hybrid")
PAIR_TEXT = "The nightly export stalled because the warehouse loader held a table lock."


def postmortem(identifier: str, **fields: Any) -> Postmortem:
    return parse(postmortem_text(id=identifier, **fields), f"{identifier}.md")


def corpus() -> list[Postmortem]:
    a, b = pair()
    return [
        postmortem(
            "pool",
            title="Orders API timeouts",
            date="2023-02-11",
            services=["orders"],
            error_classes=["connection-pool-exhaustion"],
            summary="PgBouncer had no free server connections so clients queued and timed out.",
        ),
        postmortem(
            "pool-again",
            title="Catalog replicas refused sessions",
            date="2023-07-22",
            services=["catalog"],
            error_classes=["connection-pool-exhaustion"],
            summary="The replicas hit max_connections; new sessions were refused under load.",
        ),
        postmortem(
            "cert",
            title="Login failures",
            date="2023-06-01",
            services=["identity"],
            error_classes=["certificate-expiry"],
            summary="The certificate on the identity provider expired overnight.",
        ),
        postmortem(
            "secret",
            title="Leaked key",
            date="2023-01-05",
            visibility="restricted",
            audience=["sec"],
            services=["orders"],
            summary="PgBouncer had no free server connections so clients queued and timed out.",
        ),
        # Twins in text that differ in every filter field (tests/filter_samples.py).
        postmortem("a", title="Warehouse export stalled", summary=PAIR_TEXT, **a),
        postmortem("b", title="Warehouse export stalled", summary=PAIR_TEXT, **b),
    ]


@contextmanager
def served(
    folder: Path, postmortems: list[Postmortem], vocabulary: taxonomy.Taxonomy
) -> Iterator[Searcher]:
    """The served search over `postmortems`, in memory and in `folder`, with the
    test embedder ready."""
    engine = store.make_engine(f"sqlite:///{folder / 'pml.sqlite3'}")
    index = SearchIndex(None)
    with index.batch() as batch:
        for one in postmortems:
            batch.upsert(one)
    with store.session(engine) as db:
        store.write_postmortems(db, postmortems, ingest.passage_rows(postmortems))
        db.commit()
    semantic = SemanticIndex(engine, "hash")
    assert semantic.sync() > 0 and semantic.ready, semantic.status()
    with ThreadPoolExecutor(2) as helpers:
        yield Searcher(index, semantic, vocabulary, helpers=helpers)
    engine.dispose()


@pytest.fixture(scope="module")
def searcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Searcher]:
    with served(tmp_path_factory.mktemp("hybrid"), corpus(), taxonomy.load(SAMPLE_LIBRARY)) as made:
        yield made


def ids(searcher: Searcher, text: str, mode: str, filters: Filters | None = None) -> list[str]:
    results = searcher.search(text, filters, mode=mode)
    assert results.mode == mode
    return [hit.id for hit in results.results]


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_finds_the_relevant_postmortem(searcher: Searcher, mode: str) -> None:
    found = ids(searcher, "clients queued and timed out", mode)
    assert found[0] == "pool"
    assert "secret" not in found  # restricted, and the reader has no groups
    assert ids(searcher, "identity provider certificate expired", mode)[0] == "cert"


@pytest.mark.parametrize("mode", MODES)
def test_restricted_postmortems_show_to_their_audience_in_every_mode(
    searcher: Searcher, mode: str
) -> None:
    text = "clients queued and timed out"
    shown = searcher.search(text, mode=mode, groups=frozenset({"sec"}))
    assert {"pool", "secret"} <= {hit.id for hit in shown.results}
    hidden = searcher.search(text, mode=mode, groups=frozenset({"other"}))
    assert "secret" not in {hit.id for hit in hidden.results}
    assert shown.total == hidden.total + 1


@pytest.mark.parametrize("mode", MODES)
def test_a_filter_applies_in_every_mode(searcher: Searcher, mode: str) -> None:
    catalog = searcher.search(
        "connections refused under load", Filters({"service": ["catalog"]}), mode=mode
    )
    found = [hit.id for hit in catalog.results]
    if mode == "semantic":  # ranks every postmortem the filter keeps by closeness
        assert found[0] == "pool-again"
        assert catalog.facets["service"] == {"catalog": catalog.total}
        return
    assert found == ["pool-again"]
    assert catalog.total == 1
    assert catalog.facets["service"] == {"catalog": 1}


def test_semantic_mode_lists_the_closest_postmortems_even_when_none_is_close(
    searcher: Searcher,
) -> None:
    # Cutting the list at the match floor lost relevant postmortems (docs/search.md);
    # the strength says how close each one is.
    found = searcher.search("zzz unrelated words", mode="semantic", limit=3).results
    assert len(found) == 3
    assert all(hit.strength == "weak" for hit in found)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", NAMES)
def test_every_filter_field_applies_in_every_mode(searcher: Searcher, name: str, mode: str) -> None:
    _, _, picks_a, picks_b = sample(name)
    assert {"a", "b"} <= set(ids(searcher, PAIR_TEXT, mode))
    assert only(ids(searcher, PAIR_TEXT, mode, Filters({name: [picks_a]})), "a", "b")
    assert only(ids(searcher, PAIR_TEXT, mode, Filters({name: [picks_b]})), "b", "a")


def only(found: list[str], kept: str, dropped: str) -> bool:
    """The filter kept one twin (first: the text is its own) and dropped the other."""
    return found[0] == kept and dropped not in found


@pytest.mark.parametrize("mode", MODES)
def test_dates_bound_every_mode(searcher: Searcher, mode: str) -> None:
    day = date.fromisoformat(pair()[0]["date"])  # "a"'s; "b" is a year later
    assert only(ids(searcher, PAIR_TEXT, mode, Filters(since=day, until=day)), "a", "b")
    later = Filters(since=day.replace(day=day.day + 1))
    assert only(ids(searcher, PAIR_TEXT, mode, later), "b", "a")


def test_semantic_mode_says_when_it_is_unavailable(searcher: Searcher) -> None:
    off = Searcher(
        searcher.index,
        SemanticIndex(searcher.semantic.engine, "none"),
        searcher.vocabulary,
        searcher.helpers,
    )
    with pytest.raises(SemanticUnavailable, match="switched off"):
        off.search("clients queued", mode="semantic")
    # Hybrid falls back to full-text rather than failing.
    fallback = off.search("clients queued", mode="hybrid")
    assert fallback.mode == "fulltext" and fallback.results[0].id == "pool"


def test_hits_made_while_the_semantic_side_runs_are_the_hits_made_after(
    searcher: Searcher,
) -> None:
    # Hybrid search makes full-text's page while it waits for the query's
    # embedding, then reuses those hits for the fused page: the same page
    # as making them afterwards, whatever the fused order and passages.
    parsed = _query.parse("server connections timed out overnight")
    expand = searcher.expansion(parsed.text)
    lexical = searcher.index.rank(parsed, Filters(), frozenset(), 10, expand)
    assert len(lexical) >= 3
    ready = {hit.id: hit for hit in searcher.index.hits(lexical[:2], parsed, {}, expand)}
    fused = [(identifier, 0.5 / (n + 1)) for n, (identifier, _) in enumerate(lexical[::-1])]
    passages = {lexical[0][0]: ("Summary", "A passage that says server connections ran out.")}
    made = searcher.index.hits(fused, parsed, passages, expand)
    assert searcher.index.hits(fused, parsed, passages, expand, ready) == made
    assert [hit.id for hit in made] == [identifier for identifier, _ in fused]
    assert made[-1].section == "Summary"  # a passage wins over a hit made earlier


def test_a_misspelled_fusion_setting_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It used to mean weighted fusion without a word.
    monkeypatch.setenv("PML_LIBRARY", str(tmp_path))
    monkeypatch.setenv("PML_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PML_SEARCH_FUSION", "rff")
    result = CliRunner().invoke(main, ["search", "pool"])
    assert result.exit_code == 1
    assert "PML_SEARCH_FUSION='rff': Input should be 'rrf' or 'weighted'" in result.output
    monkeypatch.setenv("PML_SEARCH_FUSION", "weighted")
    assert CliRunner().invoke(main, ["search", "pool"]).exit_code == 0


@pytest.mark.parametrize("mode", MODES)
def test_a_question_is_searched_for_what_it_is_about_not_its_framing(
    searcher: Searcher, mode: str
) -> None:
    # The framing says what kind of answer is wanted; the rankings are those of the topic.
    for framing in ("incidents where", "which postmortems describe", "what went wrong when"):
        asked = searcher.search(f"{framing} the certificate expired overnight", mode=mode)
        plain = searcher.search("the certificate expired overnight", mode=mode)
        assert [h.id for h in asked.results] == [h.id for h in plain.results]
        assert asked.results[0].id == "cert"
        assert asked.query == f"{framing} the certificate expired overnight"


def test_a_correction_keeps_the_framing_words_as_typed(searcher: Searcher) -> None:
    found = searcher.search("which postmortems describe a certificat expiring")
    assert found.did_you_mean == "which postmortems describe a certificate expiring"


@pytest.mark.parametrize("mode", MODES)
def test_one_request_sorts_by_date_in_every_mode(searcher: Searcher, mode: str) -> None:
    text = "connections refused under load clients queued timed out"
    best = searcher.run(SearchRequest(text, mode=mode, limit=100))
    newest = searcher.run(SearchRequest(text, mode=mode, sort="date", limit=3))
    # The same postmortems as the relevance ranking finds, newest first, paged.
    by_date = sorted(best.results, key=lambda hit: (hit.date, hit.id), reverse=True)
    assert [h.id for h in newest.results] == [h.id for h in by_date[:3]]
    second = searcher.run(SearchRequest(text, mode=mode, sort="date", limit=3, offset=3))
    assert [h.id for h in second.results] == [h.id for h in by_date[3:6]]


def test_a_request_with_an_unknown_mode_or_sort_names_it() -> None:
    with pytest.raises(_query.SearchQueryError, match="sort must be one of relevance, date"):
        SearchRequest("pool", sort="oldest")
    with pytest.raises(_query.SearchQueryError, match="mode must be one of"):
        SearchRequest("pool", mode="fuzzy")
