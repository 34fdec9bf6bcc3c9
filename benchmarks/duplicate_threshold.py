"""Measure document-vector similarity of distinct postmortems versus edited copies.

    python benchmarks/duplicate_threshold.py

Negatives: every pair of distinct postmortems in the sample library and in
the public corpus (../shared). Positives: each sample postmortem against a
copy rewritten the way a second author would file the same incident (new
title, another section order, a section dropped, a sentence added). The
duplicate threshold in indexer/search/_related.py sits between the two.
"""

from __future__ import annotations

import json
import random
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import write_library
from indexer.config import Settings
from indexer.library import Library

ROOT = Path(__file__).resolve().parent.parent
THRESHOLDS = (0.92, 0.94, 0.95, 0.96)
CORPUS = ROOT.parent / "shared" / "corpus" / "public-postmortems.jsonl"


def rewrite(text: str, rng: random.Random) -> str:
    """The same incident as another author might file it."""
    head, body = text.split("\n---\n", 1)
    title = re.search(r"^title: (.*)$", head, flags=re.M)
    if title:
        new_title = json.dumps("Incident report - " + title.group(1).strip("'\""))
        head = head.replace(title.group(0), f"title: {new_title}", 1)
    head = re.sub(r"^id: .*$", "", head, count=1, flags=re.M)
    sections = re.split(r"(?m)^(?=## )", body)
    lead, parts = sections[0], sections[1:]
    if len(parts) > 3:
        parts.pop(rng.randrange(len(parts)))
        rng.shuffle(parts)
    parts.append("## Notes\nFiled separately by the on-call engineer before the review.\n")
    return f"{head}\n---\n{lead}{''.join(parts)}"


def vectors_of(folder: Path, data: Path) -> tuple[list[str], np.ndarray]:
    library = Library.open(Settings(library=folder, data_dir=data))
    library.refresh()
    library.semantic.sync()
    assert library.semantic.vectors is not None
    ids, docs = library.semantic.vectors.ids, library.semantic.vectors.document_vectors()
    library.close()
    return ids, docs


def distinct_max(docs: np.ndarray) -> np.ndarray:
    grid = docs @ docs.T
    np.fill_diagonal(grid, -1)
    return grid[np.triu_indices(len(docs), 1)]


def report(name: str, values: np.ndarray) -> None:
    print(
        f"{name:<34} n={len(values):>6}  max={values.max():.3f}  "
        f"p99.9={np.percentile(values, 99.9):.3f}  p99={np.percentile(values, 99):.3f}  "
        f"median={np.median(values):.3f}  min={values.min():.3f}"
    )
    shares = "  ".join(f">={t:.2f}: {np.mean(values >= t):.1%}" for t in THRESHOLDS)
    print(f"{'':<34} {shares}")


def main() -> None:
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "sample"
        edited = Path(tmp) / "edited"
        originals = sorted((ROOT / "postmortems").rglob("[0-9]*.md"))
        for path in originals:
            for folder, text in (
                (sample, path.read_text()),
                (edited, rewrite(path.read_text(), rng)),
            ):
                target = folder / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
        ids, docs = vectors_of(sample, Path(tmp) / "d1")
        report("distinct pairs, sample library", distinct_max(docs))
        edited_ids, edited_docs = vectors_of(edited, Path(tmp) / "d2")
        position = {i: n for n, i in enumerate(edited_ids)}
        positives = np.array(
            [float(docs[n] @ edited_docs[position[i]]) for n, i in enumerate(ids) if i in position]
        )
        report("rewritten copy vs original", positives)
        if CORPUS.is_file():
            write_library(CORPUS, Path(tmp) / "corpus")
            _, corpus_docs = vectors_of(Path(tmp) / "corpus", Path(tmp) / "d3")
            report("distinct pairs, public corpus", distinct_max(corpus_docs))


if __name__ == "__main__":
    main()
