"""The SRE lead's journey over HTTP: reviews, trends and near-misses on the sample library.

Every figure a page shows is checked against its JSON twin or recomputed
from the raw series, so a page that drifts from the data fails here.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from api.app import create_app
from indexer.config import Settings
from tests.api.test_pages import _signed
from tests.conftest import SAMPLE_LIBRARY

AS_OF = "2026-11-26"
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("sre")
    settings = Settings(library=SAMPLE_LIBRARY, data_dir=data, embedding_model="hash")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _json(client: TestClient, url: str, **params: Any) -> Any:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_review_pages_have_a_date_picker_and_filters(client: TestClient) -> None:
    for cadence in ("weekly", "monthly", "quarterly"):
        page = client.get(f"/review/{cadence}", params={"as_of": AS_OF}).text
        assert f'<form class="toolbar card review-filters" action="/review/{cadence}"' in page
        assert f'<input type="date" name="as_of" value="{AS_OF}"' in page
        assert '<option value="orders">orders</option>' in page  # the taxonomy's services
        assert '<option value="certificate-expiry">' in page  # and error classes
    everything = _json(client, "/api/review/weekly", as_of=AS_OF)
    identity = _json(client, "/api/review/weekly", as_of=AS_OF, service="identity")
    assert {i["service"] for i in everything["incidents"]} > {"identity"}
    assert identity["incidents"] and {i["service"] for i in identity["incidents"]} == {"identity"}
    assert all(
        "identity" in client.get(f"/api/postmortems/{item['postmortem']}").json()["services"]
        for item in identity["overdue_action_items"]
    )
    page = client.get("/review/weekly", params={"as_of": AS_OF, "service": "identity"}).text
    assert '<option value="identity" selected>' in page
    cell = '<td data-label="Service"><a href="/services/identity">identity</a></td>'
    assert page.count(cell) == len(identity["incidents"])
    assert 'href="/services/orders"' not in page
    # An empty <select> means "all", not "the service named ''".
    blank = client.get("/review/weekly", params={"as_of": AS_OF, "service": "", "error_class": ""})
    assert blank.status_code == 200 and "Clear filters" not in blank.text
    pool = _json(
        client, "/api/review/quarterly", as_of=AS_OF, error_class="connection-pool-exhaustion"
    )
    assert [t["id"] for t in pool["targets"]] == ["pool-exhaustion-to-4"]
    assert [i["error_class"] for i in pool["investments"]["items"]] == [
        "connection-pool-exhaustion"
    ]
    monthly = _json(client, "/api/review/monthly", as_of=AS_OF, service="orders")
    assert {i["service"] for i in monthly["services"]["items"]} == {"orders"}
    assert {i["service"] for i in monthly["error_budget"]["items"]} <= {"orders"}


def test_overdue_items_are_grouped_by_owner_with_days_overdue(client: TestClient) -> None:
    review = _json(client, "/api/review/weekly", as_of=AS_OF)
    overdue, groups = review["overdue_action_items"], review["overdue_by_owner"]
    assert len(overdue) > 20  # the "red wall" of the issue
    assert sum(group["count"] for group in groups) == len(overdue)
    assert [g["count"] for g in groups] == sorted((g["count"] for g in groups), reverse=True)
    today = dt.date.fromisoformat(AS_OF)
    for group in groups:
        for item in group["items"]:
            assert item["owner"] == group["owner"]
            assert item["days_overdue"] == (today - dt.date.fromisoformat(item["due"])).days > 0
        assert group["most_days_overdue"] == max(i["days_overdue"] for i in group["items"])
    page = _text(client.get("/review/weekly", params={"as_of": AS_OF}).text)
    first = groups[0]
    assert (
        f"{first['owner']} : {first['count']} overdue, the oldest {first['most_days_overdue']}"
        in (page)
    )
    assert f"{first['items'][0]['days_overdue']} days" in page


def test_every_verdict_carries_its_figure(client: TestClient) -> None:
    review = _json(client, "/api/review/monthly", as_of=AS_OF)
    page = client.get("/review/monthly", params={"as_of": AS_OF}).text
    for metric, label in (("mttr", "resolve"), ("mtta", "acknowledge"), ("mttd", "detect")):
        report = review[metric]
        medians = [p[f"{metric}_seconds_median"] for p in report["series"][-3:]]
        medians = [m for m in medians if m is not None]
        expected = round(sum(medians) / len(medians) / 60, 1)
        assert report["recent_median_minutes"] == expected
        change = f"{report['trend_change']:+.0%}"
        assert f'Time to {label} <strong class="figure">{expected} min</strong>, {change}' in page
    trends = client.get("/trends", params={"as_of": AS_OF}).text
    assert f"at {review['mttr']['recent_median_minutes']} min" in trends


def test_severe_incidents_without_a_postmortem_are_flagged(client: TestClient) -> None:
    flagged_somewhere = False
    for as_of in (AS_OF, "2026-10-25", "2026-03-15", "2025-02-16"):
        review = _json(client, "/api/review/weekly", as_of=as_of)
        for incident in review["incidents"]:
            severe = incident["severity"] in ("SEV1", "SEV2")
            unwritten = incident["postmortem"] is None and not incident["postmortem_hidden"]
            assert incident["postmortem_missing"] == (severe and unwritten)
        flagged = [i for i in review["incidents"] if i["postmortem_missing"]]
        flagged_somewhere |= bool(flagged)
        page = client.get("/review/weekly", params={"as_of": as_of}).text
        badges = re.findall(r'badge-danger">(SEV\d) without a postmortem</span>', page)
        assert badges == [i["severity"] for i in flagged]
        assert re.search(
            rf'stat-value">{len(flagged)}</span><span class="stat-label">SEV1/SEV2 without', page
        )
    assert flagged_somewhere


def test_the_ranking_is_joined_to_the_targets(client: TestClient) -> None:
    review = _json(client, "/api/review/quarterly", as_of=AS_OF)
    targets = {t["id"]: t for t in review["targets"]}
    ranked = review["investments"]["items"]
    assert [i["rank"] for i in ranked] == list(range(1, len(ranked) + 1))
    joined = [i for i in ranked if i["targets"]]
    assert joined
    for item in joined:
        for target in item["targets"]:
            assert targets[target["id"]]["error_class"] == item["error_class"]
            assert targets[target["id"]]["status"] == target["status"]
    page = _text(client.get("/review/quarterly", params={"as_of": AS_OF}).text)
    first = ranked[0]
    assert f"Ranked first: {first['error_class']} and its target" in page
    said = {"did_not_move_the_metric": "did not move the metric", "missed": "was missed"}
    for target in first["targets"]:
        assert f"{target['id']} {said.get(target['status'], target['status'])}" in page


def test_scores_have_their_scale_and_counts_are_integers(client: TestClient) -> None:
    review = _json(client, "/api/review/quarterly", as_of=AS_OF)
    html = client.get("/review/quarterly", params={"as_of": AS_OF}).text
    assert 'Score <span class="muted">(weighted budget min / quarter)</span>' in html
    top = review["investments"]["items"][0]
    assert f'<strong>{top["score"]:,.0f}</strong> <span class="muted">100% of the top' in html
    second = review["investments"]["items"][1]
    share = round(100 * second["score"] / top["score"])
    assert f"{share}% of the top" in html
    for target in review["targets"]:
        assert float(target["baseline_per_quarter"]).is_integer()
        assert f'data-label="Baseline / quarter">{target["baseline_per_quarter"]:g}<' in html
    assert not re.search(r'data-label="(Baseline|Target|Incidents) / quarter">\d+\.0<', html)


def test_error_budget_chart_is_per_month_with_a_unit(client: TestClient) -> None:
    report = _json(client, "/api/trends/error-budget", as_of=AS_OF)
    csv = client.get("/trends/error-budget.csv", params={"as_of": AS_OF}).text.splitlines()
    header = csv[0].split(",")
    assert header[:2] == ["month", "all services (min)"]
    assert header[2:] == [f"{item['service']} (min)" for item in report["items"]]
    rows = [line.split(",") for line in csv[1:]]
    assert [row[0] for row in rows] == report["periods"]  # one row per month
    for position, row in enumerate(rows):
        spent = sum(item["series"][position]["minutes"] for item in report["items"])
        assert float(row[1]) == pytest.approx(spent, abs=0.06)
    page = client.get("/trends", params={"as_of": AS_OF}).text
    assert "<h2>Error budget consumed per month (minutes)</h2>" in page
    assert 'id="chart-error-budget" data-chart="bar" data-table="table-error-budget"' in page


def test_chart_numbers_are_open_for_readers_without_javascript(client: TestClient) -> None:
    for url in ("/trends", "/review/monthly"):
        page = client.get(url, params={"as_of": AS_OF}).text
        cards = page.count('class="card chart-card"')
        assert cards == 4 and page.count('<details class="numbers" open>') == cards


def test_near_miss_service_comes_from_the_taxonomy(client: TestClient) -> None:
    page = client.get("/near-misses").text
    assert '<select id="nm-service" name="service" required>' in page
    services = re.findall(r'<option value="([a-z-]+)">', page)
    assert "orders" in services and "checkout" in services
    typo = "date=2026-11-20&service=ordrs&what_failed=Replica+lag&caught_by=an+alert"
    response = client.post("/near-misses", content=_signed(client, typo), headers=FORM)
    assert response.status_code == 422
    assert "Service &#39;ordrs&#39; is not in taxonomy.yaml: did you mean &#39;orders&#39;?" in (
        response.text
    )
    assert '<option value="ordrs" selected>ordrs (not in the taxonomy)</option>' in response.text
    log = client.get("/api/near-misses").json()
    assert all(group["service"] != "ordrs" for group in log["groups"])


def test_near_miss_postmortems_are_in_the_log(client: TestClient) -> None:
    listed = client.get("/api/postmortems", params={"type": "near_miss", "limit": 100}).json()
    ids = [item["id"] for item in listed["items"]]
    assert len(ids) >= 3
    page = client.get("/near-misses").text
    section = page.split('id="library-heading"', 1)[1]
    for identifier in ids:
        assert f'href="/postmortems/{identifier}"' in section


def test_a_recommended_near_miss_links_a_prefilled_draft(client: TestClient) -> None:
    entry = "date=2026-11-2{n}&service=catalog&what_failed=Replica+lag+{n}0s&caught_by=alert+{n}"
    for n in (1, 2, 3):
        client.post("/near-misses", content=_signed(client, entry.format(n=n)), headers=FORM)
    page = client.get("/near-misses").text
    link = re.search(r'href="(/near-misses/draft\.md\?[^"]+)" download>Download a draft', page)
    assert link, "no draft link on the recommended group"
    assert "pml new 'Near-miss: Replica lag 30s' --service catalog" in page
    draft = client.get(unescape(link[1]))
    assert draft.status_code == 200
    assert draft.headers["content-type"] == "text/markdown; charset=utf-8"
    assert re.search(
        r'filename="\d{4}-\d{2}-\d{2}-near-miss-replica-lag-30s\.md"', str(draft.headers)
    )
    front, body = draft.text.split("\n---\n", 1)
    fields = yaml.safe_load(front.removeprefix("---\n"))
    assert fields["title"] == "Near-miss: Replica lag 30s"
    assert fields["type"] == "near_miss" and fields["services"] == ["catalog"]
    assert fields["status"] == "draft"
    assert "seen 3 times on catalog, 2026-11-21 to 2026-11-23" in body
    for n in (1, 2, 3):
        assert f"caught by alert {n}" in body
    assert body.index("Drafted from the near-miss log") < body.index("## Summary")
    missing = client.get("/near-misses/draft.md", params={"service": "x", "what_failed": "y"})
    assert missing.status_code == 404 and "no near-miss &#39;y&#39; for x" in missing.text
