"""One search entry point for every mode: full-text, semantic, and the two fused.

Hybrid search asks both rankers for their top candidates under the same
filters and visibility, and fuses the two rankings. Reciprocal rank fusion
(RRF) is the default: measured on ../shared/eval it beat a tuned weighted sum
of normalised scores (see docs/search.md), and it needs no score calibration
between BM25 and cosine similarity. Facets and totals count everything either
ranker matched.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from indexer.filters import Filters
from indexer.format import taxonomy
from indexer.search import _expansion, _passages, _query
from indexer.search._fulltext import Results, SearchIndex, page_bounds
from indexer.search._query import Expansion, SearchQueryError
from indexer.search._semantic import SemanticIndex, Vector
from indexer.search._vectors import Match

MODES = ("hybrid", "fulltext", "semantic")
FUSIONS = ("rrf", "weighted")
# Measured on ../shared/eval (docs/search.md): k=20 edged out the customary 60; a
# smaller k trusts the top of each ranking more.
RRF_K = 20
# The semantic ranking's vote, relative to full-text's: about the ratio of their
# nDCG@10 alone (0.46 / 0.55); 0.8-0.9 beat equal votes at every k tried.
RRF_SEMANTIC_WEIGHT = 0.8
CANDIDATES = 100
# A postmortem counts as a semantic match when its best passage is at least this
# close to the query (cosine, all-MiniLM-L6-v2). Below it, passages share little
# more than the register of incident writing.
SEMANTIC_FLOOR = 0.30
SEMANTIC_WEIGHT = 0.6
EVERYTHING = _query.parse("")


class SemanticUnavailable(RuntimeError):
    """Semantic search was asked for but the model is not (yet) usable."""


@dataclass
class Searcher:
    """Everything a search needs: both indexes and the vocabulary for expansion."""

    index: SearchIndex
    semantic: SemanticIndex
    vocabulary: taxonomy.Taxonomy
    helpers: Executor  # runs the steps of a hybrid search that can go side by side
    fusion: str = "rrf"

    def search(
        self,
        text: str,
        filters: Filters | None = None,
        *,
        mode: str = "hybrid",
        limit: int = 10,
        offset: int = 0,
        groups: frozenset[str] = frozenset(),
    ) -> Results:
        if mode not in MODES:
            raise SearchQueryError(f"mode must be one of {', '.join(MODES)}, not '{mode}'")
        filters = filters or Filters()
        expand = _expansion.expand(self.vocabulary, text)
        if mode == "fulltext" or not text.strip() or (mode == "hybrid" and not self.semantic.ready):
            return self.index.search(
                text, filters, limit=limit, offset=offset, groups=groups, expand=expand
            )
        if not self.semantic.ready:
            raise SemanticUnavailable(_unavailable(self.semantic))
        return self._fused(text, filters, mode, limit, offset, groups, expand)

    def _fused(
        self,
        text: str,
        filters: Filters,
        mode: str,
        limit: int,
        offset: int,
        groups: frozenset[str],
        expand: Expansion,
    ) -> Results:
        started = time.perf_counter()
        limit, offset = page_bounds(limit, offset)
        parsed = _query.parse(text)
        k = max(CANDIDATES, offset + limit)
        # Independent steps run side by side on the helper threads: the query's
        # embedding (traced torch) beside full-text ranking, the count and facets
        # beside the page's passages and hits. All of them release the interpreter
        # lock (numpy's BLAS is single-threaded for this: see _vectors.py).
        if mode == "semantic":
            matches = self._semantic_matches(text, filters, groups, k)
            ranked = [(m.postmortem_id, round(m.score, 4)) for m in matches]
            ids = list(dict(ranked))
            summary = self.helpers.submit(
                self.index.summarize, EVERYTHING, filters, groups, ids=ids
            )
        else:
            vector = self.helpers.submit(self.semantic.query_vector, text)
            lexical = self.index.rank(parsed, filters, groups, k, expand)
            matches = self._semantic_matches(text, filters, groups, k, vector.result())
            ranked = fuse(lexical, matches, self.fusion)
            ids = [m.postmortem_id for m in matches]
            summary = self.helpers.submit(
                self.index.summarize, parsed, filters, groups, expand, ids=ids
            )
        page = ranked[offset : offset + limit]
        best = {m.postmortem_id: m.ordinal for m in matches}
        keys = [(identifier, best[identifier]) for identifier, _ in page if identifier in best]
        passages = {
            key[0]: (row.heading, _passages.passage_text(row.text, row.heading))
            for key, row in self.semantic.passages(keys).items()
        }
        hits = self.index.hits(page, parsed, passages, expand)
        counted = summary.result()
        took = round((time.perf_counter() - started) * 1000, 2)
        total = max(counted.total, len(ranked))
        return Results(text, total, took, hits, counted.facets, mode=mode)

    def _semantic_matches(
        self,
        text: str,
        filters: Filters,
        groups: frozenset[str],
        k: int,
        vector: Vector | None = None,
    ) -> list[Match]:
        # Filters are applied after the vector search, so ask for more when they are on.
        wide = k * 5 if not filters.empty else k * 2
        # Postmortems the reader may not see are set aside before the cut, so the
        # candidates are exactly those of a library without them.
        hidden = self.index.hidden_from(groups)
        found = self.semantic.search(text, wide + len(hidden or ()), vector)
        if hidden:
            found = [m for m in found if m.postmortem_id not in hidden][:wide]
        matches = [m for m in found if m.score >= SEMANTIC_FLOOR]
        allowed = self.index.allowed([m.postmortem_id for m in matches], filters, groups)
        return [m for m in matches if m.postmortem_id in allowed][:k]


def fuse(
    lexical: Sequence[tuple[str, float]], semantic: Sequence[Match], fusion: str = "rrf"
) -> list[tuple[str, float]]:
    """Combine a full-text and a semantic ranking into one, best first."""
    scores: dict[str, float] = {}
    if fusion == "rrf":
        for rank, (identifier, _) in enumerate(lexical):
            scores[identifier] = scores.get(identifier, 0.0) + 1.0 / (RRF_K + rank + 1)
        for rank, match in enumerate(semantic):
            vote = RRF_SEMANTIC_WEIGHT / (RRF_K + rank + 1)
            scores[match.postmortem_id] = scores.get(match.postmortem_id, 0.0) + vote
    else:
        top = lexical[0][1] if lexical else 1.0
        for identifier, score in lexical:
            scores[identifier] = (1 - SEMANTIC_WEIGHT) * score / (top or 1.0)
        for match in semantic:
            similarity = (match.score - SEMANTIC_FLOOR) / (1 - SEMANTIC_FLOOR)
            scores[match.postmortem_id] = (
                scores.get(match.postmortem_id, 0.0) + SEMANTIC_WEIGHT * similarity
            )
    ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return [(identifier, round(score, 6)) for identifier, score in ordered]


def _unavailable(semantic: SemanticIndex) -> str:
    if semantic.state == "disabled":
        return "semantic search is switched off (PML_EMBEDDING_MODEL=none)"
    if semantic.state == "error":
        return f"semantic search is unavailable: {semantic.error}"
    return f"semantic search is not ready yet ({semantic.state}); full-text search works now"
