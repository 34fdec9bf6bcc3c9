"""One search entry point for every mode: full-text, semantic, and the two fused.

Hybrid search asks both rankers for their top candidates under the same
filters and visibility, and fuses the two rankings. Reciprocal rank fusion
(RRF) is the default: measured on ../shared/eval it beat a tuned weighted sum
of normalised scores (see docs/search.md), and it needs no score calibration
between BM25 and cosine similarity. The total and the facets count what either
ranker matched strongly or partially (_strength.py): weak matches may be listed,
labelled, but are not counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from indexer.filters import Filters
from indexer.format import taxonomy
from indexer.search import _expansion, _passages, _query, _strength, _typos
from indexer.search._fulltext import (
    Feedback,
    Hit,
    Results,
    SearchIndex,
    page_bounds,
)
from indexer.search._query import Expansion
from indexer.search._request import SORTED_WINDOW, SearchRequest
from indexer.search._semantic import SemanticIndex, Vector
from indexer.search._vectors import Match

FUSIONS = ("rrf", "weighted")
CANDIDATES = 100
# Reciprocal rank fusion: each ranking gives 1 / (RRF_K + rank), the standard
# constant (k=10 scored the same under cross-validation, issue 26, docs/search.md).
RRF_K = 60
# The semantic ranking's vote is its agreement with full-text's over this many
# top candidates (a page; `agreement`).
AGREEMENT_DEPTH = 10
SEMANTIC_WEIGHT = 0.6  # the weighted fusion's share for semantic scores


@dataclass(frozen=True)
class Tuning:
    """The few settings of ranking. Each was chosen by 5-fold cross-validation on
    ../shared/eval with benchmarks/eval_search.py (docs/search.md has the tables);
    none depends on a particular query, only on features any query has.
    """

    # Search for what a question is about, without its framing ("incidents
    # where ...", "what went wrong when ..."): _query.topic.
    framing: bool = True
    # The next two reorder full-text's ranking where it is fused with the
    # semantic one (hybrid mode); full-text mode ranks by the query's words
    # alone, because there neither earned its place (`Searcher._lexical`).
    # Adjacent query words that stand together in the text score more
    # (_fulltext_query.QueryBuilder.together: the indexed word pairs).
    proximity: bool = True
    # Pseudo-relevance feedback (_fulltext.py): this many words that the top
    # hits agree on reorder the query's matches, the strongest at this weight
    # of a query word (0: off).
    feedback_terms: int = 10
    feedback_weight: float = 0.3
    # Semantic mode lists its counted matches (strong and partial: enough of the
    # query's words, another name of what it describes, or close enough in
    # meaning; _strength.py) before the weak ones, each part in order of meaning
    # (`counted_first`).
    counted_first: bool = True

    @property
    def feedback(self) -> Feedback:
        return Feedback(self.feedback_terms, self.feedback_weight)


# A hybrid list holds full-text's matches and the postmortems at least this
# close (cosine, all-MiniLM-L6-v2): below it, passages share little more than
# the register of incident writing. It never orders: cutting either ranking
# at it lost relevant postmortems under cross-validation (docs/search.md).
MATCH_SIMILARITY = 0.30

DEFAULT_TUNING = Tuning()


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
    tuning: Tuning = DEFAULT_TUNING

    def search(
        self,
        text: str,
        filters: Filters | None = None,
        *,
        mode: str = "hybrid",
        limit: int = 10,
        offset: int = 0,
        groups: frozenset[str] = frozenset(),
        as_typed: bool = False,
        sort: str = "relevance",
    ) -> Results:
        """`run` for a request made of these arguments."""
        request = SearchRequest(
            text, filters or Filters(), groups, mode, sort, limit, offset, as_typed
        )
        return self.run(request)

    def run(self, request: SearchRequest) -> Results:
        """The one search pipeline, for every mode: what the query is about (its
        framing dropped), parsed once, ranked, then one page of hits with
        snippets, the count and the facets (`_page`), sorted as asked.

        A query with a word no visible postmortem contains finds little: it
        is corrected from the index's vocabulary (_typos.py) and the results
        are the correction's (`corrected`, `did_you_mean`), unless the
        correction matches nothing. `as_typed` turns that off.
        """
        about = self.about(request.text)
        results = self._sorted(request, about)
        results.query = request.text
        if request.as_typed or not about.strip():
            return results
        groups = request.groups
        parsed = _query.parse(about)
        suggestion = _typos.correct(
            parsed,
            lambda term: self.index.knows(term, groups),
            lambda prefix: self.index.vocabulary(prefix, groups),
            lambda term: self.index.spellings(term, groups),
        )
        if suggestion is None:
            return results
        # The unknown word matched nothing, so the correction can only add
        # matches; it is shown unless it finds nothing either.
        found = self._matches(suggestion, request.filters, groups)
        if found and found >= self._matches(parsed, request.filters, groups):
            better = self._sorted(request, suggestion)
            better.query, better.corrected = request.text, True
            better.did_you_mean = _framed(request.text, about, suggestion)
            return better
        results.did_you_mean = _framed(request.text, about, suggestion)
        return results

    def _matches(
        self, text: str | _query.ParsedQuery, filters: Filters, groups: frozenset[str]
    ) -> int:
        """How many postmortems the words of `text` match (full-text, with expansion)."""
        parsed = _query.parsed(text)
        expand = self.expansion(" ".join([*parsed.words, *parsed.phrases]))
        return self.index.summarize(parsed, filters, groups, expand).total

    def _sorted(self, request: SearchRequest, text: str) -> Results:
        """The page asked for; sorted by date, the SORTED_WINDOW best newest first.
        Without words, results are newest first already."""
        if request.sort != "date" or not text.strip():
            return self._page(request, text, request.limit, request.offset)
        found = self._page(request, text, SORTED_WINDOW, 0)
        newest = sorted(found.results, key=lambda hit: (hit.date, hit.id), reverse=True)
        found.results = newest[request.offset : request.offset + request.limit]
        found.total = min(found.total, SORTED_WINDOW)
        return found

    def _page(self, request: SearchRequest, text: str, limit: int, offset: int) -> Results:
        """Rank `text` in the request's mode, then build the page's hits, the count
        and the facets, the same way for every mode."""
        started = time.perf_counter()
        filters, groups, mode = request.filters, request.groups, request.mode
        parsed = _query.parse(text)
        if parsed.empty:  # nothing to rank: the library, newest first
            return self.index.search(
                text, filters, limit=limit, offset=offset, groups=groups, helpers=self.helpers
            )
        if mode == "hybrid" and not self.semantic.ready:
            mode = "fulltext"  # until the model is ready
        if mode != "fulltext" and not self.semantic.ready:
            raise SemanticUnavailable(_unavailable(self.semantic))
        limit, offset = page_bounds(limit, offset)
        expand = self.expansion(text)
        ready: dict[str, Hit] = {}

        def prepare(lexical: list[tuple[str, float]]) -> None:
            # While the semantic side is still running, make the display hits of
            # full-text's page: most of the fused page is among them.
            page = lexical[offset : offset + limit]
            ready.update((hit.id, hit) for hit in self.index.hits(page, parsed, {}, expand))

        if mode == "fulltext":
            ranked = self._lexical(parsed, filters, groups, offset + limit, expand, fused=False)
            matches: list[Match] = []
        else:
            k = max(CANDIDATES, offset + limit)
            ranked, matches = self.ranking(
                parsed, text, filters, mode, groups, k, expand, while_waiting=prepare
            )
        # The count and facets cover the strong and partial matches only (_strength.py).
        close = [m.postmortem_id for m in matches if _strength.counts(m.score)]
        among = [identifier for identifier, _ in ranked] if mode == "semantic" else None
        summary = self.helpers.submit(
            self.index.counted, parsed, filters, groups, expand, close=close, among=among
        )
        page = ranked[offset : offset + limit]
        hits = self.index.hits(page, parsed, self._best_passages(page, matches), expand, ready)
        closeness = {m.postmortem_id: m.score for m in matches}
        for hit in hits:
            similarity = closeness.get(hit.id)
            hit.similarity = round(similarity, 4) if similarity is not None else None
            hit.strength = _strength.grade(hit.coverage, hit.similarity, hit.named)
        counted = summary.result()
        took = round((time.perf_counter() - started) * 1000, 2)
        return Results(text, counted.total, took, hits, counted.facets, mode=mode)

    def _lexical(
        self,
        parsed: _query.ParsedQuery,
        filters: Filters,
        groups: frozenset[str],
        k: int,
        expand: Expansion,
        *,
        fused: bool,
    ) -> list[tuple[str, float]]:
        """Full-text's ranking. To be `fused` with the semantic ranking, proximity
        and feedback reorder it, as the tuning asks; on its own (full-text mode,
        or hybrid before the model is ready) it is BM25 over the query's words
        and their other names: under cross-validation, proximity and feedback
        earned their place in hybrid mode only (docs/search.md)."""
        if not fused:
            return self.index.rank(parsed, filters, groups, k, expand, proximity=False)
        tuning = self.tuning
        return self.index.rank(
            parsed, filters, groups, k, expand, feedback=tuning.feedback, proximity=tuning.proximity
        )

    def _best_passages(
        self, page: list[tuple[str, float]], matches: list[Match]
    ) -> dict[str, tuple[str, str]]:
        """Each hit's closest passage (heading, text without its prefix): its snippet."""
        best = {m.postmortem_id: m.ordinal for m in matches}
        keys = [(identifier, best[identifier]) for identifier, _ in page if identifier in best]
        return {
            key[0]: (row.heading, _passages.passage_text(row.text, row.heading))
            for key, row in self.semantic.passages(keys).items()
        }

    def about(self, text: str) -> str:
        """What both rankers search for: the query without its framing words."""
        return _query.topic(text) if self.tuning.framing else text

    def expansion(self, text: str) -> Expansion:
        """What the query also means (_expansion.py), as the tuning asks."""
        return _expansion.expand(self.vocabulary, text)

    def ranking(
        self,
        parsed: _query.ParsedQuery,
        text: str,
        filters: Filters,
        mode: str,
        groups: frozenset[str],
        k: int,
        expand: Expansion,
        while_waiting: Callable[[list[tuple[str, float]]], None] | None = None,
    ) -> tuple[list[tuple[str, float]], list[Match]]:
        """The semantic or hybrid ranking (id, score), best first, and the semantic matches.

        In hybrid mode, `while_waiting` is given the full-text ranking if it is
        ready before the semantic side (the query's embedding and the vector
        product, on a helper thread), to use the wait.
        benchmarks/eval_search.py scores this same ranking.
        """
        if mode == "semantic":
            vector = self.semantic.query_vector(text)
            matches = self._semantic_matches(text, filters, groups, k, vector)
            if self.tuning.counted_first:
                matches = self.counted_first(parsed, matches, expand)
            return [(m.postmortem_id, round(m.score, 4)) for m in matches], matches
        # The query's embedding (traced torch) and the vector product run beside
        # full-text ranking: all of them release the interpreter lock.
        pending = self.helpers.submit(self._embedded_matches, text, filters, groups, k)
        lexical = self._lexical(parsed, filters, groups, k, expand, fused=True)
        if while_waiting is not None and not pending.done():
            while_waiting(lexical)
        _, matches = pending.result()
        return matched(fuse(lexical, matches, self.fusion), lexical, matches), matches

    def counted_first(
        self, parsed: _query.ParsedQuery, matches: list[Match], expand: Expansion
    ) -> list[Match]:
        """The semantic matches that count (strong or partial, as the page labels
        them) before the weak ones, each part in order of meaning.

        The page's total counts exactly these, so the list reads as the count
        says: a postmortem that holds the query's words, or is close enough in
        meaning, is never listed below one that is neither. Measured on the 80
        dev queries (docs/search.md): semantic 0.400 -> 0.448; in hybrid and
        full-text mode the same order lowered the figure, so it is semantic's.
        """
        words = self.index.enough_among(parsed, [m.postmortem_id for m in matches], expand)
        counted = [m for m in matches if m.postmortem_id in words or _strength.counts(m.score)]
        kept = {m.postmortem_id for m in counted}
        return counted + [m for m in matches if m.postmortem_id not in kept]

    def _embedded_matches(
        self, text: str, filters: Filters, groups: frozenset[str], k: int
    ) -> tuple[Vector | None, list[Match]]:
        """The query's vector and its semantic matches."""
        vector = self.semantic.query_vector(text)
        return vector, self._semantic_matches(text, filters, groups, k, vector)

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
        matches = found
        allowed = self.index.allowed([m.postmortem_id for m in matches], filters, groups)
        return [m for m in matches if m.postmortem_id in allowed][:k]


