"""The full-text queries: what a parsed query asks tantivy, built for one index's schema.

`SearchIndex` (`_fulltext`) stores and retrieves; the queries it runs are
made here: the text query with its proximity pairs and the other names of
what it describes (`_expansion`), pseudo-relevance feedback, the counting
queries of strong and partial matches, and the filters and visibility every
query runs under.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import tantivy

from indexer.filters import Filters
from indexer.search import _query, _schema, _strength
from indexer.search._query import Expansion, ParsedQuery

EXPANSION_BOOST = 2.0
# Another name for what the query describes counts at this share of a query word
# (measured on ../shared/eval: flat between 0.7 and 1.0, see _expansion.py).
PHRASE_BOOST = 0.7
# Query words that stand together in the text (`together`) add this share of
# a word's score for each adjacent pair.
PAIR_BOOST = 1.0
FEW_IDS = 64  # up to this many ids, a query for them is a list of term queries
PARSED_QUERIES = 256
# Pseudo-relevance feedback (RM3-like, `feedback`): words that stand out in the
# top FEEDBACK_DOCS hits of the query as typed (ranked without proximity: as
# good a choice of hits under cross-validation, and cheaper) reorder its
# matches. A word must occur in at least FEEDBACK_AGREEMENT of those hits, so one
# odd hit cannot steer.
FEEDBACK_DOCS = 5
FEEDBACK_AGREEMENT = 2


@dataclass(frozen=True)
class Feedback:
    """How many feedback words join a query (0: none) and their weight at most."""

    terms: int = 0
    weight: float = 0.0


NO_FEEDBACK = Feedback()


def asked_words(parsed: ParsedQuery) -> frozenset[str]:
    """The query's own words as the index stores them (what `coverage` counts)."""
    return frozenset(_schema.analyze(" ".join([*parsed.words, *parsed.phrases])))


def day_number(value: date) -> int:
    """A date as the `day` field holds it: YYYYMMDD."""
    return value.year * 10000 + value.month * 100 + value.day


