"""Relevance harness: what users get, what each ranking component is worth, under cross-validation.

    python benchmarks/eval_search.py [--corpus FILE] [--queries FILE ...] [--cache DIR]
                                     [--model NAME] [--quick]

Writes the corpus out as a library of Markdown files, indexes it as `pml
index` does (`Library.open`, `refresh`, `semantic.sync`, the shipped
settings; embeddings with PML_EMBEDDING_MODEL, default the packaged
all-MiniLM-L6-v2, cached in --cache across runs), and prints:

1. the served table: every mode through `Searcher.search`, the function the
   /api/search route calls, overall and per query kind; with three plain
   reference rows on the same library: tantivy BM25 (one field, stop words,
   English stemming), all-MiniLM one passage per paragraph ("Title.
   paragraph", a postmortem scores its best passage) and a naive RRF (k=60,
   equal votes) of those two;
2. the cross-validated table: the judged queries are split into 5 folds,
   stratified by kind; for each fold the setting with the best mean nDCG@10
   on the other four is scored on it;
3. the ablation table: for each ranking component, the cross-validated
   score with it and without it (every other knob still chosen per fold),
   the gain, and a paired bootstrap 90% interval of the gain over queries.
   A component whose interval does not lie above zero has not earned its
   place (docs/search.md);
4. typo correction: the served hybrid search with one word of each query
   misspelled, corrected and as typed, with the same paired interval;
5. with --models A B ..., the model table: for each embedding model, served
   semantic and hybrid nDCG@10, the cross-validated hybrid figure (the
   shipped passage cut), and the cost of embedding the same passages one
   after the other on this machine (so both models see the same load).

Rankings that do not depend on fusion (full-text's, the semantic matches)
are memoised per query, so the grid costs seconds once the corpus is
embedded.

The judged queries are a black box: this prints aggregates only, never a
query, its text or a per-query figure. Defaults read ../shared (all three
query files).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import random
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import tantivy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import load, write_library
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
REFERENCE = "plain"  # the plain passage cut, indexed for the reference rows
DEPTH = 10
CANDIDATES = 100
EVERYONE: frozenset[str] = frozenset()
RESAMPLES = 2000
LEVEL = 0.90

# The settings tried, per mode. Each knob is general (docs/search.md says
# what it does); none names a query. The first value is the shipped one:
# full-text mode ranks without feedback and proximity (`Searcher._lexical`),
# hybrid's full-text side with them.
GRID: dict[str, dict[str, tuple[Any, ...]]] = {
    "fulltext": {
        "framing": (True, False),
        "feedback_terms": (0, 10),
        "proximity": (False, True),
    },
    "semantic": {
        "framing": (True, False),
        "counted_first": (True, False),
    },
    "hybrid": {
        "framing": (True, False),
        "feedback_terms": (10, 0),
        "proximity": (True, False),
        "vote": ("agreement", "equal"),
    },
}
# Each component: (name, mode, knob, with it, without it).
COMPONENTS = (
    ("framing words dropped", "fulltext", "framing", True, False),
    ("framing words dropped", "semantic", "framing", True, False),
    ("framing words dropped", "hybrid", "framing", True, False),
    ("counted matches listed first", "semantic", "counted_first", True, False),
    ("feedback", "fulltext", "feedback_terms", 10, 0),
    ("feedback", "hybrid", "feedback_terms", 10, 0),
    ("word-pair proximity", "fulltext", "proximity", True, False),
    ("word-pair proximity", "hybrid", "proximity", True, False),
    ("semantic vote by agreement (vs equal votes)", "hybrid", "vote", "agreement", "equal"),
)
# Not `Tuning` fields: which library (the shipped passage cut or the reference
# one) and how the fusion weighs the semantic vote.
SEARCHER_KNOBS = ("granularity", "vote")

Query = dict[str, Any]
Config = dict[str, Any]
Table = dict[str, float]


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


def tuning_of(config: Config) -> Tuning:
    return Tuning(**{k: v for k, v in config.items() if k not in SEARCHER_KNOBS})


class Rankers:
    """The rankings of one corpus, with the parts that do not depend on fusion memoised."""

    def __init__(self, libraries: dict[str, Library]) -> None:
        self.libraries = libraries

    def searcher(self, config: Config) -> _hybrid.Searcher:
        library = self.libraries[config.get("granularity", _passages.GRANULARITY)]
        return dataclasses.replace(library.searcher, tuning=tuning_of(config))

    @cache  # noqa: B019 - one Rankers per run
    def lexical(self, text: str, terms: int, proximity: bool) -> list[tuple[str, float]]:
        config = {"feedback_terms": terms, "proximity": proximity}
        searcher = self.searcher(config)
        return searcher.index.rank(
            _query.parse(text),
            Filters(),
            EVERYONE,
            CANDIDATES,
            searcher.expansion(text),
            feedback=searcher.tuning.feedback,
            proximity=proximity,
        )

    @cache  # noqa: B019
    def matches(self, text: str, granularity: str) -> list[Match]:
        """The semantic matches as `Searcher.ranking` finds them."""
        searcher = self.searcher({"granularity": granularity})
        vector = searcher.semantic.query_vector(text)
        return searcher._semantic_matches(text, Filters(), EVERYONE, CANDIDATES, vector)

    def ranked(self, text: str, mode: str, config: Config) -> list[str]:
        text = self.searcher(config).about(text)
        if mode == "fulltext":
            return [i for i, _ in self.lexical(text, *lexical_knobs(config))[:DEPTH]]
        return self.ranking(text, mode, tuple(sorted(config.items())))

    @cache  # noqa: B019
    def ranking(self, text: str, mode: str, config: tuple[tuple[str, Any], ...]) -> list[str]:
        """The ranking as `Searcher.ranking` makes it; in hybrid mode fused from the
        memoised full-text ranking and semantic matches (the same steps, done once)."""
        settings = dict(config)
        searcher = self.searcher(settings)
        parsed = _query.parse(text)
        if mode == "hybrid":
            granularity = settings.get("granularity", _passages.GRANULARITY)
            lexical = self.lexical(text, *lexical_knobs(settings))
            found = self.matches(text, granularity)
            vote = None if settings.get("vote", "agreement") == "agreement" else 1.0
            fused = _hybrid.fuse(lexical, found, searcher.fusion, vote=vote)
            fused = _hybrid.matched(fused, lexical, found)
            return [i for i, _ in fused[:DEPTH]]
        expand = searcher.expansion(text)
        ranked, _ = searcher.ranking(parsed, text, Filters(), mode, EVERYONE, CANDIDATES, expand)
        return [i for i, _ in ranked[:DEPTH]]


def lexical_knobs(config: Config) -> tuple[int, bool]:
    shipped = Tuning()
    return (
        config.get("feedback_terms", shipped.feedback_terms),
        config.get("proximity", shipped.proximity),
    )


class PlainBM25:
    """The reference full-text ranker: tantivy BM25 over one field (title and text),
    Lucene's English stop words, English stemming; no boosts, no expansion."""

    def __init__(self, documents: Iterable[dict[str, Any]]) -> None:
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("id", stored=True, tokenizer_name="raw")
        builder.add_text_field("text", stored=False, tokenizer_name="plain_en")
        self.index = tantivy.Index(builder.build())
        self.index.register_tokenizer("plain_en", _schema.analyzer())
        writer = self.index.writer(heap_size=50_000_000, num_threads=1)
        for document in documents:
            writer.add_document(
                tantivy.Document(id=document["id"], text=f"{document['title']}\n{document['text']}")
            )
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()

    def rank(self, text: str, k: int = DEPTH) -> list[str]:
        words = _query.clean(text).split()
        if not _schema.analyze(" ".join(words)):  # an empty query would match everything
            return []
        query, _ = self.index.parse_query_lenient(" ".join(f'"{w}"' for w in words), ["text"])
        searcher = self.index.searcher()
        return [searcher.doc(address)["id"][0] for _, address in searcher.search(query, k).hits]


