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

from indexer import ingest, store, taxonomy
from indexer.config import Settings
from indexer.search import SearchIndex

log = logging.getLogger("pml")


@dataclass
class Library:
    settings: Settings
    engine: Engine
    index: SearchIndex
    taxonomy: taxonomy.Taxonomy
    last_report: ingest.Report | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(cls, settings: Settings) -> Library:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = store.make_engine(settings.resolved_database_url)
        index = SearchIndex(settings.index_dir)
        return cls(settings, engine, index, taxonomy.load(settings.library))

    @property
    def root(self) -> Path:
        return self.settings.library

    def refresh(
        self, *, force: bool = False, progress: ingest.Progress | None = None
    ) -> ingest.Report:
        """Index what changed in the library folder (one run at a time)."""
        with self._lock:
            self.taxonomy = taxonomy.load(self.root)
            digest = _taxonomy_digest(self.root)
            with store.session(self.engine) as db:
                # Vocabulary words are part of every index document.
                force = force or store.get_meta(db, "taxonomy_hash") != digest
            # Paths are stored relative to the library, so moving it does not reindex.
            report = ingest.index_library(
                self.root, self.engine, self.index, self.taxonomy, force=force, progress=progress
            )
            with store.session(self.engine) as db:
                store.set_meta(db, "taxonomy_hash", digest)
                db.commit()
            self.index.rebuilt = False
            self.last_report = report
            log.info("indexed %s: %s", self.root, report.summary())
            for problem in report.problems:
                log.warning("%s", problem)
            return report

    def close(self) -> None:
        self.engine.dispose()


def _taxonomy_digest(root: Path) -> str:
    path = root / taxonomy.FILE_NAME
    data = path.read_bytes() if path.is_file() else b""
    return hashlib.sha256(data).hexdigest()
