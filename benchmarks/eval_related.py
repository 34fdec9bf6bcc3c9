"""Related postmortems: precision@5 on the public corpus, all-dev and 5-fold cross-validated.

    HF_HUB_OFFLINE=1 python benchmarks/eval_related.py [--corpus FILE] [--queries FILE ...]
        [--cache DIR]

A related postmortem is right when some judged query holds both (grade >= 1
for each). Every postmortem that some judged query holds is asked for its 5
related ones, with scope=all (earlier and later) and scope=past; a postmortem
with fewer than 5 scores the missing ones as wrong.

Prints:

1. the all-dev table: the shipped settings end to end through `related` (the
   stored lists `pml index` writes), every judged query, both scopes, beside
   the plain cosine of document vectors and the time per list;
2. the cross-validated table: the judged queries are split into 5 folds
   (stratified by kind, as in eval_search.py). For each fold, the setting of
   `_related.Tuning` (grid below) with the best precision@5 on the other four
   folds is chosen (on scope=all) and scored on the held-out fold, where a
   postmortem's right answers come only from the held-out fold's queries and
   only postmortems those queries hold are asked. Held-out precisions are
   averaged over the five folds;
3. ablations under the same cross-validation (each knob fixed, the others
   chosen per fold); each component's gain (`COMPONENTS`: with it vs without,
   the other knobs chosen per fold) with a paired bootstrap 90% interval over
   the held-out postmortems, which must lie above zero for the component to
   stay (docs/search.md); the settings each fold chose, and the best on all-dev;
4. how often each strength label and score band is right (scope=all).

The judged queries are a black box: this prints aggregates only, never a
query or a per-query or per-postmortem figure. Defaults read ../shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import random
import statistics
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from benchmarks.corpus import write_library
from benchmarks.eval_search import FOLDS, folds_of
from benchmarks.relevance import add_eval_arguments, load_queries
from indexer.config import Settings
from indexer.library import Library
from indexer.search import _related, related

K = 5
SCOPES = ("all", "past")

# Each knob is general (docs/search.md says what it does); none names a query.
# The lexical weight is applied in the harness to the parts of one ranking
# pass (`Scored.parts`), so only the candidates cost a pass. Removed in issue
# 26 for not earning their place (docs/search.md has the table): passage-level
# vectors, reciprocal-rank fusion, other words, a shared-tag bonus.
GRID: dict[str, tuple[Any, ...]] = {
    "candidates": (50, 30, 100),
    "lexical_weight": (1.5, 0.0, 0.5, 1.0, 2.0, 3.0),
}
# Components under the interval rule: (name, knob, values with it, values without it).
COMPONENTS = (
    (
        "words (tf-idf cosine, weight chosen per fold) vs meaning alone",
        "lexical_weight",
        (0.5, 1.0, 1.5, 2.0, 3.0),
        (0.0,),
    ),
)
RESAMPLES = 2000
LEVEL = 0.90
Config = dict[str, Any]
Pairs = set[tuple[str, str]]


def pairs_of(queries: Iterable[dict[str, Any]]) -> Pairs:
    """(a, b) for every two postmortems some of these queries both hold."""
    together: Pairs = set()
    for query in queries:
        relevant = [doc for doc, grade in query["relevant"].items() if grade >= 1]
        together.update(itertools.permutations(relevant, 2))
    return together


def precision(lists: dict[str, list[str]], together: Pairs) -> float:
    """Mean precision@K over the postmortems `together` asks about (missing items count wrong)."""
    asked = sorted({a for a, _ in together})
    if not asked:
        return float("nan")
    return statistics.fmean(
        sum((a, b) in together for b in lists.get(a, [])[:K]) / K for a in asked
    )


def grid_lists(library: Library, asked: list[str]) -> dict[str, dict[str, dict[str, list[str]]]]:
    """For every config of GRID: scope -> postmortem -> its top-K related ids."""
    found: dict[str, dict[str, dict[str, list[str]]]] = {}
    for candidates in GRID["candidates"]:
        base = {"candidates": candidates}
        # One ranking pass; the weight only re-weighs its parts (as `_related.fuse`).
        parts = _parts(library, asked, _related.Tuning(**base))
        print(f"  scored {base}", file=sys.stderr, flush=True)
        for weight in GRID["lexical_weight"]:
            config = {**base, "lexical_weight": weight}
            tuning = _related.Tuning(**config)
            found[_key(config)] = {scope: {} for scope in SCOPES}
            for identifier in asked:
                target_date, others = parts[identifier]
                meaning = {o: p[0] for o, p in others.items()}
                words = {o: p[1] for o, p in others.items()}
                fused = _related.fuse(meaning, words, tuning)
                score = {o: fused.get(o, 0.0) + p[2] for o, p in others.items()}
                order = sorted(score, key=lambda o: (-score[o], others[o][3], o))
                found[_key(config)]["all"][identifier] = order[:K]
                earlier = [o for o in order if others[o][3] <= target_date]
                found[_key(config)]["past"][identifier] = earlier[:K]
    return found


def _parts(
    library: Library, asked: list[str], tuning: _related.Tuning
) -> dict[str, tuple[str, dict[str, tuple[float, float, float, str]]]]:
    """Per postmortem: its date, and each candidate's (meaning, words, bonus, date)."""
    result = {}
    hidden: set[str] = set()
    for identifier in asked:
        target = _related.target_summary(library.engine, identifier)
        assert target is not None
        scored, _ = _related.ranked(
            library.engine, library.semantic, target, hidden=hidden, tuning=tuning
        )
        result[identifier] = (
            target.date,
            {item.other.id: (*item.parts, item.other.date) for item in scored},
        )
    return result


