"""Semantic and hybrid search, related postmortems and duplicates (deterministic embedder)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.cli import main
from indexer.config import Settings
from indexer.format.postmortem import parse
from indexer.indexing import ingest
from indexer.search import _passages, _semantic, _vectors
from indexer.search._embeddings import (
    EmbeddingError,
    HashingEmbedder,
    normalise,
    resolve_precision,
)
from indexer.search._hybrid import RRF_K, agreement, fuse
from indexer.search._vectors import ExactVectorIndex, Match
from tests.conftest import postmortem_text, write

LONG = " ".join(f"word{n}" for n in range(400))


def test_passages_carry_title_and_heading_and_respect_the_size_limits() -> None:
    body = (
        "## Summary\nShort.\n\n## Impact\n"
        + "Checkout failed for many shoppers. " * 10
        + "\n\n## Contributing factors\n"
        + LONG
        + "\n\n## Timeline\n- 14:02 pages fire\n\n## Action items\n- [ ] Alert on pool use\n"
    )
    passages = _passages.chunk(parse(postmortem_text(body=body), "x.md"))
    assert passages[0].text.startswith("Orders API returned errors. Summary. Short. Checkout")
    assert all(len(p.text.split()) <= _passages.MAX_WORDS + 12 for p in passages)
    factors = [p for p in passages if p.heading == "Contributing factors"]
    assert len(factors) == 3  # 400 words in windows of 160 overlapping by 30
    assert [p.ordinal for p in passages] == list(range(len(passages)))
    # Timestamps and task lists are left to full-text search.
    assert not [p for p in passages if "14:02" in p.text or "Alert on pool use" in p.text]


def test_the_plain_reference_cut_embeds_every_paragraph_with_the_title(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_passages, "GRANULARITY", "plain")
    body = "## Impact\nCheckout failed.\n\n## Timeline\n- 14:02 pages fire\n"
    texts = [p.text for p in _passages.chunk(parse(postmortem_text(body=body), "x.md"))]
    assert texts == [
        "Orders API returned errors. Checkout failed.",
        "Orders API returned errors. 14:02 pages fire",
    ]


def test_hashing_embedder_is_deterministic_and_unit_length() -> None:
    embedder = HashingEmbedder(64)
    first, second = embedder.embed(["database connections ran out", "database connections ran out"])
    assert (first == second).all()
    assert abs(float(first @ first) - 1.0) < 1e-5


def test_rrf_rewards_agreement_between_rankers() -> None:
    lexical = [("a", 9.0), ("b", 5.0), ("c", 1.0)]
    semantic = [Match("c", 0.9, 0), Match("b", 0.8, 0), Match("d", 0.7, 0)]
    fused = [identifier for identifier, _ in fuse(lexical, semantic)]
    assert set(fused[:2]) == {"b", "c"}  # both rankers found them
    assert fused[2:] == ["a", "d"]


def test_a_semantic_ranking_that_agrees_with_full_text_votes_as_much() -> None:
    lexical = [("a", 9.0), ("b", 5.0)]
    # Both rankings hold a and b: the semantic vote is whole, so the
    # postmortem both put near the top wins, and their votes weigh the same.
    fused = dict(fuse(lexical, [Match("b", 0.9, 0), Match("a", 0.8, 0)]))
    assert agreement(lexical, [Match("b", 0.9, 0), Match("a", 0.8, 0)]) == 1.0
    assert fused["a"] == pytest.approx(fused["b"])
    assert fused["a"] == pytest.approx(1 / (RRF_K + 1) + 1 / (RRF_K + 2), abs=1e-6)


def test_a_semantic_ranking_that_finds_other_postmortems_does_not_reorder_full_text() -> None:
    lexical = [(f"w{n}", 10.0 - n) for n in range(10)]
    semantic = [Match(f"m{n}", 0.5 - n / 100, 0) for n in range(10)]
    assert agreement(lexical, semantic) == 0.0
    fused = [identifier for identifier, _ in fuse(lexical, semantic)]
    # Full-text's order first, then the semantic candidates in their own order.
    assert fused == [f"w{n}" for n in range(10)] + [f"m{n}" for n in range(10)]


def test_the_semantic_vote_grows_with_the_share_of_its_top_ten_full_text_also_found() -> None:
    lexical = [(f"w{n}", 10.0 - n) for n in range(10)]
    shared = [Match(f"w{9 - n}", 0.6, 0) for n in range(3)]
    semantic = shared + [Match(f"m{n}", 0.5, 0) for n in range(7)]
    assert agreement(lexical, semantic) == pytest.approx(0.3)
    # When full-text finds nothing, there is nothing to disagree with: semantic's order.
    assert agreement([], semantic) == 1.0
    assert [i for i, _ in fuse([], semantic)] == [m.postmortem_id for m in semantic]


def _library(folder: Path) -> None:
    write(
        folder,
        "2025/pool.md",
        postmortem_text(
            id="pool",
            title="Orders API timeouts",
            date="2025-02-11",
            services=["orders"],
            error_classes=["connection-pool-exhaustion"],
            summary="PgBouncer had no free server connections so clients queued and timed out.",
        ),
    )
    write(
        folder,
        "2025/pool-again.md",
        postmortem_text(
            id="pool-again",
            title="Catalog replicas refused sessions",
            date="2025-07-22",
            services=["catalog"],
            error_classes=["connection-pool-exhaustion"],
            summary="The replicas hit max_connections; new sessions were refused under load.",
        ),
    )
    write(
        folder,
        "2025/cert.md",
        postmortem_text(
            id="cert",
            title="Login failures",
            date="2025-06-01",
            services=["identity"],
            error_classes=["certificate-expiry"],
            summary="The certificate on the identity provider expired overnight.",
        ),
    )
    write(
        folder,
        "2026/secret.md",
        postmortem_text(
            id="secret",
            title="Leaked key",
            date="2026-01-05",
            visibility="restricted",
            audience=["security"],
            services=["orders"],
            error_classes=["connection-pool-exhaustion"],
            summary="Server connections were exhausted by an attacker replaying sessions.",
        ),
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    _library(settings.library)
    with TestClient(create_app(settings)) as test_client:
        test_client.app.state  # noqa: B018 (lifespan has run)
        library = test_client.app.router.lifespan_context  # noqa: F841
        yield test_client


def _wait_semantic(client: TestClient) -> None:
    import time

    deadline = time.monotonic() + 20
    while not client.get("/readyz").json()["semantic"]:
        assert time.monotonic() < deadline, client.get("/readyz").json()
        time.sleep(0.05)


def test_semantic_and_hybrid_modes_over_http(client: TestClient) -> None:
    _wait_semantic(client)
    semantic = client.get(
        "/api/search", params={"q": "clients queued and timed out", "mode": "semantic"}
    ).json()
    assert semantic["mode"] == "semantic"
    assert semantic["results"][0]["id"] == "pool"
    assert semantic["results"][0]["section"] == "Summary"
    hybrid = client.get("/api/search", params={"q": "server connections"}).json()
    assert hybrid["mode"] == "hybrid"
    assert {hit["id"] for hit in hybrid["results"][:2]} <= {"pool", "pool-again"}
    assert "secret" not in str(hybrid) and "secret" not in str(semantic)


def test_filters_apply_in_every_mode(client: TestClient) -> None:
    _wait_semantic(client)
    for mode in ("hybrid", "fulltext", "semantic"):
        body = client.get(
            "/api/search",
            params={"q": "connections refused under load", "mode": mode, "service": "catalog"},
        ).json()
        assert [hit["id"] for hit in body["results"]] == ["pool-again"], mode
        assert set(body["facets"]["service"]) == {"catalog"}, mode


def test_taxonomy_alias_expands_the_query(client: TestClient) -> None:
    body = client.get(
        "/api/search", params={"q": "too many connections", "mode": "fulltext"}
    ).json()
    assert {hit["id"] for hit in body["results"][:2]} == {"pool", "pool-again"}


def test_related_gives_reasons_and_respects_time_and_visibility(client: TestClient) -> None:
    _wait_semantic(client)
    body = client.get("/api/postmortems/pool-again/related", params={"scope": "past"}).json()
    assert body["items"][0]["id"] == "pool"
    assert all(item["date"] <= "2025-07-22" for item in body["items"])  # past only
    assert {item["when"] for item in body["items"]} == {"earlier"}
    reasons = body["items"][0]["reasons"]
    assert {"kind": "error_class", "value": "connection-pool-exhaustion"} in reasons
    assert any(r["kind"] == "similar_passage" and r["passage"] for r in reasons)
    everything = client.get("/api/postmortems/pool/related", params={"scope": "all"}).json()
    assert "pool-again" in [item["id"] for item in everything["items"]]
    assert "secret" not in str(everything)
    assert client.get("/api/postmortems/secret/related").status_code == 404


def test_duplicates_are_flagged(settings: Settings) -> None:
    _library(settings.library)
    text = (settings.library / "2025/pool.md").read_text()
    write(
        settings.library,
        "2025/pool-copy.md",
        text.replace("id: pool\n", "id: pool-copy\n").replace("2025-02-11", "2025-02-12"),
    )
    with TestClient(create_app(settings)) as client:
        _wait_semantic(client)
        pairs = client.get("/api/duplicates").json()["items"]
    assert [(p["postmortem"]["id"], p["possible_duplicate_of"]["id"]) for p in pairs] == [
        ("pool-copy", "pool")
    ]
    result = CliRunner().invoke(main, ["lint", "--duplicates", str(settings.library)])
    assert "possible duplicate of pool" in result.stdout
    assert "pool-copy.md" in result.stdout


@pytest.mark.parametrize(("model", "state"), [("none", "disabled"), ("/no/such/model", "error")])
def test_fulltext_keeps_working_without_a_model(settings: Settings, model: str, state: str) -> None:
    _library(settings.library)
    settings.embedding_model = model
    with TestClient(create_app(settings)) as client:
        client.app.state  # noqa: B018
        ready = client.get("/readyz")
        for _ in range(100):
            if ready.json()["semantic_status"]["state"] == state:
                break
            ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["semantic"] is False
        assert ready.json()["semantic_status"]["state"] == state
        hybrid = client.get("/api/search", params={"q": "certificate"}).json()
        assert hybrid["mode"] == "fulltext" and hybrid["results"][0]["id"] == "cert"
        semantic = client.get("/api/search", params={"q": "certificate", "mode": "semantic"})
        assert semantic.status_code == 503
        assert "semantic search" in semantic.json()["detail"]
    if state == "error":
        assert "neither a folder nor an installed package" in str(ready.json())


def test_vectors_are_cached_by_content(settings: Settings, open_library: Any) -> None:
    _library(settings.library)
    library = open_library(settings)
    library.refresh()
    first = library.semantic.sync()
    assert first > 0
    write(
        settings.library,
        "2025/cert.md",
        postmortem_text(
            id="cert", title="Login failures", date="2025-06-01", summary="Renewed too late."
        ),
    )
    library.refresh()  # the model is loaded, so the refresh embeds what changed
    reopened = open_library(settings)
    reopened.refresh()
    assert reopened.semantic.sync() == 0  # everything came from the cache
    assert reopened.semantic.ready
    assert reopened.semantic.vectors is not None and len(reopened.semantic.vectors) == 4


class _RacingEmbedder(HashingEmbedder):
    """Embeds as the hashing model does, after letting another process store first."""

    def __init__(self, other: Any) -> None:
        super().__init__()
        self.other = other

    def embed(self, texts: list[str]) -> np.ndarray:
        if self.other is not None:
            other, self.other = self.other, None
            assert other.semantic.sync() > 0  # `pml index` stores the same passages
        return super().embed(texts)


def test_two_processes_embedding_the_same_passages_both_succeed(
    settings: Settings, open_library: Any
) -> None:
    _library(settings.library)
    server, indexer = open_library(settings), open_library(settings)
    server.refresh()
    indexer.semantic.load_model()
    server.semantic.embedder = _RacingEmbedder(indexer)
    assert server.semantic.sync() > 0
    assert server.semantic.ready and server.semantic.error is None
    assert server.semantic.vectors is not None and len(server.semantic.vectors) == 4
    assert [m.postmortem_id for m in server.semantic.search("certificate", 1)] == ["cert"]


class _FailingOnceEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    def embed(self, texts: list[str]) -> np.ndarray:
        if self.failures:
            self.failures -= 1
            raise MemoryError("the model ran out of memory")
        return super().embed(texts)


def test_a_failed_sync_keeps_the_loaded_vectors_serving_and_is_tried_again(
    settings: Settings, open_library: Any
) -> None:
    _library(settings.library)
    library = open_library(settings)
    library.refresh()
    assert library.semantic.sync() > 0
    library.semantic.embedder = _FailingOnceEmbedder()
    write(
        settings.library,
        "2025/disk.md",
        postmortem_text(id="disk", title="Disk full on the ledger", date="2025-07-01"),
    )
    library.refresh()  # its sync fails: the four loaded postmortems keep serving
    assert library.semantic.ready and library.semantic.stale
    assert "ran out of memory" in str(library.semantic.error)
    assert library.semantic.vectors is not None and len(library.semantic.vectors) == 4
    assert library.semantic.sync() > 0  # the next poll embeds what was left
    assert not library.semantic.stale and library.semantic.error is None
    assert len(library.semantic.vectors) == 5


class _RecordingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.batches.append(texts)
        return super().embed(texts)


def test_passages_are_embedded_shortest_first_so_batches_pad_little(
    settings: Settings, open_library: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n, sizes in enumerate(((120, 45), (60, 150, 90), (75, 140))):
        body = "".join(f"## Part {size}\n" + "word " * size + "\n\n" for size in sizes)
        write(settings.library, f"2025/p{n}.md", postmortem_text(id=f"p{n}", body=body))
    monkeypatch.setattr(_semantic, "BATCH", 2)
    library = open_library(settings)
    library.refresh()
    recorder = _RecordingEmbedder()
    library.semantic.embedder = recorder
    assert library.semantic.sync() == 7
    lengths = [len(text) for batch in recorder.batches for text in batch]
    assert len(recorder.batches) > 2 and lengths == sorted(lengths)


def test_passages_are_cut_anew_when_the_cutting_changes(
    settings: Settings, open_library: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _library(settings.library)
    library = open_library(settings)
    library.refresh()
    with library.engine.connect() as connection:
        before = {row[0] for row in connection.execute(text("SELECT heading FROM chunk"))}
    assert "Summary" in before
    # A release that embeds no "Summary" sections: files that did not change are cut again.
    monkeypatch.setattr(ingest, "PASSAGES_VERSION", _passages.VERSION + 1)
    monkeypatch.setattr(_passages, "NOT_EMBEDDED", _passages.NOT_EMBEDDED | {"summary"})
    report = open_library(settings).refresh()
    assert report.indexed == 4
    with library.engine.connect() as connection:
        after = {row[0] for row in connection.execute(text("SELECT heading FROM chunk"))}
    assert after == {"Impact"}
    assert open_library(settings).refresh().indexed == 0  # and only once


def test_an_unknown_precision_is_a_clear_error() -> None:
    with pytest.raises(EmbeddingError, match="precision must be one of auto, float32, bfloat16"):
        resolve_precision("int4")
    assert resolve_precision("float32") == "float32"


def test_the_half_precision_product_ranks_as_float32_does() -> None:
    rng = np.random.default_rng(7)
    ids = [f"pm{n // 3:04d}" for n in range(3 * 6000)]  # 6,000 postmortems, 3 passages each
    matrix = normalise(rng.standard_normal((len(ids), 32)).astype(np.float32))
    ordinals = [n % 3 for n in range(len(ids))]
    query = normalise(matrix[:1] + matrix[4:5])[0]  # close to pm0000 and pm0001
    exact = ExactVectorIndex(ids, ordinals, matrix).search(query, 20)
    with ThreadPoolExecutor(2) as pool:
        for blocks in (None, pool):  # 18,000 rows: the product is cut into row blocks
            half = ExactVectorIndex(ids, ordinals, matrix, blocks, half=True)
            assert half._half is not None and len(ids) >= _vectors.BLOCK_ROWS * 2
            found = half.search(query, 20)
            # The two are equally close: which comes first is rounding's choice.
            best = sorted((m.postmortem_id, m.ordinal) for m in found[:2])
            assert best == [("pm0000", 0), ("pm0001", 1)]
            assert max(abs(a.score - b.score) for a, b in zip(found, exact, strict=True)) < 2e-3
            close = {m.postmortem_id for m in exact[:10]}
            assert len(close & {m.postmortem_id for m in found[:10]}) >= 9
