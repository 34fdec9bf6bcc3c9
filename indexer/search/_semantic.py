"""Semantic search state: the model, the vector cache in the database, the vector index.

Loading the model takes seconds, so it happens off the request path: the
service answers full-text queries at once and `state` says when semantic
search joins (`loading` -> `embedding` -> `ready`, or `error` with a
message, or `disabled`). Vectors are cached in the `embedding` table by model
and passage hash, so a re-index embeds only passages whose text changed, and
a restart loads vectors instead of recomputing them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from indexer.db import store
from indexer.db.models import ChunkRow, EmbeddingRow
from indexer.search import _embeddings
from indexer.search._embeddings import Embedder, EmbeddingError, Vectors
from indexer.search._vectors import ExactVectorIndex, Match, single_threaded_blas
from indexer.serverpaths import hide_paths

log = logging.getLogger("pml.semantic")

BATCH = 64
QUERY_CACHE = 512
Progress = Callable[[int, int], None]
Vector = Vectors  # one row

_MODELS = text("SELECT COUNT(DISTINCT e.model) FROM embedding e")
_UNEMBEDDED = text(
    "SELECT 1 FROM chunk c WHERE NOT EXISTS ("
    " SELECT 1 FROM embedding e WHERE e.content_hash = c.content_hash) LIMIT 1"
)
_PENDING = text(
    "SELECT c.content_hash, MIN(c.text) FROM chunk c WHERE NOT EXISTS ("
    " SELECT 1 FROM embedding e WHERE e.model = :model AND e.content_hash = c.content_hash)"
    " GROUP BY c.content_hash"
)
_VECTORS = text(
    "SELECT c.postmortem_id, c.ordinal, e.vector FROM chunk c JOIN embedding e"
    " ON e.model = :model AND e.content_hash = c.content_hash"
    " ORDER BY c.postmortem_id, c.ordinal"
)


def _insert_vectors(engine: Engine) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING into the vector cache."""
    statement = store.upsert_into(engine, EmbeddingRow.__table__)  # type: ignore[attr-defined]
    return statement.on_conflict_do_nothing(index_elements=["model", "content_hash"])


class Passage(NamedTuple):
    heading: str
    text: str


