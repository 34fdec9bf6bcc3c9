"""Relevance harness: nDCG@10 per search mode and query kind, all-dev and cross-validated.

    python benchmarks/eval_search.py [--corpus FILE] [--queries FILE ...] [--cache DIR]

Writes the corpus out as a library, indexes it once per way of cutting
passages (embeddings with PML_EMBEDDING_MODEL, default the packaged
all-MiniLM-L6-v2, cached in --cache across runs), and prints:

1. the all-dev table: the shipped settings (`Tuning()`), every query, every
   mode, scored end to end through `Searcher.search`;
2. reference rows, fixed settings: the issue's plain MiniLM (one passage
   per paragraph, "Title. paragraph", best passage, no floor: the "plain"
   cut of _passages.py) and a naive RRF (k=60, equal votes) of it with our
   full-text;
3. the typo and match-strength tables;
4. the cross-validated table: for each mode, the judged queries are split
   into 5 folds (stratified by kind); the settings with the best mean
   nDCG@10 on four folds are scored on the fifth, and the held-out scores
   of all five folds are averaged;
5. ablations for semantic and hybrid mode under the same cross-validation:
   each knob fixed to each value while the others are still chosen on the
   training folds;
6. the settings each fold chose, and the settings best on all queries.

Hybrid rankings without feedback are fused from memoised full-text rankings
and semantic matches (the steps of `Searcher.ranking`, each done once per
query), so the grid costs seconds.

The judged queries are a black box: this prints aggregates only, never a
query, its text or a per-query figure. Defaults read ../shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import statistics
import sys
import time
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import write_library
from benchmarks.relevance import add_eval_arguments, load_queries, ndcg_at
from indexer.config import Settings
from indexer.filters import Filters
from indexer.library import Library
from indexer.search import _hybrid, _passages, _query, _schema
from indexer.search._hybrid import Tuning
from indexer.search._vectors import Match

MODES = ("fulltext", "semantic", "hybrid")
KINDS = ("overall", "keyword", "paraphrase", "question")
FOLDS = 5
GRANULARITIES = ("sections", "paragraphs")  # the shipped one first
REFERENCE = "plain"  # the plain passage cut, indexed for the reference rows
DEPTH = 10
EVERYONE: frozenset[str] = frozenset()

# The settings tried. Each knob is general (docs/search.md says what it does);
# none names a query.
GRID: dict[str, dict[str, tuple[Any, ...]]] = {
    "fulltext": {
        "general_vocabulary": (True, False),
        "feedback_terms": (0, 10, 20),
        "title_boost": (0.25, 0.5, 1.0),
    },
    "semantic": {
        "granularity": GRANULARITIES,
        "document_mix": (0.0, 0.3),
        "semantic_feedback": (0.0, 0.5, 1.0),
    },
    "hybrid": {
        "general_vocabulary": (True, False),
        "feedback_terms": (0, 10),
        "title_boost": (0.25, 0.5, 1.0),
        "granularity": GRANULARITIES,
        "rrf_k": (10, 20),
        "semantic_vote": (0.6, 0.8, 1.0),
        "semantic_vote_long": (0.8, 1.0, 1.3),
    },
}
# Not `Tuning` fields: how the corpus is cut, how hybrid fuses, and the
# full-text title field's boost (_schema.FIELD_BOOSTS; the body repeats the title).
SEARCHER_KNOBS = ("granularity", "fusion", "title_boost")
SHIPPED_BOOSTS = dict(_schema.FIELD_BOOSTS)

# Reference rows, fixed settings: the plain MiniLM (one passage per
# paragraph, "Title. paragraph", document = its best passage, no floor) and a
# naive fusion of it with our full-text (RRF, k=60, equal votes).
PLAIN = {"granularity": REFERENCE, "semantic_floor": 0.0}
REFERENCES = (
    ("semantic", "plain MiniLM, passage per paragraph (reference)", PLAIN),
    (
        "hybrid",
        "RRF k=60 equal: full-text + plain MiniLM (reference)",
        {
            **PLAIN,
            "fusion": "rrf",
            "rrf_k": 60,
            "semantic_vote": 1.0,
            "semantic_vote_long": 1.0,
        },
    ),
)

Query = dict[str, Any]
Config = dict[str, Any]


def folds_of(queries: list[Query]) -> list[int]:
    """A fold per query: by kind, in an order set by a hash of the query id."""
    fold: dict[str, int] = {}
    for kind in sorted({q["kind"] for q in queries}):
        members = sorted(
            (q["qid"] for q in queries if q["kind"] == kind),
            key=lambda qid: hashlib.sha256(qid.encode()).hexdigest(),
        )
        fold.update({qid: n % FOLDS for n, qid in enumerate(members)})
    return [fold[q["qid"]] for q in queries]


class Rankers:
    """The rankings of one corpus, with the parts that do not depend on fusion memoised."""

    def __init__(self, libraries: dict[str, Library]) -> None:
        self.libraries = libraries

    def searcher(self, config: Config) -> _hybrid.Searcher:
        library = self.libraries[config.get("granularity", _passages.GRANULARITY)]
        tuning = Tuning(**{k: v for k, v in config.items() if k not in SEARCHER_KNOBS})
        fusion = config.get("fusion", library.searcher.fusion)
        return dataclasses.replace(library.searcher, tuning=tuning, fusion=fusion)

    @cache  # noqa: B019 - one Rankers per run
    def lexical(
        self, text: str, general: bool, terms: int, weight: float, title: float
    ) -> list[tuple[str, float]]:
        config = {"general_vocabulary": general, "feedback_terms": terms, "feedback_weight": weight}
        searcher = self.searcher(config)
        self.boost_title(title)
        expand = searcher.expansion(text)
        return searcher.index.rank(
            _query.parse(text), Filters(), EVERYONE, 100, expand, feedback=searcher.tuning.feedback
        )

    def boost_title(self, title: float) -> None:
        """Full-text queries parsed from now on boost the title field by `title`."""
        boosts = {**SHIPPED_BOOSTS, "title": title}
        if boosts != _schema.FIELD_BOOSTS:
            _schema.FIELD_BOOSTS = boosts
            for library in self.libraries.values():
                library.searcher.index._queries.clear()  # parsed with the old boosts

    @cache  # noqa: B019
    def matches(self, text: str, granularity: str, floor: float, mix: float) -> list[Match]:
        """The semantic matches as `Searcher.ranking` finds them (no feedback)."""
        config = {"granularity": granularity, "semantic_floor": floor, "document_mix": mix}
        searcher = self.searcher(config)
        vector = searcher.semantic.query_vector(text)
        return searcher._semantic_matches(text, Filters(), EVERYONE, 100, vector)

    def ranked(self, text: str, mode: str, config: Config) -> list[str]:
        tuning = self.searcher(config).tuning
        lexical = self.lexical(text, *lexical_knobs(tuning, config))
        if mode == "fulltext":
            return [i for i, _ in lexical[:DEPTH]]
        if config.get("fusion", "rrf") != "rrf":
            config = {k: v for k, v in config.items() if k != "rrf_k"}  # not read
        return self.ranking(text, mode, tuple(sorted(config.items())))

    @cache  # noqa: B019
    def ranking(self, text: str, mode: str, config: tuple[tuple[str, Any], ...]) -> list[str]:
        """The ranking as `Searcher.ranking` makes it; without feedback, from the
        memoised lexical ranking and semantic matches (the same steps, done once)."""
        searcher = self.searcher(dict(config))
        tuning = searcher.tuning
        parsed = _query.parse(text)
        if mode == "hybrid" and not tuning.hybrid_feedback:
            granularity = dict(config).get("granularity", _passages.GRANULARITY)
            lexical = self.lexical(text, *lexical_knobs(tuning, dict(config)))
            found = self.matches(text, granularity, tuning.semantic_floor, tuning.document_mix)
            fused = _hybrid.fuse(lexical, found, searcher.fusion, tuning, parsed)
            return [i for i, _ in fused[:DEPTH]]
        expand = searcher.expansion(text)
        fused, _ = searcher.ranking(parsed, text, Filters(), mode, EVERYONE, 100, expand)
        return [i for i, _ in fused[:DEPTH]]


def lexical_knobs(tuning: Tuning, config: Config) -> tuple[bool, int, float, float]:
    title = config.get("title_boost", SHIPPED_BOOSTS["title"])
    return tuning.general_vocabulary, tuning.feedback_terms, tuning.feedback_weight, title


def configs(mode: str, fixed: Config | None = None) -> list[Config]:
    grid = dict(GRID[mode])
    grid.update({k: (v,) for k, v in (fixed or {}).items()})
    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]


def per_query(
    rankers: Rankers, queries: list[Query], mode: str, candidates: list[Config]
) -> list[list[float]]:
    """nDCG@10 of every query under every config: [config][query]. Never printed."""
    return [
        [ndcg_at(rankers.ranked(q["query"], mode, c), q["relevant"]) for q in queries]
        for c in candidates
    ]


def by_kind(scores: list[float], queries: list[Query]) -> dict[str, float]:
    table = {"overall": statistics.fmean(scores)}
    for kind in KINDS[1:]:
        of_kind = [s for s, q in zip(scores, queries, strict=True) if q["kind"] == kind]
        table[kind] = statistics.fmean(of_kind) if of_kind else float("nan")
    return table


def cross_validated(
    grid_scores: list[list[float]], queries: list[Query], folds: list[int]
) -> tuple[dict[str, float], list[int]]:
    """Held-out scores by kind, and the config each fold chose (by index)."""
    held_out = [0.0] * len(queries)
    chosen = []
    for fold in range(FOLDS):
        train = [n for n, f in enumerate(folds) if f != fold]
        best = max(
            range(len(grid_scores)),
            key=lambda c: (statistics.fmean(grid_scores[c][n] for n in train), -c),
        )
        chosen.append(best)
        for n, f in enumerate(folds):
            if f == fold:
                held_out[n] = grid_scores[best][n]
    return by_kind(held_out, queries), chosen


def open_libraries(corpus: Path, cache_dir: Path, model: str | None) -> dict[str, Library]:
    folder = cache_dir / "library"
    write_library(corpus, folder)
    libraries = {}
    shipped = _passages.GRANULARITY
    for granularity in (*GRANULARITIES, REFERENCE):
        _passages.GRANULARITY = granularity  # cut the passages this way while indexing
        overrides = {"embedding_model": model} if model else {}
        settings = Settings(library=folder, data_dir=cache_dir / f"data-{granularity}", **overrides)
        library = Library.open(settings)
        library.refresh()
        started = time.perf_counter()
        embedded = library.semantic.sync()
        status = library.semantic.status()
        print(
            f"{granularity}: {status['passages']} passages of {status['postmortems']} postmortems, "
            f"{embedded} embedded now in {time.perf_counter() - started:.1f}s ({status['model']})"
        )
        libraries[granularity] = library
    _passages.GRANULARITY = shipped
    return libraries


def print_table(title: str, rows: Iterable[tuple[str, dict[str, float]]]) -> None:
    print(f"\n{title}\n")
    print("| " + " | ".join(["", *KINDS]) + " |")
    print("| --- " * (len(KINDS) + 1) + "|")
    for name, table in rows:
        print(f"| {name} | " + " | ".join(f"{table[k]:.3f}" for k in KINDS) + " |")


def end_to_end(library: Library, queries: list[Query], mode: str) -> dict[str, float]:
    """The shipped settings through the public entry point, as a user's search runs."""
    searcher = library.searcher
    scores = [
        ndcg_at([h.id for h in searcher.search(q["query"], mode=mode).results], q["relevant"])
        for q in queries
    ]
    return by_kind(scores, queries)


