"""The on-disk tantivy index: opening, writing, searching.

It stores postmortems and retrieves what a query matches; the queries
themselves are built by `_fulltext_query.QueryBuilder`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import tantivy

from indexer.filters import Filters
from indexer.format import markdown
from indexer.format.postmortem import Postmortem
from indexer.search import _query, _schema, _snippets, _strength
from indexer.search._fulltext_query import NO_FEEDBACK as NO_FEEDBACK
from indexer.search._fulltext_query import Feedback as Feedback
from indexer.search._fulltext_query import QueryBuilder, asked_words, day_number
from indexer.search._query import Expansion, ParsedQuery

MAX_LIMIT = 100
MAX_OFFSET = 10_000
FACET_SIZE = 50
_ERROR_TEXT = re.compile(r"[:=/\\\[\]()]|\d")  # what a pasted error message has, besides words
WRITER_HEAP = 64 * 1024 * 1024
VERSION_FILE = "SCHEMA_VERSION"
NO_EXPANSION = Expansion()
HELD_WORDS = 20  # query words per search when reading which words a hit holds
SEARCHER_SECONDS = 1.0
MAX_LIMITED = 10_000  # restricted postmortems held in memory for visibility checks
SPELLING_DOCS = 3  # postmortems read to learn how a stem is written
_WORDS = re.compile(r"[a-z0-9]+")


@dataclass
class Hit:
    id: str
    title: str
    date: str
    severity: str | None
    services: list[str]
    error_classes: list[str]
    score: float
    snippet: str
    section: str | None = None
    # How well it matches (_strength.py), and the signals that say so.
    strength: str = "weak"
    coverage: float = 0.0
    similarity: float | None = None
    named: bool = False  # it holds another name of what the query describes (expansion)
    # draft, in_review or published: pages mark the unfinished ones.
    status: str = "published"


@dataclass
class Results:
    query: str
    total: int
    took_ms: float
    results: list[Hit]
    facets: dict[str, dict[str, int]]
    mode: str = "fulltext"
    # A spelling the index knows better (_typos.py); `corrected`: the results
    # are for `did_you_mean`, not for `query` as typed.
    did_you_mean: str | None = None
    corrected: bool = False

    def as_dict(self) -> dict[str, Any]:
        """What `dataclasses.asdict` gives, without its deep copy (~1 ms a search)."""
        body = {f.name: getattr(self, f.name) for f in fields(self)}
        body["results"] = [
            {f.name: getattr(hit, f.name) for f in fields(hit)} for hit in self.results
        ]
        body["facets"] = {name: dict(counts) for name, counts in self.facets.items()}
        return body


def page_bounds(limit: int, offset: int) -> tuple[int, int]:
    return max(1, min(limit, MAX_LIMIT)), max(0, min(offset, MAX_OFFSET))


@dataclass(frozen=True)
class Highlight:
    """What a snippet marks: the query's stems, expansion names, an error message's size."""

    words: frozenset[str]
    phrases: tuple[_snippets.Phrase, ...]
    error_words: int = 0


def highlight_for(parsed: ParsedQuery, expand: Expansion) -> Highlight | None:
    if parsed.empty:
        return None
    words = asked_words(parsed)
    error = len(parsed.words) >= _snippets.ERROR_WORDS and _ERROR_TEXT.search(parsed.text)
    return Highlight(words, _snippets.phrases_of(expand.phrases), len(words) if error else 0)


def _passage_snippet(text: str, highlight: Highlight | None) -> str:
    """A passage with the query's words highlighted (HTML-escaped), or its opening."""
    if highlight is not None:
        found = _snippets.snippet(
            text, highlight.words, highlight.phrases, frozenset(), highlight.error_words
        )
        if found:
            return found
    return _snippets.opening(text)


def key(identifier: str) -> int:
    """The `key` fast field of a postmortem: a stable 63-bit hash of its id."""
    return int.from_bytes(hashlib.blake2b(identifier.encode(), digest_size=8).digest()) >> 1


@dataclass
class Counts:
    """How many postmortems a search matched, and their facet counts."""

    total: int
    facets: dict[str, dict[str, int]]