class SemanticIndex:
    def __init__(
        self,
        engine: Engine,
        model: str | None,
        threads: int = 1,
        bulk_threads: int = 0,
        precision: str = "auto",
        blocks: Executor | None = None,
        compiled: Path | None = None,
    ) -> None:
        self.engine = engine
        self.compiled = compiled  # where the model's compiled copy is kept (_embeddings.load)
        self.blocks = blocks  # threads for large vector products (see _vectors.py)
        self.model_spec = model
        self.threads = threads
        self.bulk_threads = bulk_threads
        self.precision = precision
        self.embedder: Embedder | None = None
        self.vectors: ExactVectorIndex | None = None
        self.state = "disabled" if not model or model == "none" else "loading"
        self.error: str | None = None
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._queries: dict[tuple[str, str], Vector] = {}
        # The database may hold passages the loaded vectors lack: a change another
        # process indexed, or a sync that failed (a database blip; the vectors
        # loaded before it keep serving). The pollers sync while it is set.
        self.stale = False
        # Called after every sync that loaded vectors (the stored related lists).
        self.listeners: list[Callable[[], object]] = []

    @property
    def ready(self) -> bool:
        return self.state == "ready" and self.vectors is not None

    def load_model(self) -> bool:
        """Load the model once; False (with `error` set) if it cannot be used."""
        if self.embedder is not None or self.state in ("disabled", "error"):
            return self.embedder is not None
        single_threaded_blas()
        try:
            self.embedder = _embeddings.load(
                str(self.model_spec),
                self.threads,
                self.bulk_threads,
                self.precision,
                compiled=self.compiled,
            )
        except Exception as error:  # a broken model must never take full-text down with it
            message = str(error) if isinstance(error, EmbeddingError) else repr(error)
            self.state, self.error = "error", message
            log.error("semantic search is off: %s", message)
            return False
        return True

    def up_to_date(self) -> bool:
        """Does every passage have a vector, of the one model the database holds vectors of?

        Asked without loading the model (its name is only known once loaded),
        so `pml index` with nothing to do starts no model. After changing
        PML_EMBEDDING_MODEL, `pml index --force` embeds for the new one.
        """
        if self.state == "disabled":
            return True
        with self.engine.connect() as connection:
            models = connection.execute(_MODELS).scalar()
            missing = connection.execute(_UNEMBEDDED).first()
        return models == 1 and missing is None

    @property
    def stopping(self) -> bool:
        """Has `stop` been called (long work after embedding should end early)?"""
        return self._stopping.is_set()

    def sync(self, progress: Progress | None = None) -> int:
        """Embed passages that have no vector yet and reload the index; returns how many."""
        with self._lock:
            if not self.load_model():
                return 0
            assert self.embedder is not None
            if not self.ready:
                self.state = "embedding"
            self.stale = False  # set again by a change seen while this sync runs
            try:
                count = self._embed_pending(self.embedder, progress)
                self.vectors = self._load_vectors(self.embedder.name)
            except Exception as error:  # keep serving full-text whatever the model did
                log.exception("embedding failed")
                self.error = f"embedding failed: {error}"
                self.stale = True  # the next poll tries again
                if self.vectors is None:
                    self.state = "error"
                return 0
            self.state, self.error = "ready", None
            for listener in self.listeners:
                try:
                    listener()
                except Exception:  # derived data; search keeps working without it
                    log.exception("after embedding: %r failed", listener)
            return count

    def start(self) -> None:
        """Load the model and catch up in a background thread."""
        if self.state == "disabled":
            return
        self._thread = threading.Thread(target=self.sync, name="pml-embedder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop embedding after the current batch and wait for the thread."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _embed_pending(self, embedder: Embedder, progress: Progress | None) -> int:
        with self.engine.connect() as connection:
            pending = list(connection.execute(_PENDING, {"model": embedder.name}))
        # Shortest first: a batch is padded to its longest passage, and batches of
        # similar lengths padded the sample library's passages by 10% instead of 45%.
        pending.sort(key=lambda row: len(row[1]))
        for start in range(0, len(pending), BATCH):
            if self._stopping.is_set():
                break
            batch = pending[start : start + BATCH]
            vectors = embedder.embed([passage for _, passage in batch])
            rows = [
                {"model": embedder.name, "content_hash": digest, "vector": vector.tobytes()}
                for (digest, _), vector in zip(batch, vectors, strict=True)
            ]
            # Per batch: a crash keeps what was already embedded. Another process
            # (`pml index` beside `pml serve`, a replica) may have stored the same
            # passage meanwhile; its vector is the same, so the first one stays.
            with self.engine.begin() as connection:
                connection.execute(_insert_vectors(self.engine), rows)
            if progress:
                progress(min(start + BATCH, len(pending)), len(pending))
        return len(pending)

    def _load_vectors(self, model: str) -> ExactVectorIndex:
        ids: list[str] = []
        ordinals: list[int] = []
        blobs: list[bytes] = []
        with self.engine.connect() as connection:
            for postmortem_id, ordinal, vector in connection.execute(_VECTORS, {"model": model}):
                ids.append(postmortem_id)
                ordinals.append(ordinal)
                blobs.append(bytes(vector))
        dimension = self.embedder.dimension if self.embedder else 0
        matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dimension)
        # A torch model is loaded: its float16 product is the fast one (_vectors.py).
        half = isinstance(
            self.embedder,
            _embeddings.SentenceTransformerEmbedder | _embeddings.CompiledEmbedder,
        )
        return ExactVectorIndex(ids, ordinals, matrix, self.blocks, half=half)

    def search(self, query: str, k: int, vector: Vector | None = None) -> list[Match]:
        """Top `k` postmortems by their best passage (see `ExactVectorIndex.search`);
        empty until ready. `vector` is the query's embedding when the caller has it.
        """
        vectors = self.vectors
        if vectors is None or not query.strip():
            return []
        vector = vector if vector is not None else self.query_vector(query)
        return [] if vector is None else vectors.search(vector, k)

    def query_vector(self, query: str) -> Vector | None:
        """The query's embedding (None until the model is loaded).

        Cached: pagination, facet clicks and mode switches repeat queries.
        """
        embedder = self.embedder
        if embedder is None or not query.strip():
            return None
        key = (embedder.name, query.strip())
        vector = self._queries.get(key)
        if vector is None:
            vector = embedder.embed([key[1]])[0]
            if len(self._queries) >= QUERY_CACHE:
                self._queries.pop(next(iter(self._queries)), None)
            self._queries[key] = vector
        return vector

    def passages(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], Passage]:
        """The stored passages for (postmortem id, ordinal) pairs."""
        if not keys:
            return {}
        wanted = set(keys)
        # By postmortem (the key's first column; SQLite scans for a row-value IN).
        query = select(ChunkRow.postmortem_id, ChunkRow.ordinal, ChunkRow.heading, ChunkRow.text)
        query = query.where(col(ChunkRow.postmortem_id).in_(sorted({i for i, _ in keys})))
        with self.engine.connect() as connection:
            return {
                (identifier, ordinal): Passage(heading, text)
                for identifier, ordinal, heading, text in connection.execute(query)
                if (identifier, ordinal) in wanted
            }

    def status(self, *, admin: bool = True) -> dict[str, object]:
        """State, model and counts; others than admins get no counts and no server paths.

        The counts include restricted postmortems; a model given as a folder is a
        path on the server, and so may be the error.
        """
        vectors = self.vectors
        if not admin:
            shown = (self.model_spec, self.error)
            model, error = (None if v is None else hide_paths(str(v)) for v in shown)
            return {"state": self.state, "model": model, "error": error}
        return {
            "state": self.state,
            "model": self.model_spec,
            "error": self.error,
            "postmortems": len(vectors) if vectors else 0,
            "passages": vectors.passages if vectors else 0,
        }
