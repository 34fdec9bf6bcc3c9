"""Nearest-neighbour search over passage vectors, ranked per postmortem.

`ExactVectorIndex` multiplies the query with every passage vector (a single
matrix product: a few milliseconds at 100k passages) and keeps each
postmortem's best passage. With `half`, the product reads a float16 copy
of the matrix through torch (loaded anyway with the embedding model): the
product is bound by reading the matrix, and torch's float16 one took 2.6 ms
where numpy's float32 one took 7 ms at 45,000 passages on one core. Cosines
moved by at most 2e-4 (measured on unit vectors; float16 keeps 11
significant bits). Callers only use `search`, `vectors_of` and
`document_vectors`, so an approximate index can replace it behind the same
methods when a library outgrows exact search.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from indexer.search._embeddings import Vectors, normalise

# numpy's BLAS runs on one thread (see `single_threaded_blas`): its own helper
# threads spin after every product and took a core from the request's other
# work (full-text ranking and the query embedding slowed down twofold). Large
# products are cut into row blocks instead, one per core, on a pool the owner
# of the index passes in (the library's, created and shut down with it).
CORES = os.cpu_count() or 1
BLOCK_ROWS = 8192


def single_threaded_blas() -> None:
    """Limit numpy's BLAS to one thread for this process (see `_scores`)."""
    threadpool_limits(1, user_api="blas")


def _scores(matrix: Vectors, query: Vectors, pool: Executor | None) -> Vectors:
    """matrix @ query, in row blocks on every core when the matrix is large."""
    parts = min(CORES, len(matrix) // BLOCK_ROWS)
    if parts <= 1 or pool is None:
        scores: Vectors = matrix @ query
        return scores
    out = np.empty(len(matrix), dtype=np.float32)
    bounds = np.linspace(0, len(matrix), parts + 1).astype(int).tolist()
    blocks = list(itertools.pairwise(bounds))
    pending = [pool.submit(np.dot, matrix[a:b], query, out[a:b]) for a, b in blocks[1:]]
    start, end = blocks[0]
    np.dot(matrix[start:end], query, out[start:end])
    for future in pending:
        future.result()
    return out


def _to_half(matrix: Vectors) -> Any:
    import torch

    return torch.from_numpy(matrix.astype(np.float16))  # a writable copy; the matrix may not be


def _half_scores(matrix: Any, query: Vectors, pool: Executor | None) -> Vectors:
    """matrix @ query for a torch float16 `matrix`, in row blocks like `_scores`."""
    import torch  # loaded with the embedding model; only a half index gets here

    vector = torch.from_numpy(query).to(torch.float16)
    parts = min(CORES, len(matrix) // BLOCK_ROWS)
    if parts <= 1 or pool is None:
        single: Vectors = torch.mv(matrix, vector).float().numpy()
        return single
    out = torch.empty(len(matrix), dtype=torch.float16)
    bounds = np.linspace(0, len(matrix), parts + 1).astype(int).tolist()
    blocks = list(itertools.pairwise(bounds))
    pending = [pool.submit(torch.mv, matrix[a:b], vector, out=out[a:b]) for a, b in blocks[1:]]
    start, end = blocks[0]
    torch.mv(matrix[start:end], vector, out=out[start:end])
    for future in pending:
        future.result()
    scores: Vectors = out.float().numpy()
    return scores


@dataclass(frozen=True)
class Match:
    postmortem_id: str
    score: float
    ordinal: int  # the best-matching passage


class ExactVectorIndex:
    """Passage vectors grouped by postmortem: rows of one postmortem are contiguous."""

    def __init__(
        self,
        postmortem_ids: list[str],
        ordinals: list[int],
        matrix: Vectors,
        blocks: Executor | None = None,
        half: bool = False,
    ) -> None:
        self.blocks = blocks
        self.ordinals = np.asarray(ordinals, dtype=np.int32)
        self.matrix = matrix  # float32: related lists and feedback read it
        self._half = _to_half(matrix) if half and len(matrix) else None
        starts = [0] + [
            i for i in range(1, len(postmortem_ids)) if postmortem_ids[i] != postmortem_ids[i - 1]
        ]
        self.starts = np.asarray(starts, dtype=np.int64)
        self.ids = [postmortem_ids[i] for i in starts] if postmortem_ids else []
        self.position = {identifier: n for n, identifier in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def passages(self) -> int:
        return int(self.matrix.shape[0])

    def _segment(self, n: int) -> slice:
        end = int(self.starts[n + 1]) if n + 1 < len(self.starts) else self.passages
        return slice(int(self.starts[n]), end)

    def search(self, query: Vectors, k: int) -> list[Match]:
        """The `k` postmortems closest to `query` (a unit vector), best first:
        a postmortem scores its best passage's cosine (mixing in its mean
        vector's did not help under cross-validation, docs/search.md)."""
        if not self.ids or k <= 0:
            return []
        if self._half is None:
            scores = _scores(self.matrix, query, self.blocks)
        else:
            scores = _half_scores(self._half, query, self.blocks)
        # Rounded: the product's last bits depend on the matrix's shape (BLAS
        # blocking), and a reader's list must not change with postmortems they
        # cannot see; equal scores then rank in id order (the rows' order).
        passage_best = np.maximum.reduceat(scores, self.starts)
        best = np.round(passage_best, 5)
        k = min(k, len(best))
        top = np.argpartition(-best, k - 1)[:k]
        top = top[np.lexsort((top, -best[top]))]  # ties: the rows' (ids') order
        # Each top postmortem's best passage: the first of its rows that scores its best.
        counts = np.diff(self.starts, append=self.passages)
        rows = np.flatnonzero(scores == np.repeat(passage_best, counts))
        owners = np.searchsorted(self.starts, rows, side="right") - 1
        owner_list, first = np.unique(owners, return_index=True)
        best_row = np.empty(len(best), dtype=np.int64)
        best_row[owner_list] = rows[first]
        found = zip(
            top.tolist(), best[top].tolist(), self.ordinals[best_row[top]].tolist(), strict=True
        )
        return [Match(self.ids[n], score, ordinal) for n, score, ordinal in found]

    def vectors_of(self, postmortem_id: str) -> tuple[npt.NDArray[np.int32], Vectors]:
        """(ordinals, vectors) of one postmortem's passages; empty if unknown."""
        n = self.position.get(postmortem_id)
        if n is None:
            return np.zeros(0, dtype=np.int32), np.zeros((0, self.matrix.shape[1]), np.float32)
        segment = self._segment(n)
        return self.ordinals[segment], self.matrix[segment]

    @cached_property
    def _documents(self) -> Vectors:
        if not self.ids:
            return np.zeros((0, self.matrix.shape[1] if self.matrix.ndim == 2 else 0), np.float32)
        sums = np.add.reduceat(self.matrix, self.starts, axis=0)
        return normalise(sums.astype(np.float32))

    def document_vectors(self) -> Vectors:
        """One unit vector per postmortem (the mean of its passages), in `self.ids` order."""
        return self._documents
