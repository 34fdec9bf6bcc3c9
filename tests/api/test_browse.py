"""Drill-down: every number leads to the list behind it, and the pages that gather
everything about a service, an error class and the action items (HTTP, sample library)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from indexer.config import Settings
from tests.conftest import SAMPLE_LIBRARY

POOL = "2025-02-11-orders-pgbouncer-pool-exhaustion"
AS_OF = "2026-11-26"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("browse")
    settings = Settings(library=SAMPLE_LIBRARY, data_dir=data, embedding_model="hash")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _row_links(page: str, table: str) -> list[tuple[str, int]]:
    """(link, first number) of each row of a data table on a page."""
    body = page.split(f'id="table-{table}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-href="([^"]+)">.*?data-value="([^"]*)"', body, re.S)
    return [(unescape(link), int(float(value or 0))) for link, value in rows]


def _incidents_total(client: TestClient, link: str) -> int:
    parts = urlsplit(link)
    assert parts.path == "/incidents"
    response = client.get("/api/incidents", params=parse_qsl(parts.query))
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


@pytest.mark.parametrize(
    "url",
    [
        f"/trends?as_of={AS_OF}&days=365",
        f"/trends?as_of={AS_OF}&days=365&service=orders",
        f"/review/monthly?as_of={AS_OF}",
    ],
)
def test_every_trend_row_leads_to_the_incidents_it_counts(client: TestClient, url: str) -> None:
    page = client.get(url).text
    for table in ("failure-modes", "services", "mttr"):
        rows = _row_links(page, table)
        assert rows, table
        for link, count in rows:
            assert _incidents_total(client, link) == count, (table, link)
            if "service=orders" in url:
                assert "service=orders" in link


def test_trends_take_the_reviews_date_and_filters(client: TestClient) -> None:
    page = client.get("/trends", params={"as_of": AS_OF, "service": "orders"}).text
    assert f'name="as_of" value="{AS_OF}"' in page
    assert '<option value="orders" selected>' in page
    assert 'name="error_class"' in page
    everything = client.get("/trends", params={"as_of": AS_OF}).text
    assert len(_row_links(page, "services")) == 1  # only orders
    assert len(_row_links(everything, "services")) > 1


def test_service_page_gathers_everything_about_it(client: TestClient) -> None:
    page = client.get("/services/orders", params={"as_of": AS_OF})
    assert page.status_code == 200
    assert f'href="/postmortems/{POOL}"' in page.text
    assert 'href="/incidents?service=orders"' in page.text
    assert "Open action items" in page.text and "Near-misses" in page.text
    body = client.get("/api/services/orders", params={"as_of": AS_OF}).json()
    listed = client.get("/api/postmortems", params={"service": "orders", "limit": 100}).json()
    assert body["postmortems"]["total"] == listed["total"] > 0
    incidents = client.get("/api/incidents", params={"service": "orders"}).json()
    assert body["incidents"]["total"] == incidents["total"] > 0
    items = client.get("/api/action-items", params={"service": "orders", "as_of": AS_OF}).json()
    still_open = [i for i in items["items"] if i["status"] in ("open", "in_progress")]
    assert body["action_items"]["total"] == len(still_open)


def test_an_unknown_service_is_a_404_with_did_you_mean(client: TestClient) -> None:
    response = client.get("/services/ordres")
    assert response.status_code == 404
    assert 'href="/services/orders"' in response.text
    assert client.get("/api/services/ordres").status_code == 404
    assert client.get("/api/services/unmapped").status_code == 200  # still its own route


def test_error_class_index_and_page(client: TestClient) -> None:
    index = client.get("/error-classes", params={"as_of": AS_OF}).text
    assert 'href="/error-classes/connection-pool-exhaustion"' in index
    body = client.get("/api/error-classes", params={"as_of": AS_OF}).json()
    pool = next(i for i in body["items"] if i["name"] == "connection-pool-exhaustion")
    listed = client.get("/api/postmortems", params={"error_class": pool["name"]}).json()
    assert pool["postmortems"] == listed["total"] > 0
    assert _incidents_total(client, pool["incidents_url"]) == pool["incidents"]
    page = client.get("/error-classes/connection-pool-exhaustion").text
    assert 'href="/error-classes/connection-pool-exhaustion/pack"' in page
    assert f'href="/postmortems/{POOL}"' in page
    missing = client.get("/error-classes/conection-pool-exhaustion")
    assert missing.status_code == 404
    assert 'href="/error-classes/connection-pool-exhaustion"' in missing.text


def test_action_items_page_filters_by_owner_and_overdue(client: TestClient) -> None:
    everything = client.get("/api/action-items", params={"as_of": AS_OF}).json()["items"]
    overdue = [i for i in everything if i["overdue"]]
    owner = overdue[0]["owner"]
    page = client.get("/action-items", params={"owner": owner, "overdue": "true", "as_of": AS_OF})
    assert page.status_code == 200
    mine = [i for i in overdue if i["owner"] == owner]
    assert f"<strong>{len(mine)}</strong> action item" in page.text
    assert f'<option value="{owner}" selected>' in page.text
    assert page.text.count('class="is-overdue"') == len(mine)
    empty_select = client.get("/action-items", params={"status": "", "owner": ""})
    assert empty_select.status_code == 200
    assert client.get("/action-items", params={"status": "later"}).status_code == 422


def test_incidents_are_in_the_navigation_with_select_filters(client: TestClient) -> None:
    home = client.get("/").text
    assert 'href="/incidents"' in home and 'href="/action-items"' in home
    page = client.get("/incidents").text
    for name in ("source", "service", "severity", "error_class"):
        assert f'<select id="if-{name}" name="{name}">' in page
    assert '<option value="orders">orders</option>' in page


def test_incident_filters_ignore_case(client: TestClient) -> None:
    exact = client.get("/api/incidents", params={"service": "orders", "severity": "SEV1"}).json()
    typed = client.get("/api/incidents", params={"service": "Orders", "severity": "sev1"}).json()
    assert typed["total"] == exact["total"] > 0
    page = client.get("/incidents", params={"service": "Orders"}).text
    assert '<option value="orders" selected>' in page


@pytest.mark.parametrize(
    "query", [{"as_of": "2026-10-25"}, {"as_of": "2026-10-25", "service": "orders"}]
)
def test_weekly_review_figures_lead_to_their_lists(
    client: TestClient, query: dict[str, str]
) -> None:
    page = client.get("/review/weekly", params=query).text
    figures = re.findall(
        r'<a class="stat[^"]*" href="([^"]+)"><span class="stat-value">(\d+)', page
    )
    links = {unescape(link).split("?")[0]: (unescape(link), int(n)) for link, n in figures}
    link, incidents = links["/incidents"]
    assert _incidents_total(client, link) == incidents
    link, postmortems = links["/"]
    listed = client.get("/api/search", params=parse_qsl(urlsplit(link).query)).json()
    assert listed["total"] == postmortems
    link, overdue = links["/action-items"]
    params = parse_qsl(urlsplit(link).query)
    assert client.get("/api/action-items", params=params).json()["total"] == overdue


def test_error_class_pack_says_only_what_is_true(client: TestClient) -> None:
    name = "connection-pool-exhaustion"
    pack = client.get(f"/api/error-classes/{name}/pack").json()
    assert all(item["reasons"] == [] for item in pack["postmortems"])
    page = client.get(f"/error-classes/{name}/pack").text
    assert "chosen by the presenter" not in page
    # "Came back" names later postmortems of this error class only.
    members = {item["id"] for item in pack["postmortems"]}
    came_back = [later for row in pack["comparison"] for later in row["came_back"]]
    assert came_back and set(came_back) <= members


def test_an_empty_week_points_to_the_latest_week_with_incidents(client: TestClient) -> None:
    page = client.get("/review/weekly", params={"as_of": "2027-06-01"}).text
    found = re.search(r'started on (\d{4}-\d{2}-\d{2}): <a href="([^"]+)"', page)
    assert found, "the empty week says where the incidents are"
    day, link = found.group(1), unescape(found.group(2))
    assert link == f"/review/weekly?as_of={day}"
    week = client.get("/api/review/weekly", params={"as_of": day}).json()
    assert week["incidents"] and week["latest_incident_day"] is None
    assert max(i["started_at"][:10] for i in week["incidents"]) == day