def document(postmortem: Postmortem) -> tantivy.Document:
    """The index document of a postmortem: text to rank on, keywords to filter on."""
    lead = [part for part in (postmortem.impact_summary, postmortem.trigger) if part]
    body = "\n".join([postmortem.title, *lead, markdown.plain_text(postmortem.sections)])
    values: dict[str, Any] = {
        "id": postmortem.id,
        "title": postmortem.title,
        "body": body,
        **_schema.body_fields(body),
        "headings": [s.heading for s in postmortem.sections if s.heading],
        "service": postmortem.services,
        "error_class": postmortem.error_classes,
        "contributing_factor": postmortem.contributing_factors,
        "severity": [postmortem.severity] if postmortem.severity else [],
        "type": [postmortem.type] if postmortem.type else [],
        "status": [postmortem.status],
        "team": postmortem.teams,
        "tag": postmortem.tags,
        "year": [str(postmortem.date.year)],
        "visibility": [postmortem.visibility],
        "audience": postmortem.audience,
        "day": day_number(postmortem.date),
        "key": key(postmortem.id),
    }
    return tantivy.Document(**{k: v for k, v in values.items() if v != []})


class Batch:
    """Adds and deletes that become visible together when the batch commits.

    Every write goes to both indexes: the whole library, and its shared twin
    that holds only the postmortems everyone may read.
    """

    def __init__(
        self,
        writer: tantivy.IndexWriter,
        shared: tantivy.IndexWriter,
        names: dict[int, str],
    ) -> None:
        self._writers = (writer, shared)
        self._shared = shared
        self.names = names

    def delete(self, identifier: str) -> None:
        for writer in self._writers:
            writer.delete_documents_by_term("id", identifier)

    def upsert(self, postmortem: Postmortem) -> None:
        self.delete(postmortem.id)
        made = document(postmortem)
        self._writers[0].add_document(made)
        if postmortem.visibility == "internal":
            self._shared.add_document(made)
        self.names[key(postmortem.id)] = postmortem.id

    def clear(self) -> None:
        for writer in self._writers:
            writer.delete_all_documents()


