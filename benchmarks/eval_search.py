"""Relevance harness: nDCG@10 and recall@10 per search mode and query kind.

    python benchmarks/eval_search.py [--corpus FILE] [--queries FILE] [--fusion rrf|weighted]

Writes the corpus out as a library, indexes it (full-text and embeddings with
PML_EMBEDDING_MODEL, default the packaged all-MiniLM-L6-v2), runs every query
in every mode and prints one table. Defaults read ../shared.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import write_library
from benchmarks.relevance import load_queries, score
from indexer.config import Settings
from indexer.library import Library

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
MODES = ("fulltext", "semantic", "hybrid")
KINDS = ("overall", "keyword", "paraphrase", "question")


def evaluate(
    library: Library, queries: list[dict[str, object]]
) -> dict[str, dict[str, dict[str, float]]]:
    table = {}
    for mode in MODES:
        runs = {
            str(q["qid"]): [
                h.id for h in library.searcher.search(str(q["query"]), mode=mode).results
            ]
            for q in queries
        }
        table[mode] = score(runs, queries)  # type: ignore[arg-type]
    return table


def print_table(table: dict[str, dict[str, dict[str, float]]]) -> None:
    print(f"{'mode':<10}" + "".join(f"{kind:>22}" for kind in KINDS))
    print(f"{'':<10}" + "".join(f"{'nDCG@10  recall@10':>22}" for _ in KINDS))
    for mode, scores in table.items():
        cells = "".join(
            f"{scores[k]['ndcg@10']:>13.3f}{scores[k]['recall@10']:>9.3f}" for k in KINDS
        )
        print(f"{mode:<10}{cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus/public-postmortems.jsonl")
    parser.add_argument("--queries", type=Path, default=SHARED / "eval/queries-dev.jsonl")
    parser.add_argument("--fusion", choices=["rrf", "weighted"], default="rrf")
    parser.add_argument("--model", default=None, help="PML_EMBEDDING_MODEL to use")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pml-eval-") as tmp:
        folder = Path(tmp) / "library"
        write_library(args.corpus, folder)
        overrides = {"embedding_model": args.model} if args.model else {}
        settings = Settings(
            library=folder, data_dir=Path(tmp) / "data", search_fusion=args.fusion, **overrides
        )
        library = Library.open(settings)
        library.refresh()
        started = time.perf_counter()
        embedded = library.semantic.sync()
        print(
            f"embedded {embedded} passages in {time.perf_counter() - started:.1f}s "
            f"({library.semantic.status()})"
        )
        print_table(evaluate(library, load_queries(args.queries)))
        library.close()


if __name__ == "__main__":
    main()
