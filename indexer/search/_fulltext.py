"""The on-disk tantivy index: opening, writing, searching."""

from __future__ import annotations

import hashlib
import html
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import tantivy

from indexer.filters import Filters
from indexer.format import markdown
from indexer.format.postmortem import Postmortem
from indexer.format.taxonomy import Taxonomy
from indexer.search import _query, _schema
from indexer.search._query import Expansion, ParsedQuery

MAX_LIMIT = 100
MAX_OFFSET = 10_000
FACET_SIZE = 50
SNIPPET_CHARS = 240
WRITER_HEAP = 64 * 1024 * 1024
VERSION_FILE = "SCHEMA_VERSION"
EXPANSION_BOOST = 2.0
# Another name for what the query describes counts at this share of a query word
# (measured on ../shared/eval: flat between 0.7 and 1.0, see _expansion.py).
PHRASE_BOOST = 0.7
NO_EXPANSION = Expansion()
SEARCHER_SECONDS = 1.0
PARSED_QUERIES = 256
MAX_LIMITED = 10_000  # restricted postmortems held in memory for visibility checks


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


@dataclass
class Results:
    query: str
    total: int
    took_ms: float
    results: list[Hit]
    facets: dict[str, dict[str, int]]
    mode: str = "fulltext"


def page_bounds(limit: int, offset: int) -> tuple[int, int]:
    return max(1, min(limit, MAX_LIMIT)), max(0, min(offset, MAX_OFFSET))


def _passage_snippet(text: str, snippets: tantivy.SnippetGenerator | None) -> str:
    """A passage with the query's words highlighted (HTML-escaped), or its opening."""
    if snippets is not None:
        highlighted = snippets.snippet_from_doc(tantivy.Document(body=text)).to_html()
        if "<b>" in highlighted:
            return highlighted.replace("\n", " ")
    opening = text[:SNIPPET_CHARS].rsplit(" ", 1)[0] if len(text) > SNIPPET_CHARS else text
    return html.escape(opening).replace("\n", " ")


def key(identifier: str) -> int:
    """The `key` fast field of a postmortem: a stable 63-bit hash of its id."""
    return int.from_bytes(hashlib.blake2b(identifier.encode(), digest_size=8).digest()) >> 1


@dataclass
class Counts:
    """How many postmortems a search matched, and their facet counts."""

    total: int
    facets: dict[str, dict[str, int]]


def _day(value: date) -> int:
    return value.year * 10000 + value.month * 100 + value.day