def fuse(
    lexical: Sequence[tuple[str, float]],
    semantic: Sequence[Match],
    fusion: str = "rrf",
    k: int = RRF_K,
    vote: float | None = None,
) -> list[tuple[str, float]]:
    """Combine a full-text and a semantic ranking into one, best first.

    RRF: each ranking gives 1 / (`k` + rank); the semantic ranking's share is
    weighed by `vote`, by default its `agreement` with full-text's (a fixed
    vote is what benchmarks/eval_search.py compares it with). Postmortems with
    the same score keep the semantic ranking's order.
    """
    scores: dict[str, float] = {}
    meaning: dict[str, float] = {}
    if fusion == "rrf":
        weight = agreement(lexical, semantic) if vote is None else vote
        for rank, (identifier, _) in enumerate(lexical):
            scores[identifier] = 1.0 / (k + rank + 1)
        for rank, match in enumerate(semantic):
            meaning[match.postmortem_id] = 1.0 / (k + rank + 1)
            scores[match.postmortem_id] = (
                scores.get(match.postmortem_id, 0.0) + weight * meaning[match.postmortem_id]
            )
    else:
        floor = MATCH_SIMILARITY
        top = lexical[0][1] if lexical else 1.0
        for identifier, score in lexical:
            scores[identifier] = (1 - SEMANTIC_WEIGHT) * score / (top or 1.0)
        for match in semantic:
            similarity = (match.score - floor) / (1 - floor)
            scores[match.postmortem_id] = (
                scores.get(match.postmortem_id, 0.0) + SEMANTIC_WEIGHT * similarity
            )
    ordered = sorted(
        scores.items(), key=lambda item: (-item[1], -meaning.get(item[0], 0.0), item[0])
    )
    return [(identifier, round(score, 6)) for identifier, score in ordered]


