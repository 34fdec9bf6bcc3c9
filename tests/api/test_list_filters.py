"""Every declared filter field of incidents, trends/reviews and action items filters over HTTP.

Each test runs over the field declarations of `indexer.filters` with the
samples of tests/filter_samples.py: a field declared without a sample fails
here. Every field repeats: `name=a&name=b` means either.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from indexer.config import Settings
from indexer.incidents import model
from indexer.library import Library
from tests.conftest import postmortem_text, write
from tests.filter_samples import (
    ACTION_ITEM_NAMES,
    ACTION_ITEM_SAMPLES,
    INCIDENT_NAMES,
    INCIDENT_SAMPLES,
    SCOPE_NAMES,
    SCOPE_SAMPLES,
    merged,
    sample,
)

START = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
AS_OF = "2026-03-31"


def _incident(name: str, fields: dict[str, Any], hours: int) -> model.Incident:
    started = START + dt.timedelta(hours=hours)
    values = {"source": "csv", **fields}
    return model.Incident(
        source_id=name,
        title=f"incident {name}",
        started_at=started,
        detected_at=started + dt.timedelta(minutes=5),
        resolved_at=started + dt.timedelta(minutes=30 * (hours + 1)),
        **values,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    a_items, b_items = merged(ACTION_ITEM_SAMPLES)
    for name, item in (("a", a_items), ("b", b_items)):
        entry = {"id": "AI-1", "title": f"Fix {name}", "due": "2026-04-01", **item}
        text = postmortem_text(id=f"pm-{name}", date="2026-03-02", action_items=[entry])
        write(settings.library, f"2026/pm-{name}.md", text)
    a, b = merged(INCIDENT_SAMPLES)
    with Library.open(settings) as library:
        library.refresh()
        for incident in (_incident("a", a, 0), _incident("b", b, 1)):
            # One upsert per source, as every importer calls it.
            report = model.ImportReport(source=incident.source)
            model.upsert(library.engine, [incident], report)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _picked(client: TestClient, path: str, params: dict[str, Any], key: str) -> list[str]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return sorted(item[key] for item in response.json()["items"])


@pytest.mark.parametrize("name", INCIDENT_NAMES)
def test_every_incident_field_filters_the_incident_list(client: TestClient, name: str) -> None:
    _, _, pick_a, pick_b = sample(name, INCIDENT_SAMPLES)
    assert _picked(client, "/api/incidents", {name: pick_a}, "source_id") == ["a"]
    assert _picked(client, "/api/incidents", {name: pick_b}, "source_id") == ["b"]
    assert _picked(client, "/api/incidents", {name: [pick_a, pick_b]}, "source_id") == ["a", "b"]
    page = client.get("/incidents", params={name: pick_b}).text
    assert "incident b" in page and "incident a" not in page


def _counted(client: TestClient, params: dict[str, Any]) -> int:
    response = client.get("/api/trends/mttr", params={"as_of": AS_OF, **params})
    assert response.status_code == 200, response.text
    return sum(point["incidents"] for point in response.json()["series"])


@pytest.mark.parametrize("name", SCOPE_NAMES)
def test_every_scope_field_narrows_trends_and_reviews(client: TestClient, name: str) -> None:
    _, _, pick_a, pick_b = sample(name, SCOPE_SAMPLES)
    assert _counted(client, {}) == 2
    assert _counted(client, {name: pick_a}) == 1
    assert _counted(client, {name: pick_b}) == 1
    assert _counted(client, {name: [pick_a, pick_b]}) == 2  # either, each incident once
    weekly = client.get("/api/review/weekly", params={"as_of": "2026-03-03", name: pick_b})
    assert [i["source_id"] for i in weekly.json()["incidents"]] == ["b"]
    assert weekly.json()["scope"][name] == pick_b
    both = client.get("/api/review/monthly", params={"as_of": AS_OF, name: [pick_a, pick_b]})
    assert both.json()["scope"][name] == [pick_a, pick_b]


@pytest.mark.parametrize("name", ACTION_ITEM_NAMES)
def test_every_action_item_field_filters_action_items(client: TestClient, name: str) -> None:
    _, _, pick_a, pick_b = sample(name, ACTION_ITEM_SAMPLES)
    params = {"as_of": AS_OF}
    assert _picked(client, "/api/action-items", {**params, name: pick_a}, "postmortem") == ["pm-a"]
    assert _picked(client, "/api/action-items", {**params, name: pick_b}, "postmortem") == ["pm-b"]
    both = {**params, name: [pick_a, pick_b]}
    assert _picked(client, "/api/action-items", both, "postmortem") == ["pm-a", "pm-b"]


def test_an_undeclared_filter_is_not_a_parameter(client: TestClient) -> None:
    """Only declared fields filter: anything else is ignored like any unknown parameter."""
    assert _picked(client, "/api/incidents", {"colour": "red"}, "source_id") == ["a", "b"]
    bad = client.get("/api/incidents", params={"since": "2026-03-05", "until": "2026-03-01"})
    assert bad.status_code == 422 and "after until" in bad.json()["detail"]