def document(postmortem: Postmortem, taxonomy: Taxonomy) -> tantivy.Document:
    """The index document of a postmortem: text to rank on, keywords to filter on."""
    lead = [part for part in (postmortem.impact_summary, postmortem.trigger) if part]
    vocab = [
        taxonomy.words_for("error_classes", postmortem.error_classes),
        taxonomy.words_for("contributing_factors", postmortem.contributing_factors),
        taxonomy.words_for("services", postmortem.services),
        " ".join(postmortem.tags),
    ]
    values: dict[str, Any] = {
        "id": postmortem.id,
        "title": postmortem.title,
        "body": "\n".join([postmortem.title, *lead, markdown.plain_text(postmortem.sections)]),
        "vocab": " ".join(vocab),
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
        "day": _day(postmortem.date),
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
        taxonomy: Taxonomy,
        names: dict[int, str],
    ) -> None:
        self._writers = (writer, shared)
        self._shared = shared
        self._taxonomy = taxonomy
        self.names = names

    def delete(self, identifier: str) -> None:
        for writer in self._writers:
            writer.delete_documents_by_term("id", identifier)

    def upsert(self, postmortem: Postmortem) -> None:
        self.delete(postmortem.id)
        made = document(postmortem, self._taxonomy)
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
        self._queries: dict[str, tantivy.Query] = {}
        self._limited_cache: tuple[tantivy.Searcher, dict[str, frozenset[str]] | None] | None = None
        self._internal = tantivy.Query.term_query(self.schema, "visibility", "internal")
        self._index = self._open()
        self._index.register_tokenizer(_schema.ANALYZER, _schema.analyzer())
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
    def batch(self, taxonomy: Taxonomy) -> Iterator[Batch]:
        """Write both indexes, each in one transaction: committed on success, else rolled back.

        The whole index commits first. A crash before the twin commits leaves
        the two disagreeing, which the next start sees (and rebuilds both).
        """
        assert self.whole is self, "write through the whole index, not its twin"
        writer = self._index.writer(WRITER_HEAP, 1)
        twin = self.shared._index.writer(WRITER_HEAP // 2, 1)
        try:
            yield Batch(writer, twin, taxonomy, self._names)
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
    ) -> Results:
        """Full-text ranking for `text`; an empty text lists everything, newest first.

        `expand` is what the query also means (_expansion.py): error
        classes whose postmortems match too ("pool exhaustion" ->
        connection-pool-exhaustion) and other names for what it describes.
        """
        started = time.perf_counter()
        limit, offset = page_bounds(limit, offset)
        parsed = _query.parse(text)
        searcher = self._searcher()
        filters = filters or Filters()
        query = self._combine(self._text_query(parsed, expand), filters, groups)
        if parsed.empty:
            found = searcher.search(query, limit, count=False, offset=offset, order_by_field="day")
        else:
            found = searcher.search(query, limit, count=False, offset=offset)
        snippets = self._snippets(searcher, parsed, expand)
        hits = []
        for score, address in found.hits:
            stored = searcher.doc(address)
            hits.append(self._hit(stored, float(score) if not parsed.empty else 0.0, snippets))
        # Proximity only reorders: the plain query matches the same postmortems, faster.
        plain = self._combine(self._text_query(parsed, expand, proximity=False), filters, groups)
        summary = self._summary(searcher, plain)
        took = (time.perf_counter() - started) * 1000
        return Results(text, summary.total, round(took, 2), hits, summary.facets)

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
    ) -> list[tuple[str, float]]:
        """The top `k` (id, score) pairs of the full-text ranking.

        `proximity` rewards query words that stand together; it is most of the
        cost of a long query (~3 ms of 3.5 at 10,000 postmortems).
        """
        parsed = _query.parsed(text)
        if parsed.empty:
            return []
        searcher = self._searcher()
        query = self._combine(self._text_query(parsed, expand, proximity), filters, groups)
        found = searcher.search(query, k, count=False)
        ids = self._identify(searcher, [address for _, address in found.hits])
        return [
            (identifier, float(score))
            for identifier, (score, _) in zip(ids, found.hits, strict=True)
        ]

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
        query = self._combine(self._ids_query(ids), filters, groups)
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
        clauses = []
        if not parsed.empty:
            clauses.append(
                (tantivy.Occur.Should, self._text_query(parsed, expand, proximity=False))
            )
        if ids:
            clauses.append((tantivy.Occur.Should, self._ids_query(ids)))
        if not clauses:
            return Counts(0, {name: {} for name in _schema.COUNTED_FACETS})
        query = self._combine(tantivy.Query.boolean_query(clauses), filters, groups)
        return self._summary(self._searcher(), query)

    def hits(
        self,
        ranked: Sequence[tuple[str, float]],
        text: str | ParsedQuery,
        passages: dict[str, tuple[str, str]],
        expand: Expansion = NO_EXPANSION,
    ) -> list[Hit]:
        """Display hits for ranked ids; a given passage (heading, text) becomes the snippet."""
        if not ranked:
            return []
        searcher = self._searcher()
        found = searcher.search(self._ids_query([i for i, _ in ranked]), len(ranked), count=False)
        stored = {}
        for _, address in found.hits:
            document = searcher.doc(address)
            stored[document["id"][0]] = document
        snippets = self._snippets(searcher, _query.parsed(text), expand)
        result = []
        for identifier, score in ranked:
            if identifier not in stored:
                continue
            passage = passages.get(identifier)
            hit = self._hit(stored[identifier], score, None if passage else snippets)
            if passage:
                hit.section = passage[0] or None
                hit.snippet = _passage_snippet(passage[1], snippets)
            result.append(hit)
        return result

    def _ids_query(self, ids: Sequence[str]) -> tantivy.Query:
        return tantivy.Query.term_set_query(self.schema, "id", list(ids))

    def _snippets(
        self, searcher: tantivy.Searcher, parsed: _query.ParsedQuery, expand: Expansion
    ) -> tantivy.SnippetGenerator | None:
        """Highlights the query's words and the other names it was expanded with."""
        if parsed.empty:
            return None
        words = Expansion(phrases=expand.phrases)
        generator = tantivy.SnippetGenerator.create(
            searcher, self._text_query(parsed, words, proximity=False), self.schema, "body"
        )
        generator.set_max_num_chars(SNIPPET_CHARS)
        return generator

    def _text_query(
        self, parsed: _query.ParsedQuery, expand: Expansion, proximity: bool = True
    ) -> tantivy.Query:
        if parsed.empty:
            base = tantivy.Query.all_query()
            if not parsed.excluded:
                return base
            return tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, base), (tantivy.Occur.MustNot, self._excluded(parsed))]
            )
        base = self._parsed(parsed.tantivy_syntax(proximity))
        clauses = [(tantivy.Occur.Should, base)]
        if expand.error_classes:
            tagged = tantivy.Query.term_set_query(
                self.schema, "error_class", list(expand.error_classes)
            )
            clauses.append(
                (tantivy.Occur.Should, tantivy.Query.boost_query(tagged, EXPANSION_BOOST))
            )
        if phrases := [f'"{cleaned}"' for p in expand.phrases if (cleaned := _query.clean(p))]:
            other_names = self._parsed(" ".join(phrases))
            clauses.append(
                (tantivy.Occur.Should, tantivy.Query.boost_query(other_names, PHRASE_BOOST))
            )
        if len(clauses) == 1:
            return base
        if parsed.excluded:  # an excluded word excludes whatever clause matched
            clauses.append((tantivy.Occur.MustNot, self._excluded(parsed)))
        return tantivy.Query.boolean_query(clauses)

    def _excluded(self, parsed: _query.ParsedQuery) -> tantivy.Query:
        return self._parsed(" ".join(f'"{word}"' for word in parsed.excluded))

    def _parsed(self, syntax: str) -> tantivy.Query:
        """Parse (about 1 ms for a long query); one search parses the same text several times."""
        query = self._queries.get(syntax)
        if query is None:
            # Exclusions are part of the syntax; every term is quoted, so nothing is an operator.
            query, _errors = self._index.parse_query_lenient(
                syntax, list(_schema.TEXT_FIELDS), field_boosts=_schema.FIELD_BOOSTS
            )
            if len(self._queries) >= PARSED_QUERIES:
                self._queries.pop(next(iter(self._queries)), None)
            self._queries[syntax] = query
        return query

    def _combine(
        self, text_query: tantivy.Query, filters: Filters, groups: frozenset[str]
    ) -> tantivy.Query:
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
            lower = _day(filters.since) if filters.since else None
            upper = _day(filters.until) if filters.until else None
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
        clauses.append(
            (
                tantivy.Occur.Must,
                tantivy.Query.const_score_query(tantivy.Query.boolean_query(visible), 0.0),
            )
        )
        return tantivy.Query.boolean_query(clauses)

    def _hit(
        self, stored: tantivy.Document, score: float, snippets: tantivy.SnippetGenerator | None
    ) -> Hit:
        values = stored.to_dict()
        snippet = ""
        if snippets is not None:
            snippet = snippets.snippet_from_doc(stored).to_html()
        if not snippet:
            body = values.get("body", [""])[0]
            snippet = html.escape(
                body[:SNIPPET_CHARS].rsplit(" ", 1)[0] if len(body) > SNIPPET_CHARS else body
            )
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
