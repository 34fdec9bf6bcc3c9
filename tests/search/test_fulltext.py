"""Full-text search on an in-memory tantivy index: ranking, query syntax, filters, facets."""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

import pytest

from indexer.filters import COUNTED, FIELDS, FilterError, Filters
from indexer.format import taxonomy
from indexer.format.postmortem import Postmortem, parse
from indexer.search import MAX_QUERY_LENGTH, Results, SearchIndex, SearchQueryError
from tests.conftest import SAMPLE_LIBRARY, postmortem_text
from tests.filter_samples import NAMES, pair, sample

SECRET = {"visibility": "restricted", "audience": ["sec"]}


def postmortem(identifier: str, **fields: Any) -> Postmortem:
    return parse(postmortem_text(id=identifier, **fields), f"{identifier}.md")


@cache
def vocabulary() -> taxonomy.Taxonomy:
    return taxonomy.load(SAMPLE_LIBRARY)


def build(*postmortems: Postmortem) -> SearchIndex:
    index = SearchIndex(None)
    with index.batch() as batch:
        for one in postmortems:
            batch.upsert(one)
    return index


def ids(results: Results) -> list[str]:
    return [hit.id for hit in results.results]


@pytest.fixture(scope="module")
def pair_index() -> SearchIndex:
    a, b = pair()
    return build(postmortem("a", **a), postmortem("b", **b))


def test_a_match_in_title_and_body_ranks_first() -> None:
    index = build(
        postmortem(
            "mentioned",
            title="Checkout was slow",
            summary="We looked at the database, the cache, the load balancer and kafka.",
        ),
        postmortem(
            "about",
            title="Kafka consumers fell behind",
            summary="The Kafka consumer group lagged for an hour.",
        ),
        postmortem("unrelated", title="Certificate expired", summary="Logins failed."),
    )
    results = index.search("kafka")
    assert ids(results) == ["about", "mentioned"]
    assert results.total == 2
    assert results.results[0].score > results.results[1].score > 0


def test_a_word_in_the_title_counts_as_a_word_of_the_text_and_no_more() -> None:
    # The title is the body's first line; a bonus on top of that over-rewarded
    # short titles that merely share a word (docs/search.md, issue 26).
    index = build(
        postmortem("titled", title="Kafka consumers fell behind", summary="The group lagged."),
        postmortem("told", title="Consumers fell behind", summary="The Kafka group lagged."),
    )
    scores = dict(index.rank("kafka", Filters(), frozenset(), 10))
    assert set(scores) == {"titled", "told"}
    assert scores["titled"] == pytest.approx(scores["told"])


def test_an_excluded_word_excludes() -> None:
    index = build(
        postmortem("bouncer", summary="PgBouncer ran out of server connections."),
        postmortem("replicas", summary="The replicas refused new connections."),
        postmortem("disk", summary="The disk filled up."),
    )
    assert sorted(ids(index.search("connections"))) == ["bouncer", "replicas"]
    assert ids(index.search("connections -pgbouncer")) == ["replicas"]
    excluded = index.search("-pgbouncer")  # nothing but an exclusion: everything else
    assert sorted(ids(excluded)) == ["disk", "replicas"]
    assert excluded.total == 2


def test_query_words_that_stand_together_rank_first_across_stop_words() -> None:
    apart = "Memory use was fine and memory graphs stayed flat. The queue ran out of disk."
    together = "The worker ran out of memory and restarted."
    index = build(
        postmortem("apart", title="Node restart", summary=apart),
        postmortem("together", title="Worker restart", summary=together),
    )
    # Proximity reads indexed word pairs: stop words are gone on both sides, so
    # "out of memory" asks for the pair out-memory, which only one text holds.
    results = index.search("out of memory")
    assert ids(results) == ["together", "apart"]
    assert results.total == 2  # it reorders; it does not change what matches


def test_a_quoted_phrase_matches_only_the_words_together() -> None:
    index = build(
        postmortem("together", summary="The queue depth alarm fired late."),
        postmortem("apart", summary="The depth of the retry queue grew all night."),
    )
    assert sorted(ids(index.search("queue depth"))) == ["apart", "together"]
    assert ids(index.search('"queue depth"')) == ["together"]
    assert ids(index.search('-"queue depth" queue')) == ["apart"]


