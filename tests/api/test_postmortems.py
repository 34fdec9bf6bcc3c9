"""The HTTP API, through real HTTP requests to the app (TestClient)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from indexer.config import Settings
from tests.conftest import postmortem_text, write


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    lib = settings.library
    write(
        lib,
        "2025/pool.md",
        postmortem_text(
            id="pool",
            title="Orders API timeouts after PgBouncer pool exhaustion",
            date="2025-02-11",
            services=["orders"],
            error_classes=["connection-pool-exhaustion"],
            severity="SEV2",
            summary="All 200 server connections were checked out and <script>x</script> queued.",
            action_items=[
                {
                    "id": "AI-1",
                    "title": "Alert on waiting clients",
                    "type": "detect",
                    "owner": "dana",
                    "due": "2025-03-01",
                    "status": "open",
                }
            ],
        ),
    )
    write(
        lib,
        "2025/cert.md",
        postmortem_text(
            id="cert",
            title="Login failures after certificate expiry",
            date="2025-06-01",
            services=["identity"],
            error_classes=["certificate-expiry"],
            severity="SEV1",
        ),
    )
    write(
        lib,
        "2026/secret.md",
        postmortem_text(
            id="secret",
            title="Leaked signing key pool",
            date="2026-01-05",
            visibility="restricted",
            audience=["security"],
            services=["identity"],
            type="security",
        ),
    )
    write(lib, "2026/broken.md", "---\ntitle: [\n---\n")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_search_shape_and_ranking(client: TestClient) -> None:
    response = client.get("/api/search", params={"q": "pool exhaustion"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"query", "total", "took_ms", "results", "facets"}
    assert body["query"] == "pool exhaustion"
    top = body["results"][0]
    assert set(top) == {
        "id",
        "title",
        "date",
        "severity",
        "services",
        "error_classes",
        "score",
        "snippet",
        "section",
        "strength",
        "coverage",
        "similarity",
        "named",
        "status",
    }
    assert top["id"] == "pool"
    assert top["date"] == "2025-02-11"
    assert top["error_classes"] == ["connection-pool-exhaustion"]
    assert "&lt;script&gt;" in top["snippet"] and "<script>" not in top["snippet"]
    assert body["facets"]["service"]["orders"] == 1


def test_restricted_postmortems_never_appear_without_access(client: TestClient) -> None:
    body = client.get("/api/search", params={"q": "pool"}).json()
    assert [hit["id"] for hit in body["results"]] == ["pool"]
    assert "restricted" not in str(body) and "secret" not in str(body)
    assert client.get("/api/postmortems/secret").status_code == 404
    assert client.get("/api/postmortems").json()["total"] == 2


def test_filters_and_facets(client: TestClient) -> None:
    body = client.get("/api/search", params={"service": "identity"}).json()
    assert [hit["id"] for hit in body["results"]] == ["cert"]
    assert body["facets"]["severity"] == {"SEV1": 1}
    both = client.get("/api/search", params=[("service", "identity"), ("service", "orders")])
    assert both.json()["total"] == 2
    dated = client.get("/api/search", params={"since": "2025-05-01", "until": "2025-12-31"})
    assert [hit["id"] for hit in dated.json()["results"]] == ["cert"]


@pytest.mark.parametrize(
    "query",
    [
        '"unbalanced',
        "error: 500",
        "AND AND",
        "title:(",
        "*",
        "-",
        "a" * 400,
        "pool)))",
        "\\",
        "[1 TO 2]",
        "ü ö 漢字",
    ],
)
def test_hostile_queries_never_fail(client: TestClient, query: str) -> None:
    response = client.get("/api/search", params={"q": query})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": 1000}, "limit: Input should be less than or equal to 100"),
        ({"limit": 0}, "limit: Input should be greater than or equal to 1"),
        ({"offset": -1}, "offset"),
        ({"since": "yesterday"}, "since: Input should be a valid date"),
        ({"q": "x" * 501}, "q: String should have at most 500 characters"),
    ],
)
def test_bad_input_is_a_4xx_with_a_message(
    client: TestClient, params: dict[str, object], message: str
) -> None:
    response = client.get("/api/search", params=params)
    assert response.status_code == 422
    assert message in response.json()["message"]


def test_a_huge_list_offset_is_a_422_not_a_server_error(client: TestClient) -> None:
    # Found by the schema fuzzer: an offset past SQLite's 64-bit integers was a 500.
    response = client.get("/api/postmortems", params={"offset": 10**30})
    assert response.status_code == 422
    assert "offset: Input should be less than or equal to 1000000" in response.json()["message"]
    assert client.get("/api/postmortems", params={"offset": 1_000_000}).json()["items"] == []


def test_inverted_window_is_a_400(client: TestClient) -> None:
    response = client.get("/api/search", params={"since": "2026-01-01", "until": "2025-01-01"})
    assert response.status_code == 400
    assert response.json()["detail"] == "since (2026-01-01) is after until (2025-01-01)"


def test_list_and_detail(client: TestClient) -> None:
    listing = client.get("/api/postmortems", params={"error_class": "certificate-expiry"}).json()
    assert [item["id"] for item in listing["items"]] == ["cert"]
    newest_first = client.get("/api/postmortems").json()["items"]
    assert [item["id"] for item in newest_first] == ["cert", "pool"]
    detail = client.get("/api/postmortems/pool").json()
    assert detail["title"] == "Orders API timeouts after PgBouncer pool exhaustion"
    assert "<h2>Summary</h2>" in detail["body_html"]
    assert "<script>" not in detail["body_html"]
    item = detail["action_items"][0]
    assert item["owner"] == "dana" and item["due"] == "2025-03-01"
    assert item["overdue"] is True


def test_unknown_postmortem_is_404_with_message(client: TestClient) -> None:
    response = client.get("/api/postmortems/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "no postmortem with id 'nope'", "did_you_mean": []}


def test_broken_file_is_listed_as_a_problem(client: TestClient) -> None:
    problems = client.get("/api/problems").json()["items"]
    assert [p["path"] for p in problems] == ["2026/broken.md"]
    assert "invalid YAML" in problems[0]["message"]


def test_health_ready_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["fulltext"] is True
    assert ready["postmortems"] == 2  # what the caller may read: not the restricted one
    assert "passages" not in ready["semantic_status"]  # index-wide counts are for admins
    assert client.get("/docs").status_code == 200
    assert "/api/search" in client.get("/openapi.json").json()["paths"]


def test_serves_with_library_on_relative_path(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "lib", "a.md", postmortem_text(title="Relative"))
    settings = Settings(library=Path("lib"), data_dir=Path("data"), database_url=database_url)
    with TestClient(create_app(settings)) as test_client:
        assert test_client.get("/api/search", params={"q": "relative"}).json()["total"] == 1
