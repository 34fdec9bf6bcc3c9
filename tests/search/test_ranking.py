"""Ranking settings: feedback, the eval harnesses."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import eval_related, eval_search
from indexer.filters import Filters
from indexer.format import taxonomy
from indexer.format.postmortem import Postmortem, parse
from indexer.search import Searcher, SearchIndex, _query, _schema
from indexer.search._fulltext import Feedback
from indexer.search._hybrid import DEFAULT_TUNING, Tuning, fuse, matched
from tests.conftest import postmortem_text
from tests.search.test_hybrid import served

EMPTY = taxonomy.parse("schema: 1\n", Path("taxonomy.yaml"))
ROOT = Path(__file__).resolve().parents[2]


def _postmortems() -> list[Postmortem]:
    texts = {
        "lead": "PgBouncer pool saturated. Orders timed out; PgBouncer queue grew; "
        "the PgBouncer pool had no free server slots.",
        "echo": "PgBouncer pool saturated again on the catalog cluster; PgBouncer "
        "server slots were all taken.",
        "cousin": "Catalog requests queued behind the PgBouncer pool; server slots ran dry "
        "and PgBouncer refused clients.",
        "hidden": "PgBouncer server slots ran dry, PgBouncer refused clients.",
        "swimming": "The pool pump failed; the pool was closed and the pool heater was off.",
        "relative": "PgBouncer server slots ran dry; PgBouncer refused clients all night.",
        "far": "The certificate expired on the identity provider overnight.",
    }
    topics = ("a DNS record", "a disk", "a leap second", "a bad deploy", "a BGP route", "cron")
    texts.update({f"filler{n}": f"An outage caused by {topic}." for n, topic in enumerate(topics)})
    made = []
    for identifier, text in texts.items():
        extra = {"visibility": "restricted", "audience": ["sec"]} if identifier == "hidden" else {}
        made.append(
            parse(
                postmortem_text(id=identifier, title=identifier, summary=text, **extra),
                f"{identifier}.md",
            )
        )
    return made


def _index(postmortems: list[Postmortem] | None = None) -> SearchIndex:
    index = SearchIndex(None)
    with index.batch() as batch:
        for one in postmortems or _postmortems():
            batch.upsert(one)
    return index


def test_feedback_words_reorder_what_the_query_matches_and_never_add() -> None:
    index = _index()
    parsed = _query.parse("pool saturated")
    plain = [i for i, _ in index.rank(parsed, Filters(), frozenset(), 10)]
    # "swimming" says "pool" most often; "cousin" says it once, in the top hits' words.
    assert plain.index("swimming") < plain.index("cousin")
    reordered = [
        i for i, _ in index.rank(parsed, Filters(), frozenset(), 10, feedback=Feedback(10, 0.3))
    ]
    assert reordered.index("cousin") < reordered.index("swimming")
    assert set(reordered) == set(plain)  # the same matches: feedback adds none
    assert "relative" not in reordered  # the top hits' words, but none of the query's
    assert "hidden" not in reordered  # restricted: visibility holds for feedback too
    excluded = _query.parse("pool saturated -catalog")
    assert "cousin" not in [
        i for i, _ in index.rank(excluded, Filters(), frozenset(), 10, feedback=Feedback(10, 0.3))
    ]


@pytest.fixture
def searcher(tmp_path: Path) -> Iterator[Searcher]:
    """The served search over `_postmortems`, with the test embedder ready."""
    with served(tmp_path, _postmortems(), EMPTY) as made:
        yield made


def test_full_text_mode_ranks_by_the_words_alone_and_hybrid_adds_feedback(
    searcher: Searcher,
) -> None:
    # Feedback and proximity earned their place beside the semantic ranking
    # only (docs/search.md): full-text mode is BM25 over the query's words.
    fulltext = [hit.id for hit in searcher.search("pool saturated", mode="fulltext").results]
    assert fulltext.index("swimming") < fulltext.index("cousin")  # "pool" three times
    parsed = _query.parse("pool saturated")
    words_alone = searcher.index.rank(parsed, Filters(), frozenset(), 10, proximity=False)
    assert fulltext == [identifier for identifier, _ in words_alone]
    # Hybrid fuses the semantic ranking with full-text's as feedback reorders
    # it: words its top hits agree on ("PgBouncer", "server slots") lift "cousin".
    with_feedback = searcher.index.rank(
        parsed, Filters(), frozenset(), 100, feedback=DEFAULT_TUNING.feedback
    )
    assert [i for i, _ in with_feedback].index("cousin") < fulltext.index("cousin")
    expand = searcher.expansion(parsed.text)
    _, matches = searcher.ranking(
        parsed, parsed.text, Filters(), "semantic", frozenset(), 100, expand
    )
    fused = matched(fuse(with_feedback, matches), with_feedback, matches)
    hybrid = [hit.id for hit in searcher.search("pool saturated", mode="hybrid").results]
    assert hybrid == [identifier for identifier, _ in fused][: len(hybrid)]
    assert "hidden" not in hybrid and "hidden" not in fulltext


def test_feedback_reorders_a_search_without_changing_its_count() -> None:
    index = _index()
    assert DEFAULT_TUNING.feedback_terms > 0  # shipped on in hybrid mode: docs/search.md
    plain = index.search("pool saturated")
    results = index.search("pool saturated", feedback=DEFAULT_TUNING.feedback)
    before = [hit.id for hit in plain.results]
    after = [hit.id for hit in results.results]
    assert before.index("swimming") < before.index("cousin")
    assert after.index("cousin") < after.index("swimming")
    # Only reordered: the count, and so the facets, are the query's own.
    assert sorted(after) == sorted(before) and results.total == plain.total
    assert "far" not in after and "hidden" not in after and "relative" not in after


def test_feedback_reads_word_counts_stored_at_indexing_as_the_analyser_counts_them() -> None:
    text = "Café DB-01 ran out of connections; db-01 ran OUT again at 09:30, 5xx x2 ß."
    words = _schema.analyze(text)
    counts, total = _schema.terms_of(_schema.body_fields(text)["terms"])
    assert counts == Counter(words) and total == len(words)
    assert counts["db"] == 2 and "01" in counts and "cafe" in counts  # short words and digits too
    assert _schema.terms_of(_schema.body_fields("")["terms"]) == ({}, 0)


def test_cross_validation_scores_each_fold_with_settings_chosen_on_the_others() -> None:
    queries = [{"qid": f"q{n}", "kind": "keyword"} for n in range(10)]
    folds = [n % 5 for n in range(10)]
    # Setting 0 is best on fold 0 only, setting 1 everywhere else.
    grid = [[1.0 if f == 0 else 0.0 for f in folds], [0.5 if f == 0 else 0.6 for f in folds]]
    table, chosen = eval_search.cross_validated(grid, queries, folds)
    assert chosen == [1, 1, 1, 1, 1]  # fold 0's own scores never choose for fold 0
    assert round(table["overall"], 3) == round((0.5 * 2 + 0.6 * 8) / 10, 3)


def test_the_harness_prints_aggregates_only(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    documents = [
        {
            "id": f"d{n}",
            "title": f"Outage {n}",
            "date": "2024-01-0" + str(n + 1),
            "categories": [],
            "company": "Acme",
            "url": None,
            "text": f"The disk filled on host {n}. Writes failed until space was freed.",
        }
        for n in range(5)
    ]
    corpus.write_text("\n".join(json.dumps(d) for d in documents))
    queries = tmp_path / "queries.jsonl"
    kinds = ("keyword", "paraphrase", "question")
    queries.write_text(
        "\n".join(
            json.dumps(
                {
                    "qid": f"secretqid{n}",
                    "query": f"zebraword{n} disk",
                    "kind": kinds[n % 3],
                    "relevant": {f"d{n % 5}": 2},
                }
            )
            for n in range(10)
        )
    )
    done = subprocess.run(
        [
            sys.executable,
            "benchmarks/eval_search.py",
            "--corpus",
            str(corpus),
            "--queries",
            str(queries),
            "--cache",
            str(tmp_path / "cache"),
            "--model",
            "hash",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "cross-validated" in done.stdout and "| hybrid |" in done.stdout
    assert "secretqid" not in done.stdout + done.stderr
    assert "zebraword" not in done.stdout + done.stderr


def test_the_paired_interval_is_above_zero_only_for_a_gain_most_queries_share() -> None:
    queries = [{"qid": f"q{n}", "kind": ("keyword", "question")[n % 2]} for n in range(40)]
    steady = [0.02 + 0.01 * (n % 3) for n in range(40)]
    low, high = eval_search.interval(steady, queries)
    assert 0 < low <= high
    # The same mean gain carried by two queries, the rest losing a little: not shown.
    lucky = [0.6 if n < 2 else -0.005 for n in range(40)]
    low, high = eval_search.interval(lucky, queries)
    assert low < 0 < high


def test_an_ablation_chooses_only_among_the_settings_with_the_component_off() -> None:
    folds = [n % 5 for n in range(10)]
    candidates = [{"feedback_terms": 10}, {"feedback_terms": 0}, {"feedback_terms": 0}]
    grid = [[0.9] * 10, [0.1] * 10, [0.3] * 10]
    allowed = eval_search._where(candidates, "feedback_terms", 0)
    scores, chosen = eval_search.held_out(grid, folds, allowed)
    assert chosen == [2] * 5 and scores == [0.3] * 10


def test_the_plain_references_rank_by_bm25_and_fuse_by_equal_reciprocal_ranks() -> None:
    plain = eval_search.PlainBM25(
        [
            {"id": "pool", "title": "Pool exhausted", "text": "The connection pool ran dry."},
            {"id": "disk", "title": "Disk full", "text": "The disk filled; the pool was fine."},
            {"id": "dns", "title": "DNS outage", "text": "Resolvers failed."},
        ]
    )
    assert plain.rank("connection pool")[:2] == ["pool", "disk"]
    assert plain.rank("the of") == []  # stop words only
    assert eval_search.naive_rrf(["a", "b"], ["b", "c"]) == ["b", "a", "c"]


def test_a_related_ablation_pairs_each_held_out_postmortem_under_both_arms() -> None:
    # Two settings, one with words and one without; fold n's pairs ask about "a{n}".
    configs = ["candidates=50, lexical_weight=1.5", "candidates=50, lexical_weight=0.0"]
    fold_pairs = [{(f"a{n}", f"b{n}")} for n in range(eval_related.FOLDS)]
    right = {f"a{n}": [f"b{n}"] for n in range(eval_related.FOLDS)}
    wrong = {f"a{n}": ["x"] for n in range(eval_related.FOLDS)}
    lists = {configs[0]: {"all": right}, configs[1]: {"all": wrong}}
    with_it = eval_related._having(configs, "lexical_weight", (0.5, 1.5))
    without = eval_related._having(configs, "lexical_weight", (0.0,))
    assert with_it == configs[:1] and without == configs[1:]
    on = eval_related.held_out_items(with_it, lists, fold_pairs)
    off = eval_related.held_out_items(without, lists, fold_pairs)
    assert on == [1 / eval_related.K] * eval_related.FOLDS and off == [0.0] * eval_related.FOLDS
    low, high = eval_related.interval([a - b for a, b in zip(on, off, strict=True)])
    assert 0 < low <= high
    assert eval_related.interval([0.2, -0.2] * 10)[0] < 0


def test_semantic_mode_lists_what_it_counts_before_the_weak_matches(searcher: Searcher) -> None:
    # "swimming" is nearer in meaning than "echo" and "cousin", but holds one
    # of the three words and is not close enough to count: listed after them.
    query = "pgbouncer pool certificate"
    meaning_alone = dataclasses.replace(searcher, tuning=Tuning(counted_first=False))
    before = [hit.id for hit in meaning_alone.search(query, mode="semantic").results]
    assert before.index("swimming") < before.index("echo")
    found = searcher.search(query, mode="semantic")
    labels = [hit.strength for hit in found.results]
    assert labels[: found.total] == [label for label in labels if label != "weak"]
    assert "weak" not in labels[: found.total] and labels[found.total :] == ["weak"] * (
        len(labels) - found.total
    )
    ids = [hit.id for hit in found.results]
    assert ids.index("echo") < ids.index("swimming") and ids.index("cousin") < ids.index("swimming")
    assert sorted(ids) == sorted(before)  # only the order changes
