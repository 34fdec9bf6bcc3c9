"""Search over the library: full-text (tantivy), semantic (sentence-transformers) and both fused.

    searcher = Searcher(index, semantic, taxonomy, helpers)
    results = searcher.search("connection pool exhaustion", Filters(), mode="hybrid")

The public face is this module; everything in the `_private` modules is
reached through it:

- `SearchIndex`: the tantivy index (`_fulltext`, `_schema`, `_query`; its queries
  are built by `_fulltext_query`); written in batches by indexing, ranked and
  counted by searches.
- `SemanticIndex`: passage vectors and the embedding model (`_semantic`,
  `_vectors`, `_embeddings`); `cut_passages` (`_passages`) is how a
  postmortem is cut into the passages that get embedded.
- `Searcher`: one pipeline for every mode (`_hybrid`): `run` takes a
  `SearchRequest` (`_request`: text, filters, reader, mode, sort, page),
  drops the question's framing, parses once, ranks, and builds the page's
  hits, snippets, count and facets in one place; query expansion by other
  names (`_expansion`).
- `related` (`_neighbours`, scored by `_related`): postmortems like a given
  one, read from the lists `refresh_neighbours` stores at index time;
  `duplicates`, `duplicate_findings` (`_related`).
- `SearchQueryError` (a query that cannot be run; the message is safe to
  show) and `SemanticUnavailable` (the model is not usable yet).
"""

from indexer.search._embeddings import EmbeddingError
from indexer.search._embeddings import load as load_embedder
from indexer.search._fulltext import MAX_LIMIT, MAX_OFFSET, Hit, Results, SearchIndex
from indexer.search._hybrid import Searcher, SemanticUnavailable
from indexer.search._neighbours import refresh as refresh_neighbours
from indexer.search._neighbours import related
from indexer.search._passages import VERSION as PASSAGES_VERSION
from indexer.search._passages import Chunk as Passage
from indexer.search._passages import chunk as cut_passages
from indexer.search._query import MAX_QUERY_LENGTH, Expansion, SearchQueryError
from indexer.search._related import DUPLICATE_THRESHOLD, duplicate_findings, duplicates
from indexer.search._request import MODES, SORTED_WINDOW, SORTS, SearchRequest
from indexer.search._schema import SCHEMA_VERSION, analyze
from indexer.search._semantic import SemanticIndex

__all__ = [
    "DUPLICATE_THRESHOLD",
    "MAX_LIMIT",
    "MAX_OFFSET",
    "MAX_QUERY_LENGTH",
    "MODES",
    "PASSAGES_VERSION",
    "SCHEMA_VERSION",
    "SORTED_WINDOW",
    "SORTS",
    "EmbeddingError",
    "Expansion",
    "Hit",
    "Passage",
    "Results",
    "SearchIndex",
    "SearchQueryError",
    "SearchRequest",
    "Searcher",
    "SemanticIndex",
    "SemanticUnavailable",
    "analyze",
    "cut_passages",
    "duplicate_findings",
    "duplicates",
    "load_embedder",
    "refresh_neighbours",
    "related",
]
