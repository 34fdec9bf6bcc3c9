"""One search request: everything a search needs to know, checked once.

Every door (the /api/search route, the search page, `pml search`, the Atom
feed of a search) builds a `SearchRequest` and hands it to `Searcher.run`,
so sorting, paging, the reader's visibility and the mode mean the same
everywhere (Meilisearch's `SearchParams` is the model).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from indexer.filters import Filters
from indexer.search._query import SearchQueryError

MODES = ("hybrid", "fulltext", "semantic")
SORTS = ("relevance", "date")
SORTED_WINDOW = 100  # sort=date orders this many best matches by date


@dataclass(frozen=True)
class SearchRequest:
    """A search: the text as typed, the filters, who reads, how to rank and which page."""

    text: str = ""
    filters: Filters = field(default_factory=Filters)
    groups: frozenset[str] = frozenset()  # the reader's groups: what they may see
    mode: str = "hybrid"
    sort: str = "relevance"  # or "date": the SORTED_WINDOW best, newest first
    limit: int = 10
    offset: int = 0
    as_typed: bool = False  # no spelling correction

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise SearchQueryError(f"mode must be one of {', '.join(MODES)}, not '{self.mode}'")
        if self.sort not in SORTS:
            raise SearchQueryError(f"sort must be one of {', '.join(SORTS)}, not '{self.sort}'")