def agreement(
    lexical: Sequence[tuple[str, float]], semantic: Sequence[Match], depth: int = AGREEMENT_DEPTH
) -> float:
    """How far the semantic ranking agrees with full-text's: the share of its top
    `depth` that full-text's top `depth` holds too (of the shorter list's
    length). 1 when either ranking is empty: nothing to disagree with.

    Where meaning and words find different postmortems, the semantic ranking
    has usually drifted to the register of incident writing (the query's
    subject is in its words); where they agree, it knows what the query is
    about and its other candidates are worth a vote.
    """
    words = {identifier for identifier, _ in lexical[:depth]}
    meaning = [match.postmortem_id for match in semantic[:depth]]
    shorter = min(len(words), len(meaning))
    if not shorter:
        return 1.0
    return len(words.intersection(meaning)) / shorter


def matched(
    fused: list[tuple[str, float]],
    lexical: Sequence[tuple[str, float]],
    semantic: Sequence[Match],
) -> list[tuple[str, float]]:
    """The fused ranking of what matches: full-text's matches and the postmortems
    at least MATCH_SIMILARITY close. Every candidate votes in the fusion, so the
    order is that of both whole rankings; only the list is cut."""
    kept = {i for i, _ in lexical} | {
        m.postmortem_id for m in semantic if m.score >= MATCH_SIMILARITY
    }
    return [pair for pair in fused if pair[0] in kept]


def _framed(typed: str, about: str, corrected: str) -> str:
    """The corrected query as the user typed it: its framing words put back."""
    frame = typed.split()[: len(typed.split()) - len(about.split())]
    return " ".join([*frame, corrected])


def _unavailable(semantic: SemanticIndex) -> str:
    if semantic.state == "disabled":
        return "semantic search is switched off (PML_EMBEDDING_MODEL=none)"
    if semantic.state == "error":
        return f"semantic search is unavailable: {semantic.error}"
    return f"semantic search is not ready yet ({semantic.state}); full-text search works now"
