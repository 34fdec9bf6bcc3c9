"""`Library`: the database, the search index and the taxonomy of one configured library.

The CLI and the web app both open one of these and call its methods; it holds
no request state, only the shared resources.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine

from indexer import chunks, incidents, ingest, library, replicas, store, taxonomy

# Imported for their tables (the migrations' env.py imports this module to see them all).
from indexer import alerts, auth, nearmiss  # noqa: F401  # isort: skip
from indexer.config import Settings
from indexer.hybrid import Searcher
from indexer.search import SearchIndex
from indexer.semantic import SemanticIndex

log = logging.getLogger("pml")


@dataclass
class Library:
    settings: Settings
    engine: Engine
    index: SearchIndex
    taxonomy: taxonomy.Taxonomy
    semantic: SemanticIndex
    last_report: ingest.Report | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(cls, settings: Settings) -> Library:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = store.make_engine(settings.resolved_database_url)
        index = SearchIndex(settings.index_dir)
        semantic = SemanticIndex(
            engine,
            settings.embedding_model,
            settings.embedding_threads,
            settings.embedding_bulk_threads,
            settings.embedding_precision,
        )
        return cls(settings, engine, index, taxonomy.load(settings.library), semantic)

    @property
    def searcher(self) -> Searcher:
        """Search in any mode over the current index, vectors and vocabulary."""
        return Searcher(self.index, self.semantic, self.taxonomy, self.settings.search_fusion)

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
        files = library.folder_files(self.root)
        return self.refresh_from(files, text, force=force, progress=progress)

    def refresh_from(
        self,
        files: list[library.SourceFile],
        taxonomy_text: str,
        *,
        force: bool = False,
        progress: ingest.Progress | None = None,
    ) -> ingest.Report:
        """Make the library hold exactly `files` (one run at a time).

        Paths are relative to the library root, so moving the folder (or
        reading the same files out of git) does not reindex anything.
        """
        with self._lock:
            self.taxonomy = taxonomy.parse(taxonomy_text, self.root / taxonomy.FILE_NAME)
            digest = hashlib.sha256(taxonomy_text.encode("utf-8")).hexdigest()
            with store.session(self.engine) as db:
                # Vocabulary words are part of every index document, and passages
                # are cut anew when the way of cutting them changes.
                force = force or store.get_meta(db, "taxonomy_hash") != digest
                force = force or store.get_meta(db, "chunks_version") != str(chunks.VERSION)
            in_step = replicas.in_step(self)  # before this run bumps the generation
            report = ingest.index_files(
                files, self.engine, self.index, self.taxonomy, force=force, progress=progress
            )
            if in_step or report.rebuilt:
                replicas.mark_in_step(self)  # else the replica follower catches up
            with store.session(self.engine) as db:
                store.set_meta(db, "taxonomy_hash", digest)
                store.set_meta(db, "chunks_version", str(chunks.VERSION))
                db.commit()
            self.index.rebuilt = False
            self.last_report = report
            incidents.relink(self.engine)  # postmortems changed: incidents may join others
            if self.semantic.embedder is not None:  # else the background loader catches up
                self.semantic.sync()
            log.info("indexed %s: %s", self.root, report.summary())
            for problem in report.problems:
                log.warning("%s", problem)
            return report

    def close(self) -> None:
        self.engine.dispose()