def naive_rrf(first: Sequence[str], second: Sequence[str], k: int = 60) -> list[str]:
    """Reciprocal rank fusion with equal votes: the reference hybrid."""
    scores: dict[str, float] = {}
    for ranking in (first, second):
        for rank, identifier in enumerate(ranking):
            scores[identifier] = scores.get(identifier, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores, key=lambda i: (-scores[i], i))


def references(
    plain_bm25: PlainBM25, rankers: Rankers, queries: list[Query]
) -> list[tuple[str, list[float]]]:
    """Per-query nDCG@10 of the three reference rankers (never printed per query)."""
    words, meaning, both = [], [], []
    for q in queries:
        lexical = plain_bm25.rank(q["query"], CANDIDATES)
        semantic = [m.postmortem_id for m in rankers.matches(q["query"], REFERENCE)]
        words.append(ndcg_at(lexical, q["relevant"]))
        meaning.append(ndcg_at(semantic, q["relevant"]))
        both.append(ndcg_at(naive_rrf(lexical, semantic), q["relevant"]))
    return [
        ("plain BM25 (one field, stop words)", words),
        ("plain MiniLM, passage per paragraph", meaning),
        ("naive RRF k=60 of the two plain ones", both),
    ]


def configs(mode: str) -> list[Config]:
    grid = GRID[mode]
    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]