class SearchIndex:
    """A tantivy index in a folder (or in memory when `path` is None), with its shared twin.

    Full-text scores (BM25) depend on every document in an index: how rare a
    word is, how long documents are. Were restricted postmortems only filtered
    out, their words would still move the scores, facets and suggestions an
    outsider sees. So the index keeps a twin, `shared` (in `<path>-shared`),
    holding only the postmortems everyone may read, and `for_groups` hands a
    reader who may see no restricted postmortem that twin: their answers are
    exactly those of a library without restricted postmortems. Readers in an
    audience search the whole index (their scores may reflect other
    audiences' postmortems; docs/security.md says so).
    """

    def __init__(self, path: Path | None, *, twin_of: SearchIndex | None = None) -> None:
        self.path = path
        self.schema = _schema.build()
        self.rebuilt = False
        self.whole = twin_of or self  # the index with every postmortem
        # key -> id. A key is a hash of the id, so an entry never goes stale; keys
        # not seen yet are learned from their stored documents once.
        self._names: dict[int, str] = {}
        self._current: tuple[tantivy.Searcher, float] | None = None
        self._limited_cache: tuple[tantivy.Searcher, dict[str, frozenset[str]] | None] | None = None
        self._internal = tantivy.Query.term_query(self.schema, "visibility", "internal")
        self._index = self._open()
        self._index.register_tokenizer(_schema.ANALYZER, _schema.analyzer())
        self._index.register_tokenizer(_schema.PAIRS_ANALYZER, _schema.pairs_analyzer())
        self.queries = QueryBuilder(self.schema, self._index)
        self.shared = self
        if twin_of is None:
            twin_path = None if path is None else path.with_name(f"{path.name}-shared")
            self.shared = SearchIndex(twin_path, twin_of=self)
            # A twin that was lost, or left behind by a crash between the two
            # commits, no longer matches: index everything again.
            if self.shared.rebuilt or self.shared.count() != self._count_internal():
                self.rebuilt = True

    def _open(self) -> tantivy.Index:
        if self.path is None:
            self.rebuilt = True
            return tantivy.Index(self.schema)
        version_file = self.path / VERSION_FILE
        current = version_file.read_text().strip() if version_file.is_file() else None
        if current != str(_schema.SCHEMA_VERSION):
            # Another layout (or no index yet): the index is derived data, so start over.
            shutil.rmtree(self.path, ignore_errors=True)
            self.rebuilt = True
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            index = tantivy.Index(self.schema, path=str(self.path), reuse=True)
        except (OSError, ValueError):
            shutil.rmtree(self.path, ignore_errors=True)
            self.path.mkdir(parents=True)
            self.rebuilt = True
            index = tantivy.Index(self.schema, path=str(self.path), reuse=True)
        version_file.write_text(f"{_schema.SCHEMA_VERSION}\n")
        return index

    @contextmanager
    def batch(self) -> Iterator[Batch]:
        """Write both indexes, each in one transaction: committed on success, else rolled back.

        The whole index commits first. A crash before the twin commits leaves
        the two disagreeing, which the next start sees (and rebuilds both).
        """
        assert self.whole is self, "write through the whole index, not its twin"
        writer = self._index.writer(WRITER_HEAP, 1)
        twin = self.shared._index.writer(WRITER_HEAP // 2, 1)
        try:
            yield Batch(writer, twin, self._names)
            writer.commit()
            twin.commit()
            writer.wait_merging_threads()
            twin.wait_merging_threads()
        except BaseException:
            writer.rollback()
            twin.rollback()
            raise
        finally:
            del writer, twin
        self.reload()
        self.shared.reload()

    def for_groups(self, groups: frozenset[str]) -> SearchIndex:
        """The index a reader with `groups` searches: the shared twin, unless in an audience.

        With no restricted postmortems at all, the two hold the same documents
        and the whole index answers.
        """
        limited = self._limited(self._searcher())
        if limited is not None and not limited:
            return self
        if limited is not None and not any(audience & groups for audience in limited.values()):
            return self.shared
        return self

    def hidden_from(self, groups: frozenset[str]) -> set[str] | None:
        """Ids of the postmortems `groups` may not read (None: too many to list)."""
        limited = self.whole._limited(self.whole._searcher())
        if limited is None:
            return None
        return {identifier for identifier, audience in limited.items() if not audience & groups}

    def _count_internal(self) -> int:
        found = self._searcher().search(self._internal, 1, count=True)
        return int(getattr(found, "count", 0) or 0)

    def reload(self) -> None:
        self._index.reload()
        self._current = None

    def _searcher(self) -> tantivy.Searcher:
        """A searcher over the latest commit, shared for a moment.

        Opening one costs ~0.7 ms at 10,000 postmortems, and a hybrid search
        needs several. Commits made here replace it at once; commits by another
        process (`pml index` beside `pml serve`) show within SEARCHER_SECONDS.
        """
        current, now = self._current, time.monotonic()
        if current is None or now - current[1] > SEARCHER_SECONDS:
            current = self._current = (self._index.searcher(), now)
        return current[0]

    def count(self) -> int:
        return int(self._searcher().num_docs)

    def ids(self) -> set[str]:
        searcher = self._searcher()
        total = searcher.num_docs
        if not total:
            return set()
        hits = searcher.search(tantivy.Query.all_query(), limit=total, count=False).hits
        return set(self._identify(searcher, [address for _, address in hits]))

    def _identify(
        self, searcher: tantivy.Searcher, addresses: Sequence[tantivy.DocAddress]
    ) -> list[str]:
        """The ids of hits, read from the `key` fast field (no stored document is loaded)."""
        names = self._names
        ids = []
        for address, value in zip(
            addresses, searcher.fast_field_values("key", list(addresses)), strict=True
        ):
            identifier = names.get(value) if isinstance(value, int) else None
            if identifier is None:
                identifier = searcher.doc(address)["id"][0]
                names[key(identifier)] = identifier
            ids.append(identifier)
        return ids

    def search(
        self,
        text: str,
        filters: Filters | None = None,
        *,
        limit: int = 10,
        offset: int = 0,
        groups: frozenset[str] = frozenset(),
        expand: Expansion = NO_EXPANSION,
        feedback: Feedback = NO_FEEDBACK,
        proximity: bool = True,
        helpers: Executor | None = None,
    ) -> Results:
        """Full-text ranking for `text`; an empty text lists everything, newest first.

        `expand` is what the query also means (_expansion.py): error
        classes whose postmortems match too ("pool exhaustion" ->
        connection-pool-exhaustion) and other names for what it describes.
        With `helpers`, the count and facets are read on one of them while
        this thread ranks and writes snippets (tantivy lets go of the GIL).
        """
        started = time.perf_counter()
        limit, offset = page_bounds(limit, offset)
        parsed = _query.parse(text)
        searcher = self._searcher()
        filters = filters or Filters()
        text_query = self.queries.text_query(parsed, expand, proximity)
        query = self._combine(text_query, filters, groups, searcher)
        plain = self._plain(parsed, expand, filters, groups, searcher)
        summary: Future[Counts] | None = None
        if helpers is not None:
            summary = helpers.submit(self._counts, searcher, parsed, plain, expand)
        if parsed.empty:
            found = searcher.search(query, limit, count=False, offset=offset, order_by_field="day")
        else:
            query = self._feedback(
                searcher, text_query, query, parsed, filters, groups, feedback, first=plain
            )
            found = searcher.search(query, limit, count=False, offset=offset)
        snippets = highlight_for(parsed, expand)
        asked = asked_words(parsed)
        addresses = [address for _, address in found.hits]
        held = self._held(searcher, addresses, asked)
        hits = []
        for (score, address), words in zip(found.hits, held, strict=True):
            stored = searcher.doc(address)
            hit = self._hit(stored, float(score) if not parsed.empty else 0.0, snippets)
            if not parsed.empty:
                hit.coverage = round(_strength.coverage(asked, words), 3)
            hits.append(hit)
        if not parsed.empty:
            named = self._named(searcher, [hit.id for hit in hits], expand)
            for hit in hits:
                hit.named = hit.id in named
                hit.strength = _strength.grade(hit.coverage, None, hit.named)
        if summary is None:
            counts = self._counts(searcher, parsed, plain, expand)
        else:
            counts = summary.result()
        took = (time.perf_counter() - started) * 1000
        return Results(text, counts.total, round(took, 2), hits, counts.facets)

    # Building blocks for hybrid search (_hybrid.py): each takes the query parsed once.

    def rank(
        self,
        text: str | ParsedQuery,
        filters: Filters,
        groups: frozenset[str],
        k: int,
        expand: Expansion = NO_EXPANSION,
        *,
        proximity: bool = True,
        feedback: Feedback = NO_FEEDBACK,
    ) -> list[tuple[str, float]]:
        """The top `k` (id, score) pairs of the full-text ranking.

        `proximity` rewards query words that stand together (`_together`:
        term queries on indexed word pairs, ~0.2 ms for 10 hits of a 5-word
        query at 10,000 postmortems, where phrase queries took ~5 ms).
        """
        parsed = _query.parsed(text)
        if parsed.empty:
            return []
        searcher = self._searcher()
        text_query = self.queries.text_query(parsed, expand, proximity)
        query = self._combine(text_query, filters, groups, searcher)
        first = None
        if feedback.terms > 0 and proximity:
            first = self._plain(parsed, expand, filters, groups, searcher)
        query = self._feedback(
            searcher, text_query, query, parsed, filters, groups, feedback, first
        )
        found = searcher.search(query, k, count=False)
        ids = self._identify(searcher, [address for _, address in found.hits])
        return [
            (identifier, float(score))
            for identifier, (score, _) in zip(ids, found.hits, strict=True)
        ]

    def _plain(
        self,
        parsed: ParsedQuery,
        expand: Expansion,
        filters: Filters,
        groups: frozenset[str],
        searcher: tantivy.Searcher,
    ) -> tantivy.Query:
        """The query without proximity: it matches the same postmortems (proximity
        only reorders) at a fraction of the cost; it counts, and picks feedback's hits."""
        return self._combine(
            self.queries.text_query(parsed, expand, proximity=False), filters, groups, searcher
        )

    def _feedback(
        self,
        searcher: tantivy.Searcher,
        text_query: tantivy.Query,
        query: tantivy.Query,
        parsed: ParsedQuery,
        filters: Filters,
        groups: frozenset[str],
        feedback: Feedback,
        first: tantivy.Query | None = None,
    ) -> tantivy.Query:
        """`query` reordered by the words its top hits agree on (`QueryBuilder.feedback`;
        top hits of `first`, else of `query`), under the same filters; else as it is."""
        if feedback.terms <= 0:
            return query
        first = query if first is None else first
        reordered = self.queries.feedback(searcher, text_query, first, parsed, feedback)
        if reordered is None:
            return query
        return self._combine(reordered, filters, groups, searcher)

    def knows(self, term: str, groups: frozenset[str]) -> bool:
        """Does a postmortem visible to `groups` contain this analysed word?"""
        searcher = self._searcher()
        if not searcher.doc_freq("body", term):
            return False
        if self._sees_all(searcher, groups):  # every holder is visible: no need to ask
            return True
        query = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Must, tantivy.Query.term_query(self.schema, "body", term)),
                (tantivy.Occur.Must, self.queries.visible(groups)),
            ]
        )
        return bool(getattr(searcher.search(query, 1, count=True), "count", 0))

    def vocabulary(self, prefix: str, groups: frozenset[str]) -> list[tuple[str, int]]:
        """Analysed words starting with `prefix`, with how many visible postmortems hold each."""
        found = self._searcher().terms_with_prefix(
            "body", prefix, filter_query=self.queries.visible(groups)
        )
        return [(str(term), int(count)) for term, count in found]

    def spellings(self, term: str, groups: frozenset[str]) -> list[str]:
        """How visible postmortems write the analysed word `term` ("certif": "certificate")."""
        searcher = self._searcher()
        query = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Must, tantivy.Query.term_query(self.schema, "body", term)),
                (tantivy.Occur.Must, self.queries.visible(groups)),
            ]
        )
        start = term[:3]
        words: Counter[str] = Counter()
        for _, address in searcher.search(query, SPELLING_DOCS, count=False).hits:
            body = searcher.doc(address)["body"][0].lower()
            words.update(w for w in _WORDS.findall(body) if w.startswith(start))
        return [w for w, _ in words.most_common() if _schema.analyze(w) == [term]]

    def allowed(self, ids: Sequence[str], filters: Filters, groups: frozenset[str]) -> set[str]:
        """Which of `ids` pass the filters and are visible to `groups`."""
        if not ids:
            return set()
        searcher = self._searcher()
        if filters.empty:
            limited = self._limited(searcher)
            if limited is not None:  # the common case, without a query per id
                return {
                    identifier
                    for identifier in ids
                    if identifier not in limited or limited[identifier] & groups
                }
        query = self._combine(self.queries.ids_query(ids), filters, groups, searcher)
        found = searcher.search(query, len(ids), count=False)
        return set(self._identify(searcher, [address for _, address in found.hits]))

    def _limited(self, searcher: tantivy.Searcher) -> dict[str, frozenset[str]] | None:
        """Postmortems not visible to everyone, with their audiences, as of `searcher`.

        The same rule as `_combine` (internal, or an audience group in common),
        read with one aggregation per searcher; None when there are too many
        to hold, and callers then ask the index per id.
        """
        cached = self._limited_cache
        if cached is not None and cached[0] is searcher:
            return cached[1]
        query = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Must, tantivy.Query.all_query()),
                (tantivy.Occur.MustNot, self._internal),
            ]
        )
        count = int(getattr(searcher.search(query, 1, count=True), "count", 0) or 0)
        limited: dict[str, frozenset[str]] | None = None
        if count <= MAX_LIMITED:
            spec = {
                "ids": {
                    "terms": {"field": "id", "size": max(count, 1)},
                    "aggs": {"audience": {"terms": {"field": "audience", "size": 1000}}},
                }
            }
            buckets = searcher.aggregate(query, spec).get("ids", {}).get("buckets", [])
            limited = {
                str(bucket["key"]): frozenset(
                    str(group["key"]) for group in bucket.get("audience", {}).get("buckets", [])
                )
                for bucket in buckets
            }
            if len(limited) != count:  # never guess about visibility
                limited = None
        self._limited_cache = (searcher, limited)
        return limited

    def summarize(
        self,
        text: str | ParsedQuery,
        filters: Filters,
        groups: frozenset[str],
        expand: Expansion = NO_EXPANSION,
        *,
        ids: Sequence[str] = (),
    ) -> Counts:
        """Count and facets of what the text matches plus `ids` (semantic matches)."""
        parsed = _query.parsed(text)
        matched = self.queries.summary_query(parsed, expand, ids)
        if matched is None:
            return Counts(0, {name: {} for name in _schema.COUNTED_FACETS})
        searcher = self._searcher()
        query = self._combine(matched, filters, groups, searcher)
        return self._summary(searcher, query)

    def counted(
        self,
        parsed: ParsedQuery,
        filters: Filters,
        groups: frozenset[str],
        expand: Expansion = NO_EXPANSION,
        *,
        close: Sequence[str] = (),
        among: Sequence[str] | None = None,
    ) -> Counts:
        """Count and facets of the strong and partial matches (_strength.py): the
        postmortems holding enough of the query's own words, plus `close` (those
        near enough in meaning). `among`: only these may count (semantic mode).
        """
        searcher = self._searcher()
        query = self.queries.counted_query(parsed, expand, close, among)
        if query is None:
            return Counts(0, {name: {} for name in _schema.COUNTED_FACETS})
        return self._summary(searcher, self._combine(query, filters, groups, searcher))

    def _counts(
        self,
        searcher: tantivy.Searcher,
        parsed: ParsedQuery,
        plain: tantivy.Query,
        expand: Expansion = NO_EXPANSION,
    ) -> Counts:
        """Full-text's count and facets: everything without words, else the strong and partial."""
        query = self.queries.counting_query(parsed, plain, expand)
        if query is None:
            return Counts(0, {name: {} for name in _schema.COUNTED_FACETS})
        return self._summary(searcher, query)

    def enough_among(
        self, parsed: ParsedQuery, ids: Sequence[str], expand: Expansion = NO_EXPANSION
    ) -> set[str]:
        """Which of `ids` are at least partial matches by their words: holding enough
        of the query's words, or another name of what it describes (`enough`)."""
        return self._among(self._searcher(), self.queries.enough(parsed, expand), ids)

    def _named(self, searcher: tantivy.Searcher, ids: Sequence[str], expand: Expansion) -> set[str]:
        """Which of `ids` hold another name of what the query describes."""
        return self._among(searcher, self.queries.named_query(expand), ids)

    def _among(
        self, searcher: tantivy.Searcher, query: tantivy.Query | None, ids: Sequence[str]
    ) -> set[str]:
        """Which of `ids` `query` matches (none when there is no query)."""
        if query is None or not ids:
            return set()
        both = tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, query), (tantivy.Occur.Must, self.queries.ids_query(ids))]
        )
        found = searcher.search(both, len(ids), count=False)
        return set(self._identify(searcher, [address for _, address in found.hits]))

    def hits(
        self,
        ranked: Sequence[tuple[str, float]],
        text: str | ParsedQuery,
        passages: dict[str, tuple[str, str]],
        expand: Expansion = NO_EXPANSION,
        ready: dict[str, Hit] | None = None,
    ) -> list[Hit]:
        """Display hits for ranked ids; a given passage (heading, text) becomes the snippet.

        `ready` holds hits made earlier for the same query (no passage given):
        they are reused with this ranking's score instead of being made again.
        """
        if not ranked:
            return []
        if ready:
            made = self.hits(
                [(i, s) for i, s in ranked if i not in ready or i in passages],
                text,
                passages,
                expand,
            )
            fresh = {hit.id: hit for hit in made}
            result = []
            for identifier, score in ranked:
                if identifier in fresh:
                    result.append(fresh[identifier])
                elif identifier in ready and identifier not in passages:
                    result.append(dataclasses.replace(ready[identifier], score=round(score, 4)))
            return result
        searcher = self._searcher()
        found = searcher.search(
            self.queries.ids_query([i for i, _ in ranked]), len(ranked), count=False
        )
        parsed = _query.parsed(text)
        asked = asked_words(parsed)
        addresses = [address for _, address in found.hits]
        stored, holds = {}, {}
        for address, words in zip(addresses, self._held(searcher, addresses, asked), strict=True):
            document = searcher.doc(address)
            stored[document["id"][0]] = document
            holds[document["id"][0]] = words
        snippets = highlight_for(parsed, expand)
        named = self._named(searcher, list(stored), expand)
        result = []
        for identifier, score in ranked:
            if identifier not in stored:
                continue
            passage = passages.get(identifier)
            hit = self._hit(stored[identifier], score, None if passage else snippets)
            hit.named = identifier in named
            if asked:
                hit.coverage = round(_strength.coverage(asked, holds[identifier]), 3)
            if passage:
                hit.section = passage[0] or None
                hit.snippet = _passage_snippet(passage[1], snippets)
            result.append(hit)
        return result

    def _combine(
        self,
        text_query: tantivy.Query,
        filters: Filters,
        groups: frozenset[str],
        searcher: tantivy.Searcher,
    ) -> tantivy.Query:
        """`text_query` under the filters, among what `groups` may see in `searcher`."""
        visible = None if self._sees_all(searcher, groups) else self.queries.visible(groups)
        return self.queries.filtered(text_query, filters, visible)

    def _sees_all(self, searcher: tantivy.Searcher, groups: frozenset[str]) -> bool:
        """May `groups` see every postmortem of `searcher`?

        Then the visibility clause (~0.5 ms a search at 10,000 postmortems)
        can go: always so in the outsiders' index, which holds no restricted
        postmortem. Asked of the searcher the query will run on.
        """
        limited = self._limited(searcher)
        return limited is not None and all(audience & groups for audience in limited.values())

    def _held(
        self,
        searcher: tantivy.Searcher,
        addresses: Sequence[tantivy.DocAddress],
        asked: frozenset[str],
    ) -> list[set[str]]:
        """Which of the `asked` words each of these postmortems holds, as the index says.

        No body is analysed again (that cost ~0.2 ms a hit): one search among
        these postmortems, where word number i scores exactly 2**i, so each
        hit's score spells out which words it holds (sums of powers of two
        are exact in a float up to 2**24; longer queries take more searches).
        """
        held: list[set[str]] = [set() for _ in addresses]
        if not asked or not addresses:
            return held
        position = {(a.segment_ord, a.doc): n for n, a in enumerate(addresses)}
        among = tantivy.Query.const_score_query(
            self.queries.ids_query(self._identify(searcher, addresses)), 0.0
        )
        ordered = sorted(asked)
        for start in range(0, len(ordered), HELD_WORDS):
            words = ordered[start : start + HELD_WORDS]
            clauses = [(tantivy.Occur.Must, among)]
            clauses += [
                (
                    tantivy.Occur.Should,
                    tantivy.Query.const_score_query(
                        tantivy.Query.term_query(self.schema, "body", word), float(2**bit)
                    ),
                )
                for bit, word in enumerate(words)
            ]
            query = tantivy.Query.boolean_query(clauses)
            for score, address in searcher.search(query, len(addresses), count=False).hits:
                n = position.get((address.segment_ord, address.doc))
                mask = int(score)
                if n is not None:
                    held[n].update(word for bit, word in enumerate(words) if mask >> bit & 1)
        return held

    def _hit(self, stored: tantivy.Document, score: float, snippets: Highlight | None) -> Hit:
        values = stored.to_dict()
        body = values.get("body", [""])[0]
        # The title and the headings are lines of the body; a snippet never starts in one.
        skip = frozenset(h.lower() for h in [*values.get("title", []), *values.get("headings", [])])
        snippet = ""
        if snippets is not None:
            snippet = _snippets.snippet(
                body, snippets.words, snippets.phrases, skip, snippets.error_words
            )
        if not snippet:
            snippet = _snippets.opening(body, skip)
        day = values["day"][0]
        return Hit(
            id=values["id"][0],
            title=values["title"][0],
            date=f"{day // 10000:04d}-{day // 100 % 100:02d}-{day % 100:02d}",
            severity=(values.get("severity") or [None])[0],
            services=values.get("service", []),
            error_classes=values.get("error_class", []),
            score=round(score, 4),
            snippet=snippet.replace("\n", " "),
            status=(values.get("status") or ["published"])[0],
        )

    def _summary(self, searcher: tantivy.Searcher, query: tantivy.Query) -> Counts:
        """Matches and facet counts in one pass (every document has one `day`)."""
        spec: dict[str, Any] = {
            name: {"terms": {"field": name, "size": FACET_SIZE}} for name in _schema.COUNTED_FACETS
        }
        spec["_total"] = {"value_count": {"field": "day"}}
        answer = searcher.aggregate(query, spec)
        facets: dict[str, dict[str, int]] = {}
        for name in _schema.COUNTED_FACETS:
            buckets = answer.get(name, {}).get("buckets", [])
            facets[name] = {str(b["key"]): int(b["doc_count"]) for b in buckets}
        return Counts(int(answer.get("_total", {}).get("value") or 0), facets)
