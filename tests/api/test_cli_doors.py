"""The CLI's `--json` answers are the API's: both doors call the same use case.

These were drifts once: `pml show --json` lacked `incidents` and
`ticket_url`, `pml related --json` listed earlier postmortems only while the
API lists both, `pml search` could not sort by date, and `pml index` never
loaded the library's incident history.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from api.app import create_app
from api.cli import main
from indexer.config import Settings
from tests.conftest import postmortem_text, write

TICKETS = "OPS-=https://tickets.example/browse/{ticket}"
HISTORY = """source_id,title,service,severity,started_at,resolved_at,error_class,postmortem
X1,Pool,orders,SEV2,2025-03-14T10:00:00Z,2025-03-14T10:30:00Z,,middle
X2,Other,catalog,SEV3,2025-05-01T10:00:00Z,2025-05-01T10:20:00Z,dns-failure,
"""


@pytest.fixture
def library(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    dated = {"early": "2025-01-10", "middle": "2025-03-14", "late": "2025-06-02"}
    for name, day in dated.items():
        item = {"id": "AI-1", "title": "Alert on waiting clients", "ticket": "OPS-7"}
        text = postmortem_text(
            id=name,
            date=day,
            title=f"Orders pool exhaustion ({name})",
            error_classes=["connection-pool-exhaustion"],
            action_items=[item],
        )
        write(settings.library, f"2025/{name}.md", text)
    write(settings.library, "incidents.csv", HISTORY)
    monkeypatch.setenv("PML_LIBRARY", str(settings.library))
    monkeypatch.setenv("PML_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PML_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("PML_EMBEDDING_MODEL", "hash")
    monkeypatch.setenv("PML_TICKET_URLS", TICKETS)
    return settings.model_copy(update={"ticket_urls": TICKETS})


def _cli(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in args else result.stdout


@pytest.fixture
def client(library: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(library)) as test_client:
        yield test_client


def test_pml_index_loads_the_incident_history(library: Settings) -> None:
    output = _cli("index")
    assert "incident history: 2 added, 0 updated" in output
    assert "incident history" not in _cli("index")  # unchanged: not loaded again


def test_show_json_is_the_api_record(library: Settings, client: TestClient) -> None:
    shown = _cli("show", "middle", "--json")
    assert shown == client.get("/api/postmortems/middle").json()
    assert shown["action_items"][0]["ticket_url"] == "https://tickets.example/browse/OPS-7"
    assert [incident["source_id"] for incident in shown["incidents"]] == ["X1"]


def test_related_json_is_the_api_answer_earlier_and_later(
    library: Settings, client: TestClient
) -> None:
    found = _cli("related", "middle", "--json")
    assert found == client.get("/api/postmortems/middle/related").json()
    assert {item["when"] for item in found["items"]} == {"earlier", "later"}
    past = _cli("related", "middle", "--json", "--scope", "past")
    assert past == client.get("/api/postmortems/middle/related?scope=past").json()
    assert [item["id"] for item in past["items"]] == ["early"]


def test_search_sorts_by_date_like_the_api(library: Settings, client: TestClient) -> None:
    for sort in ("relevance", "date"):
        found = _cli("search", "pool", "exhaustion", "--json", "--mode", "fulltext", "--sort", sort)
        params = {"q": "pool exhaustion", "mode": "fulltext", "sort": sort}
        answer = client.get("/api/search", params=params).json()
        assert [hit["id"] for hit in found["results"]] == [hit["id"] for hit in answer["results"]]
    newest = _cli("search", "pool", "--json", "--mode", "fulltext", "--sort", "date")
    assert [hit["id"] for hit in newest["results"]] == ["late", "middle", "early"]
