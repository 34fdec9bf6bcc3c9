"""Full-text search over the library (tantivy).

Public surface: `SearchIndex` (open, write in batches, search), `Filters`,
`Results`/`Hit`, and `SearchQueryError` for input that cannot be searched.
"""

from indexer.search._backend import MAX_LIMIT, MAX_OFFSET, Filters, Hit, Results, SearchIndex
from indexer.search._query import MAX_QUERY_LENGTH, SearchQueryError
from indexer.search._schema import FACETS, SCHEMA_VERSION

__all__ = [
    "FACETS",
    "MAX_LIMIT",
    "MAX_OFFSET",
    "MAX_QUERY_LENGTH",
    "SCHEMA_VERSION",
    "Filters",
    "Hit",
    "Results",
    "SearchIndex",
    "SearchQueryError",
]