class QueryBuilder:
    """The queries of one index: its schema, and its parser for the query syntax."""

    def __init__(self, schema: tantivy.Schema, index: tantivy.Index) -> None:
        self.schema = schema
        self._index = index
        self._queries: dict[str, tantivy.Query] = {}

    def text_query(
        self, parsed: _query.ParsedQuery, expand: Expansion, proximity: bool = True
    ) -> tantivy.Query:
        if parsed.empty:
            base = tantivy.Query.all_query()
            if not parsed.excluded:
                return base
            return tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, base), (tantivy.Occur.MustNot, self.excluded(parsed))]
            )
        base = self.parse(parsed.tantivy_syntax())
        clauses = [(tantivy.Occur.Should, base)]
        if proximity and (together := self.together(parsed)) is not None:
            clauses.append((tantivy.Occur.Should, together))
        if expand.error_classes:
            tagged = tantivy.Query.term_set_query(
                self.schema, "error_class", list(expand.error_classes)
            )
            clauses.append(
                (tantivy.Occur.Should, tantivy.Query.boost_query(tagged, EXPANSION_BOOST))
            )
        if (other_names := self.other_names(expand.phrases)) is not None:
            clauses.append(
                (tantivy.Occur.Should, tantivy.Query.boost_query(other_names, PHRASE_BOOST))
            )
        if len(clauses) == 1:
            return base
        if parsed.excluded:  # an excluded word excludes whatever clause matched
            clauses.append((tantivy.Occur.MustNot, self.excluded(parsed)))
        return tantivy.Query.boolean_query(clauses)

    def together(self, parsed: _query.ParsedQuery) -> tantivy.Query | None:
        """Adjacent query words that also stand together in the text score more
        ("split brain" beats a text that says "split" and, elsewhere, "brain").

        Each pair of adjacent words is one term of the `pairs` field, so this
        costs a term query per pair, not a phrase query reading positions in
        every postmortem that holds both words. Stop words are gone on both
        sides: "out of memory" asks for out_memori, which "ran out of memory"
        holds. A query word next to a stop word ("out" of "out of") counts
        once more in the body, as it did in the phrase queries this replaces
        (measured: docs/search.md).
        """
        clauses = [
            tantivy.Query.term_query(self.schema, "body", alone[0])
            for first, second in itertools.pairwise(parsed.words)
            if len(alone := _schema.analyze(f"{first} {second}")) == 1
        ]
        words = _schema.analyze(" ".join(parsed.words))
        clauses += [tantivy.Query.boost_query(q, PAIR_BOOST) for q in self.pair_terms(words)]
        if not clauses:
            return None
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, c) for c in clauses])

    def other_names(self, names: Sequence[str]) -> tantivy.Query | None:
        """Expansion's other names for what the query describes, each matched as a whole.

        A name of several words matches the body through the `pairs` field
        (each adjacent pair of its analysed words, all of them): term
        queries, where phrase queries read the positions of its words in
        every postmortem holding them all (at 10,000 synthetic postmortems,
        the slowest 1% of searches went from ~12 to ~5 ms to rank).
        As with proximity, stop words are gone on both sides: "fail over"
        is fail_over in "we had to fail over the primary".
        """
        clauses = []
        for name in names:
            cleaned = _query.clean(name)
            words = _schema.analyze(cleaned)
            if len(words) < 2:
                if words:  # one word: a term query
                    clauses.append((tantivy.Occur.Should, self.parse(f'"{cleaned}"')))
                continue
            pairs = self.pair_terms(words)
            whole = (
                pairs[0]
                if len(pairs) == 1
                else tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in pairs])
            )
            clauses.append((tantivy.Occur.Should, whole))
        return _any(clauses)

    def pair_terms(self, words: list[str]) -> list[tantivy.Query]:
        """A term query on the `pairs` field for each two adjacent analysed words."""
        return [
            tantivy.Query.term_query(self.schema, "pairs", _schema.pair(first, second))
            for first, second in itertools.pairwise(words)
        ]

    def excluded(self, parsed: _query.ParsedQuery) -> tantivy.Query:
        return self.parse(" ".join(f'"{word}"' for word in parsed.excluded))

    def parse(self, syntax: str) -> tantivy.Query:
        """Parse (about 1 ms for a long query); one search parses the same text several times."""
        query = self._queries.get(syntax)
        if query is None:
            # Exclusions are part of the syntax; every term is quoted, so nothing is an operator.
            query, _errors = self._index.parse_query_lenient(syntax, list(_schema.TEXT_FIELDS))
            if len(self._queries) >= PARSED_QUERIES:
                self._queries.pop(next(iter(self._queries)), None)
            self._queries[syntax] = query
        return query

    def ids_query(self, ids: Sequence[str]) -> tantivy.Query:
        """These postmortems. A few term queries cost 0.04 ms where a term set costs 0.3."""
        if len(ids) > FEW_IDS:
            return tantivy.Query.term_set_query(self.schema, "id", list(ids))
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(self.schema, "id", i)) for i in ids]
        )

    def feedback(
        self,
        searcher: tantivy.Searcher,
        text_query: tantivy.Query,
        first: tantivy.Query,
        parsed: ParsedQuery,
        feedback: Feedback,
    ) -> tantivy.Query | None:
        """`text_query` reordered by the words the top hits of `first` agree on (None: as it is).

        Feedback words only reorder what the query matches: they never add a
        postmortem, so the count, the facets, a list sorted by date and a
        quoted phrase's matches are those of the query as typed (re-ranking
        alone kept all of feedback's gain under cross-validation).

        The top hits are the first FEEDBACK_DOCS hits of `first` (the query
        without proximity: it matches the same postmortems at a fraction of
        the cost, or the query itself), under the search's filters and
        visibility. The words weigh by how much of each top hit they are and
        how rare they are in the library (tf * idf, summed over the hits),
        scaled so the strongest counts `feedback.weight` of a query word.
        """
        top = searcher.search(first, FEEDBACK_DOCS, count=False).hits
        if len(top) < FEEDBACK_AGREEMENT:
            return None
        asked = set(_schema.analyze(" ".join([*parsed.words, *parsed.phrases])))
        weights: dict[str, float] = {}
        seen: Counter[str] = Counter()
        for _, address in top:
            counts, length = _schema.terms_of(searcher.doc(address)["terms"][0])
            length -= sum(counts.pop(word, 0) for word in asked)
            for word, count in counts.items():
                if len(word) > 2 and not word.isdigit():
                    weights[word] = weights.get(word, 0.0) + count / length
                    seen[word] += 1
        total = searcher.num_docs
        scored = []
        for word, share in weights.items():
            if seen[word] < FEEDBACK_AGREEMENT:
                continue
            found_in = searcher.doc_freq("body", word)
            if found_in * 2 > total:  # in most postmortems: says nothing about this one
                continue
            scored.append((share * math.log((total + 1) / (found_in + 0.5)), word))
        chosen = sorted(scored, reverse=True)[: feedback.terms]
        if not chosen or chosen[0][0] <= 0:
            return None
        strongest = chosen[0][0]
        extra = [
            (
                tantivy.Occur.Should,
                tantivy.Query.boost_query(
                    tantivy.Query.term_query(self.schema, "body", word),
                    feedback.weight * score / strongest,
                ),
            )
            for score, word in chosen
            if score > 0
        ]
        clauses = [(tantivy.Occur.Must, text_query), *extra]
        if parsed.excluded:  # an excluded word excludes feedback matches too
            clauses.append((tantivy.Occur.MustNot, self.excluded(parsed)))
        return tantivy.Query.boolean_query(clauses)

    # Counting: what the count and facets of a search are over.

    def summary_query(
        self, parsed: ParsedQuery, expand: Expansion, ids: Sequence[str]
    ) -> tantivy.Query | None:
        """What the text matches plus `ids` (semantic matches); None when nothing can."""
        clauses = []
        if not parsed.empty:
            clauses.append((tantivy.Occur.Should, self.text_query(parsed, expand, proximity=False)))
        if ids:
            clauses.append((tantivy.Occur.Should, self.ids_query(ids)))
        return _any(clauses)

    def counted_query(
        self,
        parsed: ParsedQuery,
        expand: Expansion,
        close: Sequence[str],
        among: Sequence[str] | None,
    ) -> tantivy.Query | None:
        """The strong and partial matches: the postmortems holding enough of the query's own
        words, plus `close`; `among`: only these may count. None when nothing can."""
        clauses = []
        enough = self.enough(parsed, expand)
        if enough is not None:
            matches = [(tantivy.Occur.Must, enough)]
            # Holding enough of the query's words is matching it, unless it asks for a
            # phrase (words together) or excludes words: only then is the text
            # query needed too (it doubles the count's cost).
            if parsed.phrases or parsed.excluded:
                text = self.text_query(parsed, expand, proximity=False)
                matches.append((tantivy.Occur.Must, text))
            if among is not None:
                matches.append((tantivy.Occur.Must, self.ids_query(among)))
            clauses.append((tantivy.Occur.Should, tantivy.Query.boolean_query(matches)))
        if close:
            clauses.append((tantivy.Occur.Should, self.ids_query(close)))
        return _any(clauses)

    def counting_query(
        self, parsed: ParsedQuery, plain: tantivy.Query, expand: Expansion
    ) -> tantivy.Query | None:
        """Full-text's counted matches: everything `plain` matches without words, else the
        strong and partial among them. None when nothing can be."""
        if parsed.empty:
            return plain
        enough = self.enough(parsed, expand)
        if enough is None:
            return None
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, plain), (tantivy.Occur.Must, enough)]
        )

    def enough(self, parsed: ParsedQuery, expand: Expansion) -> tantivy.Query | None:
        """The postmortems that are at least partial matches by their words: holding
        enough of the query's words (`_strength.PARTIAL_COVERAGE` of them), or another
        name of what it describes (`named_query`). None when nothing can be.

        One boolean query with a minimum number of words that must match, so
        the count and facets come from one aggregation, however many match.
        """
        asked = sorted(asked_words(parsed))
        clauses = []
        if asked:
            needed = next(
                held
                for held in range(1, len(asked) + 1)
                if _strength.grade(held / len(asked), None) != "weak"
            )
            words = [
                (tantivy.Occur.Should, tantivy.Query.term_query(self.schema, "body", word))
                for word in asked
            ]
            clauses.append((tantivy.Occur.Should, tantivy.Query.boolean_query(words, needed)))
        if (other_names := self.named_query(expand)) is not None:
            clauses.append((tantivy.Occur.Should, other_names))
        return _any(clauses)

    def named_query(self, expand: Expansion) -> tantivy.Query | None:
        """Postmortems tagged with an error class the query names, or holding another name."""
        clauses = []
        if expand.error_classes:
            tagged = tantivy.Query.term_set_query(
                self.schema, "error_class", list(expand.error_classes)
            )
            clauses.append((tantivy.Occur.Should, tagged))
        if (other_names := self.other_names(expand.phrases)) is not None:
            clauses.append((tantivy.Occur.Should, other_names))
        return _any(clauses)

    # What every query runs under.

    def filtered(
        self, text_query: tantivy.Query, filters: Filters, visible: tantivy.Query | None
    ) -> tantivy.Query:
        """`text_query` under the filters, and among `visible` when given."""
        clauses = [(tantivy.Occur.Must, text_query)]
        for name, values in filters.active().items():
            clauses.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.const_score_query(
                        tantivy.Query.term_set_query(self.schema, name, values), 0.0
                    ),
                )
            )
        if filters.since or filters.until:
            lower = day_number(filters.since) if filters.since else None
            upper = day_number(filters.until) if filters.until else None
            clauses.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.const_score_query(
                        tantivy.Query.range_query(
                            self.schema, "day", tantivy.FieldType.Integer, lower, upper
                        ),
                        0.0,
                    ),
                )
            )
        if visible is not None:
            clauses.append((tantivy.Occur.Must, visible))
        return tantivy.Query.boolean_query(clauses)

    def visible(self, groups: frozenset[str]) -> tantivy.Query:
        """Postmortems `groups` may see: internal ones, and those with an audience in common."""
        visible = [
            (tantivy.Occur.Should, tantivy.Query.term_query(self.schema, "visibility", "internal"))
        ]
        if groups:
            visible.append(
                (
                    tantivy.Occur.Should,
                    tantivy.Query.term_set_query(self.schema, "audience", sorted(groups)),
                )
            )
        return tantivy.Query.const_score_query(tantivy.Query.boolean_query(visible), 0.0)


def _any(clauses: list[tuple[tantivy.Occur, tantivy.Query]]) -> tantivy.Query | None:
    """Whatever any of the (Should) clauses matches; None when there are none."""
    return tantivy.Query.boolean_query(clauses) if clauses else None
