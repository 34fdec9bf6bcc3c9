"""Ranking-quality metrics for judged queries (the ../shared/eval format)."""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any


def _shared() -> Path:
    """The ../shared folder beside the checkout (a worktree may sit one level deeper)."""
    here = Path(__file__).resolve().parent.parent
    for folder in here.parents:
        if (folder / "shared" / "eval").is_dir():
            return folder / "shared"
    return here.parent / "shared"


SHARED = _shared()
QUERY_FILES = ("queries-dev.jsonl", "queries-dev2.jsonl", "queries-dev3.jsonl")


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """--corpus, --queries and --cache, as every evaluation over ../shared takes them."""
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus/public-postmortems.jsonl")
    parser.add_argument(
        "--queries",
        type=Path,
        nargs="+",
        default=[SHARED / "eval" / name for name in QUERY_FILES],
    )
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/pml-eval")


def load_queries(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def ndcg_at(ranked: list[str], judged: dict[str, int], k: int = 10) -> float:
    """nDCG@k with linear gains (the grade) and a 1/log2(rank+1) discount."""
    dcg = sum(judged.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:k]))
    ideal = sorted(judged.values(), reverse=True)[:k]
    idcg = sum(grade / math.log2(rank + 2) for rank, grade in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], judged: dict[str, int], k: int = 10) -> float:
    relevant = {doc for doc, grade in judged.items() if grade >= 1}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def score(runs: dict[str, list[str]], queries: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean nDCG@10 and recall@10, overall and per query kind. `runs`: qid -> ranked ids."""
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for query in queries:
        ranked = runs.get(query["qid"], [])
        pair = (ndcg_at(ranked, query["relevant"]), recall_at(ranked, query["relevant"]))
        groups["overall"].append(pair)
        groups[query["kind"]].append(pair)
    return {
        kind: {
            "ndcg@10": sum(p[0] for p in pairs) / len(pairs),
            "recall@10": sum(p[1] for p in pairs) / len(pairs),
            "queries": len(pairs),
        }
        for kind, pairs in groups.items()
    }