def per_query(
    rankers: Rankers, queries: list[Query], mode: str, candidates: list[Config]
) -> list[list[float]]:
    """nDCG@10 of every query under every config: [config][query]. Never printed."""
    return [
        [ndcg_at(rankers.ranked(q["query"], mode, c), q["relevant"]) for q in queries]
        for c in candidates
    ]


def by_kind(scores: Sequence[float], queries: list[Query]) -> Table:
    table = {"overall": statistics.fmean(scores)}
    for kind in KINDS[1:]:
        of_kind = [s for s, q in zip(scores, queries, strict=True) if q["kind"] == kind]
        table[kind] = statistics.fmean(of_kind) if of_kind else float("nan")
    return table


def held_out(
    grid_scores: list[list[float]], folds: list[int], allowed: Sequence[int] | None = None
) -> tuple[list[float], list[int]]:
    """Each query's score under the config chosen on the other folds (among `allowed`
    configs), and the config each fold chose (by index)."""
    allowed = range(len(grid_scores)) if allowed is None else allowed
    scores = [0.0] * len(folds)
    chosen = []
    for fold in range(FOLDS):
        train = [n for n, f in enumerate(folds) if f != fold]
        best = max(allowed, key=lambda c: (statistics.fmean(grid_scores[c][n] for n in train), -c))
        chosen.append(best)
        for n, f in enumerate(folds):
            if f == fold:
                scores[n] = grid_scores[best][n]
    return scores, chosen


def cross_validated(
    grid_scores: list[list[float]], queries: list[Query], folds: list[int]
) -> tuple[Table, list[int]]:
    """Held-out scores by kind, and the config each fold chose (by index)."""
    scores, chosen = held_out(grid_scores, folds)
    return by_kind(scores, queries), chosen


def interval(
    gains: Sequence[float], queries: list[Query], level: float = LEVEL
) -> tuple[float, float]:
    """Paired bootstrap interval of the mean gain: queries resampled within each kind."""
    rng = random.Random(26)
    kinds = [[n for n, q in enumerate(queries) if q["kind"] == kind] for kind in KINDS[1:]]
    kinds = [members for members in kinds if members]
    means = []
    for _ in range(RESAMPLES):
        sample = [gains[rng.choice(members)] for members in kinds for _ in members]
        means.append(statistics.fmean(sample))
    means.sort()
    tail = (1 - level) / 2
    return means[int(tail * RESAMPLES)], means[int((1 - tail) * RESAMPLES) - 1]