def misspell(query: Query) -> str:
    """The query with one word of 5+ letters misspelled (a swap, a drop, a double or a
    neighbouring key), chosen by a hash of the query id; as typed if it has none."""
    words = query["query"].split()
    seed = int(hashlib.sha256(query["qid"].encode()).hexdigest(), 16)
    long_words = [n for n, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not long_words:
        return str(query["query"])
    n = long_words[seed % len(long_words)]
    word = words[n]
    at = 1 + (seed // 7) % (len(word) - 2)  # never the first letter
    edit = (seed // 11) % 4
    if edit == 0:
        word = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    elif edit == 1:
        word = word[:at] + word[at + 1 :]
    elif edit == 2:
        word = word[:at] + word[at] + word[at:]
    else:
        keys = "qwertyuiopasdfghjklzxcvbnm"
        neighbour = (
            keys[(keys.index(word[at].lower()) + 1) % len(keys)]
            if word[at].lower() in keys
            else "x"
        )
        word = word[:at] + neighbour + word[at + 1 :]
    return " ".join([*words[:n], word, *words[n + 1 :]])


def typo_table(library: Library, queries: list[Query]) -> list[tuple[str, dict[str, float]]]:
    """nDCG@10 of the clean queries, the misspelled ones (corrected), and misspelled as typed."""
    searcher = library.searcher
    misspelled = [{**q, "query": misspell(q)} for q in queries]
    changed = sum(m["query"] != q["query"] for m, q in zip(misspelled, queries, strict=True))
    print(f"\n{changed} of {len(queries)} queries have a word of 5+ letters to misspell")
    rows = []
    for mode in ("fulltext", "hybrid"):
        for name, batch, as_typed in (
            ("clean", queries, False),
            ("misspelled, corrected", misspelled, False),
            ("misspelled, as typed", misspelled, True),
        ):
            scores = [
                ndcg_at(
                    [
                        h.id
                        for h in searcher.search(q["query"], mode=mode, as_typed=as_typed).results
                    ],
                    q["relevant"],
                )
                for q in batch
            ]
            rows.append((f"{mode}: {name}", by_kind(scores, batch)))
    return rows


def strength_tables(library: Library, queries: list[Query]) -> None:
    """How often a top-10 hit of each strength (and each signal bin) is relevant."""
    searcher = library.searcher
    for mode in ("fulltext", "hybrid"):
        hits = [
            (hit, q["relevant"].get(hit.id, 0))
            for q in queries
            for hit in searcher.search(q["query"], mode=mode).results
        ]
        print(f"\n{mode}: top-10 hits by strength (share relevant: grade >= 1 / grade 2)\n")
        print("| strength | hits | relevant | grade 2 |\n| --- | --- | --- | --- |")
        for level in ("strong", "partial", "weak"):
            print(_share(level, [g for h, g in hits if h.strength == level]))
        if mode == "hybrid":
            print("\n| similarity | hits | relevant | grade 2 |\n| --- | --- | --- | --- |")
            edges = (0.0, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 1.01)
            for low, high in itertools.pairwise(edges):
                inside = [g for h, g in hits if low <= (h.similarity or 0.0) < high]
                print(_share(f"{low:.2f}-{high:.2f}", inside))
        print("\n| coverage | hits | relevant | grade 2 |\n| --- | --- | --- | --- |")
        for low, high in ((0.0, 0.01), (0.01, 0.5), (0.5, 0.99), (0.99, 1.01)):
            inside = [g for h, g in hits if low <= h.coverage < high]
            print(_share(f"{low:.2f}-{high:.2f}", inside))


def _share(name: str, grades: list[int]) -> str:
    if not grades:
        return f"| {name} | 0 | - | - |"
    relevant = sum(g >= 1 for g in grades) / len(grades)
    exact = sum(g == 2 for g in grades) / len(grades)
    return f"| {name} | {len(grades)} | {relevant:.2f} | {exact:.2f} |"


def describe(config: Config) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_eval_arguments(parser)
    parser.add_argument("--model", default=None, help="PML_EMBEDDING_MODEL to use")
    parser.add_argument("--quick", action="store_true", help="skip the cross-validation sweep")
    args = parser.parse_args()
    queries = [q for path in args.queries for q in load_queries(path)]
    print(f"{len(queries)} judged queries, {FOLDS}-fold cross-validation (aggregates only)")
    cache_dir = args.cache / (args.model or "default")
    libraries = open_libraries(args.corpus, cache_dir, args.model)
    rankers = Rankers(libraries)
    folds = folds_of(queries)
    shipped = libraries[_passages.GRANULARITY]
    print_table(
        "All dev queries, shipped settings (Tuning()), end to end (nDCG@10)",
        ((mode, end_to_end(shipped, queries, mode)) for mode in MODES),
    )
    print_table(
        "Reference rows, all dev queries, fixed settings (nDCG@10)",
        (
            (name, by_kind(per_query(rankers, queries, mode, [config])[0], queries))
            for mode, name, config in REFERENCES
        ),
    )
    print_table(
        "Typos: one word misspelled per query, shipped settings (nDCG@10)",
        typo_table(shipped, queries),
    )
    strength_tables(shipped, queries)
    if not args.quick:
        sweep(rankers, queries, folds)
    for library in libraries.values():
        library.close()


def sweep(rankers: Rankers, queries: list[Query], folds: list[int]) -> None:
    """The cross-validated tables, the ablations and the settings each fold chose."""
    chosen_rows, ablations = [], []
    started = time.perf_counter()
    for mode in MODES:
        candidates = configs(mode)
        grid_scores = per_query(rankers, queries, mode, candidates)
        table, chosen = cross_validated(grid_scores, queries, folds)
        chosen_rows.append((mode, table))
        best_all = max(range(len(candidates)), key=lambda c: statistics.fmean(grid_scores[c]))
        print(f"\n{mode}: {len(candidates)} settings tried")
        for fold, c in enumerate(chosen):
            print(f"  fold {fold + 1} chose: {describe(candidates[c])}")
        print(f"  best on all queries: {describe(candidates[best_all])}")
        if mode != "fulltext":
            ablations += ablate(rankers, queries, folds, mode)
    rankers.boost_title(SHIPPED_BOOSTS["title"])
    print_table(f"{FOLDS}-fold cross-validated (nDCG@10 on held-out folds)", chosen_rows)
    print_table("Cross-validated, one knob fixed (the others chosen per fold)", ablations)
    print(f"\n(sweep took {time.perf_counter() - started:.0f}s)")


def ablate(
    rankers: Rankers, queries: list[Query], folds: list[int], mode: str
) -> list[tuple[str, dict[str, float]]]:
    rows = []
    for knob, values in GRID[mode].items():
        for value in values:
            candidates = configs(mode, {knob: value})
            table, _ = cross_validated(
                per_query(rankers, queries, mode, candidates), queries, folds
            )
            rows.append((f"{mode}: {knob}={value}", table))
    return rows


if __name__ == "__main__":
    main()
