"""The packaged all-MiniLM-L6-v2 model, end to end on the sample library (slow: ~30 s)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from indexer.config import Settings
from indexer.search._embeddings import (
    DEFAULT_MODEL,
    EmbeddingError,
    SentenceTransformerEmbedder,
    model_path,
)
from tests.conftest import SAMPLE_LIBRARY
from tests.search.test_sample_library import POOL_EXHAUSTION

try:
    model_path(DEFAULT_MODEL)
    HAVE_MODEL = True
except EmbeddingError:
    HAVE_MODEL = False

pytestmark = pytest.mark.skipif(not HAVE_MODEL, reason=f"{DEFAULT_MODEL} is not installed")


def test_serves_fulltext_at_once_then_understands_paraphrases(tmp_path: Path) -> None:
    settings = Settings(
        library=SAMPLE_LIBRARY, data_dir=tmp_path / "data", embedding_model=DEFAULT_MODEL
    )
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready" and ready["fulltext"] is True
        assert ready["semantic"] is False  # the model is still loading
        early = client.get("/api/search", params={"q": "connection pool exhaustion"}).json()
        assert early["mode"] == "fulltext" and early["total"] > 0

        deadline = time.monotonic() + 180
        while not client.get("/readyz").json()["semantic"]:
            assert time.monotonic() < deadline, client.get("/readyz").json()
            time.sleep(0.5)

        query = "the database ran out of connections under load"
        semantic = client.get("/api/search", params={"q": query, "mode": "semantic"}).json()
        top = {hit["id"] for hit in semantic["results"][:5]}
        assert len(top & POOL_EXHAUSTION) >= 2, semantic["results"][:5]
        hybrid = client.get("/api/search", params={"q": query}).json()
        assert hybrid["mode"] == "hybrid"
        assert len({hit["id"] for hit in hybrid["results"][:4]} & POOL_EXHAUSTION) >= 2

        hikari = "2026-03-09-checkout-hikari-pool-saturation"
        related = client.get(f"/api/postmortems/{hikari}/related").json()["items"]
        assert {item["id"] for item in related[:3]} & POOL_EXHAUSTION
        assert any(r["kind"] == "similar_passage" for r in related[0]["reasons"])
        assert client.get("/api/duplicates").json()["items"] == []  # no duplicates shipped


def test_bfloat16_embeds_what_float32_does() -> None:
    """bfloat16 is only worth its speed if the vectors (and so the rankings) stay put."""
    path = model_path(DEFAULT_MODEL)
    exact = SentenceTransformerEmbedder(path, DEFAULT_MODEL, precision="float32")
    fast = SentenceTransformerEmbedder(path, DEFAULT_MODEL, precision="bfloat16")
    texts = [
        "PgBouncer's pool was saturated, so checkout requests queued for connections.",
        "The TLS certificate of the payment gateway expired at midnight.",
        "A retry storm from the mobile clients overloaded the identity service.",
    ]
    pairs = exact.embed(texts) @ fast.embed(texts).T
    assert pairs.diagonal().min() > 0.99  # each text embeds as itself
    assert (pairs.argmax(axis=1) == range(len(texts))).all()
    query = fast.embed(["the database ran out of connections"])[0]
    assert int((fast.embed(texts) @ query).argmax()) == 0


def test_a_query_embeds_as_the_full_model_embeds_it() -> None:
    """A query runs through a traced copy of the transformer (int8 weights where
    the CPU computes bfloat16): its vector must be the model's own, near enough
    that no ranking moves."""
    path = model_path(DEFAULT_MODEL)
    exact = SentenceTransformerEmbedder(path, DEFAULT_MODEL, precision="float32")
    fast = SentenceTransformerEmbedder(path, DEFAULT_MODEL)
    queries = [
        "oom",
        "the database ran out of connections",
        "why did checkout time out after the pgbouncer upgrade on friday night",
    ]
    for query in queries:
        single = fast.embed([query])[0]  # one text: the traced query model
        assert float(single @ exact.embed([query])[0]) > 0.999
        batch = fast.embed([query, "a second text"])[0]  # batches: the plain model
        assert float(single @ batch) > 0.999


def test_the_second_load_takes_the_compiled_copy_and_embeds_the_same(tmp_path: Path) -> None:
    """An author's `pml index` after an edit loads the compiled copy, not sentence-transformers,
    and its vectors are the full model's, one at a time and in batches of mixed lengths."""
    import subprocess
    import sys

    import numpy as np

    from indexer.search import _embeddings

    cache = tmp_path / "models"
    full = _embeddings.load(DEFAULT_MODEL, precision="float32", compiled=cache)
    assert isinstance(full, SentenceTransformerEmbedder)
    [folder] = list(cache.iterdir())  # left by the first load
    texts = [
        "the database ran out of connections",
        "OOM",
        "Checkout returned 502 while the canary rolled out. " * 60,  # past 256 word pieces
    ]
    again = _embeddings.load(DEFAULT_MODEL, precision="float32", compiled=cache)
    assert isinstance(again, _embeddings.CompiledEmbedder)
    for batch in ([texts[0]], texts):
        similarity = np.sum(again.embed(batch) * full.embed(batch), axis=1)
        assert similarity.min() > 0.999, similarity

    # In a fresh process (as `pml index` runs), sentence-transformers is never imported.
    probe = (
        "import sys; from pathlib import Path; from indexer.search import _embeddings as e;"
        f"m = e.load({DEFAULT_MODEL!r}, precision='float32', compiled=Path({str(cache)!r}));"
        "m.embed(['pool exhausted']);"
        "print(type(m).__name__, 'sentence_transformers' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["CompiledEmbedder", "False"]

    # A damaged copy is passed over: the full model loads and still answers.
    (folder / "transformer.pt").write_bytes(b"not a model")
    fallback = _embeddings.load(DEFAULT_MODEL, precision="float32", compiled=cache)
    assert isinstance(fallback, SentenceTransformerEmbedder)
    assert fallback.embed(["pool exhausted"]).shape == (1, full.dimension)


def test_a_model_whose_files_change_is_compiled_anew(tmp_path: Path) -> None:
    """The copy is named by the model files it came from: a changed file is another copy."""
    import shutil

    from indexer.search import _embeddings

    source = tmp_path / "model"
    shutil.copytree(model_path(DEFAULT_MODEL), source)
    before = _embeddings.compiled_folder(tmp_path / "models", str(source), source, "float32")
    (source / "config.json").write_text((source / "config.json").read_text() + "\n")
    after = _embeddings.compiled_folder(tmp_path / "models", str(source), source, "float32")
    assert before != after and before.parent == after.parent
