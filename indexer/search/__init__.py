"""Full-text search over the library (tantivy).

Public surface: `SearchIndex` (open, write in batches, search), `Filters`,
`Results`/`Hit`, `Expansion` (see indexer/synonyms.py), `analyze` (the index's
words for a text), and `SearchQueryError` for input that cannot be searched.
"""

from indexer.search._backend import MAX_LIMIT, MAX_OFFSET, Filters, Hit, Results, SearchIndex
from indexer.search._query import MAX_QUERY_LENGTH, Expansion, SearchQueryError
from indexer.search._schema import FACETS, SCHEMA_VERSION, analyze

__all__ = [
    "FACETS",
    "MAX_LIMIT",
    "MAX_OFFSET",
    "MAX_QUERY_LENGTH",
    "SCHEMA_VERSION",
    "Expansion",
    "Filters",
    "Hit",
    "Results",
    "SearchIndex",
    "SearchQueryError",
    "analyze",
]
