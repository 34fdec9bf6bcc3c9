"""What indexing works on: the stores of one library (`indexer.library.Library` is one).

Indexing, replicas and git sync take this protocol rather than `Library`
itself, so the library can use them without a cycle of imports. (A resilience
target of `targets.yaml` is `indexer.reports.targets.Target`.)
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import Engine

from indexer.config import Settings
from indexer.format.taxonomy import Taxonomy
from indexer.search import SearchIndex, SemanticIndex


class LibraryStores(Protocol):
    taxonomy: Taxonomy  # replaced by every run: the taxonomy file may have changed

    @property
    def settings(self) -> Settings: ...

    @property
    def engine(self) -> Engine: ...

    @property
    def index(self) -> SearchIndex: ...

    @property
    def semantic(self) -> SemanticIndex: ...

    @property
    def lock(self) -> threading.Lock:
        """Held while the search index is written (a run, or a replica catching up)."""
        ...

    @property
    def root(self) -> Path: ...