@pytest.mark.parametrize("name", NAMES)
def test_every_filter_field_narrows_the_results(pair_index: SearchIndex, name: str) -> None:
    _, _, picks_a, picks_b = sample(name)
    for text in ("", "errors"):  # listing, and a query both match
        assert sorted(ids(pair_index.search(text))) == ["a", "b"]
        only_a = pair_index.search(text, Filters({name: [picks_a]}))
        assert (ids(only_a), only_a.total) == (["a"], 1), text
        assert ids(pair_index.search(text, Filters({name: [picks_b]}))) == ["b"], text
        either = pair_index.search(text, Filters({name: [picks_a, picks_b]}))
        assert sorted(ids(either)) == ["a", "b"], text  # values of one field are OR-ed
        assert ids(pair_index.search(text, Filters({name: ["no-such-value"]}))) == [], text


def test_filter_fields_are_and_ed(pair_index: SearchIndex) -> None:
    assert ids(pair_index.search("", Filters({"service": ["orders"], "year": ["2024"]}))) == ["a"]
    assert ids(pair_index.search("", Filters({"service": ["orders"], "year": ["2025"]}))) == []


def test_since_and_until_bound_the_incident_date_inclusively() -> None:
    index = build(
        postmortem("jan", date="2025-01-10"),
        postmortem("feb", date="2025-02-10"),
        postmortem("mar", date="2025-03-10"),
    )
    february = date(2025, 2, 10)
    assert ids(index.search("", Filters(since=february))) == ["mar", "feb"]
    assert ids(index.search("", Filters(until=february))) == ["feb", "jan"]
    assert ids(index.search("errors", Filters(since=february, until=february))) == ["feb"]
    with pytest.raises(FilterError, match="after"):
        Filters(since=date(2025, 3, 1), until=february)


@pytest.mark.parametrize("name", COUNTED)
def test_counted_fields_have_facet_counts(name: str) -> None:
    a, b = pair()
    index = build(postmortem("a", **a), postmortem("a2", **a), postmortem("b", **b))
    _, _, picks_a, picks_b = sample(name)
    results = index.search("")
    assert results.facets[name] == {picks_a: 2, picks_b: 1}
    # Facets count what the filters leave.
    assert index.search("", Filters({name: [picks_b]})).facets[name] == {picks_b: 1}


def test_facets_are_exactly_the_counted_fields(pair_index: SearchIndex) -> None:
    assert set(pair_index.search("errors").facets) == set(COUNTED)
    assert set(COUNTED) <= {field.name for field in FIELDS}


def test_restricted_postmortems_show_only_to_their_audience() -> None:
    index = build(
        postmortem("open", services=["orders"]),
        postmortem("secret", services=["orders", "identity"], **SECRET),
    )
    for text in ("", "errors"):
        for groups in (frozenset(), frozenset({"other"})):
            hidden = index.search(text, groups=groups)
            assert ids(hidden) == ["open"], (text, groups)
            assert hidden.total == 1
            assert hidden.facets["service"] == {"orders": 1}
        shown = index.search(text, groups=frozenset({"sec", "other"}))
        assert sorted(ids(shown)) == ["open", "secret"], text
        assert shown.total == 2
        assert shown.facets["service"] == {"orders": 2, "identity": 1}


def test_an_empty_query_lists_newest_first_page_by_page() -> None:
    index = build(
        postmortem("middle", date="2024-06-01"),
        postmortem("newest", date="2025-11-30"),
        postmortem("oldest", date="2023-01-15"),
    )
    everything = index.search("")
    assert ids(everything) == ["newest", "middle", "oldest"]
    assert everything.total == 3
    assert [hit.date for hit in everything.results] == ["2025-11-30", "2024-06-01", "2023-01-15"]
    page = index.search("", limit=2, offset=1)
    assert (ids(page), page.total) == (["middle", "oldest"], 3)


def test_the_snippet_highlights_the_query_words_and_escapes_the_text() -> None:
    index = build(
        postmortem("bouncer", summary="The <b>PgBouncer</b> pool had no free server connections.")
    )
    snippet = index.search("pgbouncer connection").results[0].snippet
    assert "<b>PgBouncer</b>" in snippet
    assert "<b>connections</b>" in snippet  # the stem matched, the word as written is shown
    assert "&lt;b&gt;" in snippet  # the author's markup is text, not HTML


def test_an_over_long_query_is_a_clear_error() -> None:
    index = build(postmortem("one"))
    longest = ("errors " * MAX_QUERY_LENGTH)[:MAX_QUERY_LENGTH]
    assert ids(index.search(longest)) == ["one"]
    with pytest.raises(SearchQueryError, match=str(MAX_QUERY_LENGTH)):
        index.search(longest + "s")


@pytest.mark.parametrize("text", ['errors AND "unbalanced', "title:errors", "(errors) || -"])
def test_query_syntax_is_never_an_error(text: str) -> None:
    index = build(postmortem("one"))
    assert ids(index.search(text)) == ["one"]
