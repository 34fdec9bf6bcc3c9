"""Related postmortems: precision@5 on the public corpus, and how often each strength is right.

    HF_HUB_OFFLINE=1 python benchmarks/eval_related.py [--corpus FILE] [--queries FILE ...]

A related postmortem is right when some judged query holds both (grade >= 1
for each). Every postmortem that some judged query holds is asked for its 5
related ones, with scope=all (earlier and later) and scope=past; a postmortem
with fewer than 5 scores the missing ones as wrong. The baseline is the plain
cosine of document vectors. Prints aggregates only; defaults read ../shared.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import write_library
from benchmarks.relevance import load_queries
from indexer.config import Settings
from indexer.library import Library
from indexer.search import related

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
K = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus/public-postmortems.jsonl")
    parser.add_argument(
        "--queries",
        type=Path,
        nargs="+",
        default=[SHARED / "eval/queries-dev.jsonl", SHARED / "eval/queries-dev2.jsonl"],
    )
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/pml-eval")
    args = parser.parse_args()
    queries = [q for path in args.queries for q in load_queries(path)]
    together: set[tuple[str, str]] = set()
    for query in queries:
        relevant = [doc for doc, grade in query["relevant"].items() if grade >= 1]
        together.update(itertools.permutations(relevant, 2))
    asked = sorted({a for a, _ in together})
    folder = args.cache / "related"
    write_library(args.corpus, folder / "library")
    library = Library.open(Settings(library=folder / "library", data_dir=folder / "data"))
    library.refresh()
    library.semantic.sync()
    print(f"{len(asked)} postmortems held by some of {len(queries)} judged queries")
    vectors = library.semantic.vectors
    assert vectors is not None
    documents = vectors.document_vectors()
    baseline = 0.0
    for identifier in asked:
        scores = documents @ documents[vectors.position[identifier]]
        order = [vectors.ids[n] for n in np.argsort(-scores) if vectors.ids[n] != identifier]
        baseline += sum((identifier, other) in together for other in order[:K]) / K
    print("\n| ranking | precision@5 | postmortems with none | ms per list |")
    print("| --- | --- | --- | --- |")
    print(f"| document-vector cosine (baseline) | {baseline / len(asked):.3f} | 0 | - |")
    by_strength: dict[str, list[bool]] = {"strong": [], "partial": [], "weak": []}
    by_score: list[tuple[float, bool]] = []
    for scope in ("all", "past"):
        total, empty, started = 0.0, 0, time.perf_counter()
        for identifier in asked:
            items = related(
                library.engine, library.semantic, identifier, limit=K, past_only=scope == "past"
            )
            items = items or []
            empty += not items
            right = [(identifier, item["id"]) in together for item in items]
            total += sum(right) / K
            if scope == "all":
                for item, correct in zip(items, right, strict=True):
                    by_strength[item["strength"]].append(correct)
                    by_score.append((item["score"], correct))
        took = (time.perf_counter() - started) * 1000 / len(asked)
        print(f"| pml related, scope={scope} | {total / len(asked):.3f} | {empty} | {took:.1f} |")
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
    library.close()


if __name__ == "__main__":
    main()