def open_libraries(corpus: Path, cache_dir: Path, model: str | None) -> dict[str, Library]:
    folder = cache_dir / "library"
    write_library(corpus, folder)
    libraries = {}
    shipped = _passages.GRANULARITY
    for granularity in (shipped, REFERENCE):
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


def print_table(title: str, rows: Iterable[tuple[str, Table]]) -> None:
    print(f"\n{title}\n")
    print("| " + " | ".join(["", *KINDS]) + " |")
    print("| --- " * (len(KINDS) + 1) + "|")
    for name, table in rows:
        print(f"| {name} | " + " | ".join(f"{table[k]:.3f}" for k in KINDS) + " |")


def served(
    library: Library, queries: list[Query], mode: str, as_typed: bool = False
) -> list[float]:
    """Per-query nDCG@10 of the shipped settings through the route's search function."""
    searcher = library.searcher
    return [
        ndcg_at(
            [h.id for h in searcher.search(q["query"], mode=mode, as_typed=as_typed).results],
            q["relevant"],
        )
        for q in queries
    ]


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


def describe(config: Config) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_eval_arguments(parser)
    parser.add_argument("--model", default=None, help="PML_EMBEDDING_MODEL to use")
    parser.add_argument("--quick", action="store_true", help="the served table only")
    parser.add_argument(
        "--models", nargs="+", default=[], help="PML_EMBEDDING_MODEL values to compare"
    )
    args = parser.parse_args()
    queries = [q for path in args.queries for q in load_queries(path)]
    print(f"{len(queries)} judged queries, {FOLDS}-fold cross-validation (aggregates only)")
    cache_dir = args.cache / (Path(args.model).name if args.model else "default")
    libraries = open_libraries(args.corpus, cache_dir, args.model)
    documents = load(args.corpus)
    rankers = Rankers(libraries)
    shipped = libraries[_passages.GRANULARITY]
    rows = [(mode, by_kind(served(shipped, queries, mode), queries)) for mode in MODES]
    rows += [
        (n, by_kind(s, queries)) for n, s in references(PlainBM25(documents), rankers, queries)
    ]
    print_table("Served: shipped settings through Searcher.search (nDCG@10)", rows)
    typos(shipped, queries)
    if not args.quick:
        sweep(rankers, queries, folds_of(queries))
    for library in libraries.values():
        library.close()
    if args.models:
        model_table(args, queries)


def typos(library: Library, queries: list[Query]) -> None:
    """Typo correction's worth: misspelled queries corrected vs as typed, and its cost
    on the clean ones (served hybrid search)."""
    misspelled = [{**q, "query": misspell(q)} for q in queries]
    changed = sum(m["query"] != q["query"] for m, q in zip(misspelled, queries, strict=True))
    print(f"\nTypo correction ({changed} of {len(queries)} queries misspelled; served hybrid)\n")
    print(
        "| queries | corrected | as typed | gain | 90% interval |\n| --- | --- | --- | --- | --- |"
    )
    for name, batch in (("misspelled", misspelled), ("clean", queries)):
        fixed = served(library, batch, "hybrid")
        typed = served(library, batch, "hybrid", as_typed=True)
        print(_gain_row([name], fixed, typed, queries))


def _gain_row(names: list[str], on: list[float], off: list[float], queries: list[Query]) -> str:
    gains = [a - b for a, b in zip(on, off, strict=True)]
    low, high = interval(gains, queries)
    verdict = "earns its place" if low > 0 else "not shown"
    return (
        f"| {' | '.join(names)} | {statistics.fmean(on):.3f} | {statistics.fmean(off):.3f} | "
        f"{statistics.fmean(gains):+.3f} | [{low:+.3f}, {high:+.3f}] {verdict} |"
    )