def _key(config: Config) -> str:
    return ", ".join(f"{k}={config[k]}" for k in GRID)


def held_out_items(
    configs: list[str],
    lists: dict[str, dict[str, dict[str, list[str]]]],
    fold_pairs: list[Pairs],
) -> list[float]:
    """Held-out precision@5 (scope=all) of every asked postmortem of every fold, in one
    order for every subset of configs (fold, then id): what the interval pairs."""
    scores = []
    for fold in range(FOLDS):
        train = set().union(*(p for f, p in enumerate(fold_pairs) if f != fold))
        best = max(configs, key=lambda c: (precision(lists[c]["all"], train), -configs.index(c)))
        together = fold_pairs[fold]
        for a in sorted({a for a, _ in together}):
            right = sum((a, b) in together for b in lists[best]["all"].get(a, [])[:K])
            scores.append(right / K)
    return scores


def interval(gains: list[float], level: float = LEVEL) -> tuple[float, float]:
    """Paired bootstrap interval of the mean gain, postmortems resampled."""
    rng = random.Random(26)
    means = sorted(statistics.fmean(rng.choice(gains) for _ in gains) for _ in range(RESAMPLES))
    tail = (1 - level) / 2
    return means[int(tail * RESAMPLES)], means[int((1 - tail) * RESAMPLES) - 1]


def _having(configs: list[str], knob: str, values: tuple[Any, ...]) -> list[str]:
    """The configs whose `knob` is one of `values`."""
    wanted = {f"{knob}={value}" for value in values}
    return [c for c in configs if wanted & set(c.split(", "))]


def print_ablations(
    lists: dict[str, dict[str, dict[str, list[str]]]], fold_pairs: list[Pairs]
) -> None:
    """Each component's cross-validated precision@5 with and without it (the other
    knobs chosen per fold), with a paired bootstrap 90% interval of the gain."""
    configs = list(lists)
    print(
        f"\n| component (scope=all, held-out) | with | without | gain | {LEVEL:.0%} interval |"
        "\n| --- | --- | --- | --- | --- |"
    )
    for name, knob, on, off in COMPONENTS:
        with_it = held_out_items(_having(configs, knob, on), lists, fold_pairs)
        without = held_out_items(_having(configs, knob, off), lists, fold_pairs)
        gains = [a - b for a, b in zip(with_it, without, strict=True)]
        low, high = interval(gains)
        verdict = "earns its place" if low > 0 else "not shown"
        print(
            f"| {name} | {statistics.fmean(with_it):.3f} | {statistics.fmean(without):.3f} "
            f"| {statistics.fmean(gains):+.3f} | [{low:+.3f}, {high:+.3f}] {verdict} |"
        )


def cross_validate(
    configs: list[str],
    lists: dict[str, dict[str, dict[str, list[str]]]],
    fold_pairs: list[Pairs],
) -> tuple[dict[str, float], list[str]]:
    """Held-out precision per scope (settings chosen on scope=all), and each fold's choice."""
    held: dict[str, list[float]] = {scope: [] for scope in SCOPES}
    chosen = []
    for fold in range(FOLDS):
        train = set().union(*(p for f, p in enumerate(fold_pairs) if f != fold))
        best = max(configs, key=lambda c: (precision(lists[c]["all"], train), -configs.index(c)))
        chosen.append(best)
        for scope in SCOPES:
            held[scope].append(precision(lists[best][scope], fold_pairs[fold]))
    return {scope: statistics.fmean(v) for scope, v in held.items()}, chosen


