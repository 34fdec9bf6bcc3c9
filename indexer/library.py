"""`Library`: the database, the search indexes and the taxonomy of one configured library.

    with Library.open(settings) as library:
        library.refresh()
        results = library.searcher.search("connection pool exhaustion")

The CLI and the web app (in its lifespan state) each open one; it holds no
request state, only the shared resources: the engine, both indexes, the
vocabulary, and the worker threads a search uses. `close()` (or leaving the
`with` block) releases all of them.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from sqlalchemy.engine import Engine

from indexer.config import Settings
from indexer.db import store
from indexer.format import files, taxonomy
from indexer.indexing import ingest
from indexer.search import Searcher, SearchIndex, SemanticIndex, refresh_neighbours

log = logging.getLogger("pml")


@dataclass
class Library:
    settings: Settings
    engine: Engine
    index: SearchIndex
    taxonomy: taxonomy.Taxonomy
    semantic: SemanticIndex
    # Threads for the steps of a hybrid search that run side by side, and for
    # large vector products cut into row blocks (numpy's BLAS stays single-threaded).
    helpers: ThreadPoolExecutor
    blocks: ThreadPoolExecutor
    last_report: ingest.Report | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(cls, settings: Settings) -> Library:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        cores = os.cpu_count() or 1
        helpers = ThreadPoolExecutor(max_workers=2 * cores, thread_name_prefix="pml-search")
        blocks = ThreadPoolExecutor(max_workers=cores, thread_name_prefix="pml-vectors")
        engine = store.make_engine(settings.resolved_database_url)
        index = SearchIndex(settings.index_dir)
        semantic = SemanticIndex(
            engine,
            settings.embedding_model,
            settings.embedding_threads,
            settings.embedding_bulk_threads,
            settings.embedding_precision,
            blocks,
            compiled=settings.data_dir / "models",
        )
        # Whenever vectors are (re)loaded, whoever indexed, the stored related lists follow.
        semantic.listeners.append(lambda: refresh_neighbours(engine, semantic))
        vocabulary = taxonomy.load(settings.library)
        return cls(settings, engine, index, vocabulary, semantic, helpers, blocks)

    def __enter__(self) -> Library:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def searcher(self) -> Searcher:
        """Search in any mode over the whole index, vectors and vocabulary (the CLI's view)."""
        return self.searcher_for(None)

    def searcher_for(self, groups: frozenset[str] | None) -> Searcher:
        """Search as a reader with `groups` sees the library (None: everything, as the CLI).

        Outsiders get the index without restricted postmortems, so nothing in
        their answers (scores, facets, suggestions) depends on those.
        """
        index = self.index if groups is None else self.index.for_groups(groups)
        return Searcher(
            index, self.semantic, self.taxonomy, self.helpers, self.settings.search_fusion
        )

    @property
    def lock(self) -> threading.Lock:
        """Held while the search index is written (indexing, or a replica catching up)."""
        return self._lock

    @property
    def root(self) -> Path:
        return self.settings.library

    def refresh(
        self, *, force: bool = False, progress: ingest.Progress | None = None
    ) -> ingest.Report:
        """Index what changed in the library folder."""
        path = self.root / taxonomy.FILE_NAME
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        return self.refresh_from(
            files.folder_files(self.root), text, force=force, progress=progress
        )

    def refresh_from(
        self,
        sources: list[files.SourceFile],
        taxonomy_text: str,
        *,
        force: bool = False,
        progress: ingest.Progress | None = None,
    ) -> ingest.Report:
        """Make the library hold exactly `sources` (see `indexer.indexing.ingest.run`)."""
        report = ingest.run(self, sources, taxonomy_text, force=force, progress=progress)
        self.last_report = report
        return report

    def close(self) -> None:
        self.semantic.stop()
        self.helpers.shutdown(wait=False, cancel_futures=True)
        self.blocks.shutdown(wait=False, cancel_futures=True)
        self.engine.dispose()