def sweep(rankers: Rankers, queries: list[Query], folds: list[int]) -> None:
    """The cross-validated table, the ablation table and the settings each fold chose."""
    started = time.perf_counter()
    rows = []
    grids: dict[str, tuple[list[Config], list[list[float]]]] = {}
    for mode in MODES:
        candidates = configs(mode)
        grid_scores = per_query(rankers, queries, mode, candidates)
        grids[mode] = (candidates, grid_scores)
        table, chosen = cross_validated(grid_scores, queries, folds)
        rows.append((mode, table))
        print(f"\n{mode}: {len(candidates)} settings tried")
        for fold, c in enumerate(chosen):
            print(f"  fold {fold + 1} chose: {describe(candidates[c])}")
    print_table(f"{FOLDS}-fold cross-validated (nDCG@10 on held-out folds)", rows)
    print(
        f"\nAblations: cross-validated with the component and without it (the other knobs "
        f"chosen per fold), paired bootstrap {LEVEL:.0%} interval of the gain over queries\n"
    )
    print("| component | mode | shipped | with | without | gain | 90% interval |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, mode, knob, on, off in COMPONENTS:
        candidates, grid_scores = grids[mode]
        with_it, _ = held_out(grid_scores, folds, _where(candidates, knob, on))
        without, _ = held_out(grid_scores, folds, _where(candidates, knob, off))
        shipped = "on" if GRID[mode][knob][0] == on else "off"
        print(_gain_row([name, mode, shipped], with_it, without, queries))
    print(f"\n(sweep took {time.perf_counter() - started:.0f}s)")


def model_table(args: argparse.Namespace, queries: list[Query]) -> None:
    """Served and cross-validated nDCG@10 per embedding model (the shipped passage
    cut), and what embedding the same passages costs each one."""
    folds = folds_of(queries)
    sample: list[str] = []
    rows = []
    for model in args.models:
        folder = args.cache / Path(model).name / "library"
        write_library(args.corpus, folder)
        data = args.cache / Path(model).name / f"data-{_passages.GRANULARITY}"
        library = Library.open(Settings(library=folder, data_dir=data, embedding_model=model))
        library.refresh()
        library.semantic.sync()
        rankers = Rankers({_passages.GRANULARITY: library})
        semantic = statistics.fmean(served(library, queries, "semantic"))
        hybrid = statistics.fmean(served(library, queries, "hybrid"))
        candidates = configs("hybrid")
        table, _ = cross_validated(
            per_query(rankers, queries, "hybrid", candidates), queries, folds
        )
        embedder = library.semantic.embedder
        assert embedder is not None
        if not sample:
            sample = [p.text for p in library.semantic.passages(_sample_keys(library)).values()]
        started = time.perf_counter()
        embedder.embed(sample)
        seconds = time.perf_counter() - started
        rows.append((model, semantic, hybrid, table["overall"], seconds, embedder.dimension))
        library.close()
    print(f"\nModels (served nDCG@10; CV hybrid; embedding {len(sample)} passages in one batch)\n")
    print("| model | semantic | hybrid | hybrid, CV | embedding | dimension |")
    print("| --- | --- | --- | --- | --- | --- |")
    for model, semantic, hybrid, cv, seconds, dimension in rows:
        name = Path(model).name
        print(
            f"| {name} | {semantic:.3f} | {hybrid:.3f} | {cv:.3f} | {seconds:.1f} s | {dimension} |"
        )


def _sample_keys(library: Library, size: int = 64) -> list[tuple[str, int]]:
    """The first passage of `size` postmortems (the same for every model)."""
    ids = sorted(library.searcher.index.ids())[:size]
    return [(identifier, 0) for identifier in ids]


def _where(candidates: list[Config], knob: str, value: Any) -> list[int]:
    return [n for n, c in enumerate(candidates) if c[knob] == value]


if __name__ == "__main__":
    main()