def shipped_end_to_end(library: Library, asked: list[str], together: Pairs) -> None:
    vectors = library.semantic.vectors
    assert vectors is not None
    documents = vectors.document_vectors()
    baseline = {}
    for identifier in asked:
        scores = documents @ documents[vectors.position[identifier]]
        order = [vectors.ids[n] for n in np.argsort(-scores) if vectors.ids[n] != identifier]
        baseline[identifier] = order[:K]
    print("\n| ranking (all dev queries) | precision@5 | postmortems with none | ms per list |")
    print("| --- | --- | --- | --- |")
    print(f"| document-vector cosine (baseline) | {precision(baseline, together):.3f} | 0 | - |")
    by_strength: dict[str, list[bool]] = {"strong": [], "partial": [], "weak": []}
    by_score: list[tuple[float, bool]] = []
    for scope in SCOPES:
        lists, empty, started = {}, 0, time.perf_counter()
        for identifier in asked:
            items = related(
                library.engine, library.semantic, identifier, limit=K, past_only=scope == "past"
            )
            items = items or []
            empty += not items
            lists[identifier] = [item["id"] for item in items]
            if scope == "all":
                for item in items:
                    correct = (identifier, item["id"]) in together
                    by_strength[item["strength"]].append(correct)
                    by_score.append((item["score"], correct))
        took = (time.perf_counter() - started) * 1000 / len(asked)
        print(
            f"| pml related (stored lists), scope={scope} | {precision(lists, together):.3f} "
            f"| {empty} | {took:.1f} |"
        )
    # A perfect ranking lists every right answer first; a postmortem with fewer
    # than K right answers (earlier ones, for scope=past) cannot reach 1.
    dates = {}
    for identifier in vectors.ids:
        summary = _related.target_summary(library.engine, identifier)
        dates[identifier] = summary.date if summary else ""
    for scope in SCOPES:
        perfect = {
            a: [
                b
                for b in vectors.ids
                if (a, b) in together and (scope == "all" or dates[b] <= dates[a])
            ]
            for a in asked
        }
        print(
            f"| attainable (a perfect ranking), scope={scope} "
            f"| {precision(perfect, together):.3f} | - | - |"
        )
    print("\n| strength (scope=all) | items | right |\n| --- | --- | --- |")
    for level, right in by_strength.items():
        share = f"{sum(right) / len(right):.2f}" if right else "-"
        print(f"| {level} | {len(right)} | {share} |")
    print("\n| score (scope=all) | items | right |\n| --- | --- | --- |")
    edges = (0.0, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 9.0)
    for low, high in itertools.pairwise(edges):
        right = [correct for score, correct in by_score if low <= score < high]
        share = f"{sum(right) / len(right):.2f}" if right else "-"
        print(f"| {low:.1f}-{high:.1f} | {len(right)} | {share} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_eval_arguments(parser)
    parser.add_argument("--no-grid", action="store_true", help="only the all-dev table")
    args = parser.parse_args()
    queries = [q for path in args.queries for q in load_queries(path)]
    folds = folds_of(queries)
    together = pairs_of(queries)
    fold_pairs = [
        pairs_of(q for q, f in zip(queries, folds, strict=True) if f == n) for n in range(FOLDS)
    ]
    asked = sorted({a for a, _ in together})
    folder = args.cache / "related"
    write_library(args.corpus, folder / "library")
    library = Library.open(Settings(library=folder / "library", data_dir=folder / "data"))
    library.refresh()
    library.semantic.sync()  # embeds what is new, then stores the related lists
    print(f"{len(asked)} postmortems held by some of {len(queries)} judged queries")
    print(f"shipped: {_key(dataclasses.asdict(_related.Tuning()))}")
    shipped_end_to_end(library, asked, together)
    if not args.no_grid:
        print_grid(library, asked, together, fold_pairs)
    library.close()


def print_grid(
    library: Library, asked: list[str], together: Pairs, fold_pairs: list[Pairs]
) -> None:
    started = time.perf_counter()
    lists = grid_lists(library, asked)
    configs = list(lists)
    print(f"\n{len(configs)} settings scored in {time.perf_counter() - started:.0f} s")
    shipped = _key(dataclasses.asdict(_related.Tuning()))
    scores, chosen = cross_validate(configs, lists, fold_pairs)
    print("\n| precision@5 | scope=all | scope=past |\n| --- | --- | --- |")
    print(
        f"| shipped settings, all dev | {precision(lists[shipped]['all'], together):.3f} "
        f"| {precision(lists[shipped]['past'], together):.3f} |"
    )
    shipped_cv = {
        scope: statistics.fmean(precision(lists[shipped][scope], p) for p in fold_pairs)
        for scope in SCOPES
    }
    print(
        f"| shipped settings, mean over held-out folds | {shipped_cv['all']:.3f} "
        f"| {shipped_cv['past']:.3f} |"
    )
    print(
        f"| **cross-validated (chosen per fold)** | **{scores['all']:.3f}** "
        f"| **{scores['past']:.3f}** |"
    )
    best = max(configs, key=lambda c: precision(lists[c]["all"], together))
    print(
        f"| best on all dev (optimistic) | {precision(lists[best]['all'], together):.3f} "
        f"| {precision(lists[best]['past'], together):.3f} |"
    )
    print("\n| fixed (others chosen per fold) | scope=all | scope=past |\n| --- | --- | --- |")
    for knob, values in GRID.items():
        for value in values:
            subset = [c for c in configs if f"{knob}={value}" in c.split(", ")]
            fixed, _ = cross_validate(subset, lists, fold_pairs)
            print(f"| {knob} {value} | {fixed['all']:.3f} | {fixed['past']:.3f} |")
    print_ablations(lists, fold_pairs)
    print("\nchosen per fold:")
    for fold, config in enumerate(chosen):
        print(f"  fold {fold}: {config}")
    print(f"best on all dev: {best}")


if __name__ == "__main__":
    main()
