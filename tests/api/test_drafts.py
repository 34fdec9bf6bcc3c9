"""Drafts and postmortems in review: marked wherever they appear, left out of shared views.

A shared view (the home list, `/api/postmortems`, the feeds, the weekly
review) lists published postmortems unless the reader asks for a status;
search results include unfinished ones, marked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from indexer.config import Settings
from tests.conftest import postmortem_text, write

DONE = "2025-03-14-orders-done"
DRAFT = "2025-03-13-orders-draft"
REVIEW = "2025-03-12-orders-review"


@pytest.fixture
def client(settings: Settings, library_dir: Path) -> Iterator[TestClient]:
    write(library_dir, f"{DONE}.md", postmortem_text(id=DONE, title="Finished pool outage"))
    draft = postmortem_text(id=DRAFT, date="2025-03-13", title="Draft pool outage", status="draft")
    write(library_dir, f"{DRAFT}.md", draft)
    review = postmortem_text(
        id=REVIEW, date="2025-03-12", title="Reviewed pool outage", status="in_review"
    )
    write(library_dir, f"{REVIEW}.md", review)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_home_list_leaves_unfinished_out_and_says_how_to_see_them(client: TestClient) -> None:
    page = client.get("/").text
    assert DONE in page
    assert DRAFT not in page and REVIEW not in page
    assert "2 drafts or postmortems in review not listed" in page
    assert "status=draft&amp;status=in_review" in page


def test_status_filter_shows_drafts_marked(client: TestClient) -> None:
    page = client.get("/", params={"status": "draft"}).text
    assert DRAFT in page and DONE not in page
    assert 'class="badge badge-warn unfinished"' in page
    assert "not listed" not in page


def test_search_results_include_drafts_marked_as_such(client: TestClient) -> None:
    body = client.get("/api/search", params={"q": "pool outage", "mode": "fulltext"}).json()
    statuses = {hit["id"]: hit["status"] for hit in body["results"]}
    assert statuses == {DONE: "published", DRAFT: "draft", REVIEW: "in_review"}
    page = client.get("/", params={"q": "pool outage", "mode": "fulltext"}).text
    assert page.count('class="badge badge-warn unfinished"') == 2
    assert ">in review</span>" in page and ">draft</span>" in page


def test_api_lists_are_published_unless_a_status_is_asked_for(client: TestClient) -> None:
    listed = client.get("/api/postmortems").json()
    assert [item["id"] for item in listed["items"]] == [DONE]
    asked = client.get("/api/postmortems", params={"status": ["draft", "in_review"]}).json()
    assert {item["id"] for item in asked["items"]} == {DRAFT, REVIEW}
    empty_search = client.get("/api/search").json()
    assert [hit["id"] for hit in empty_search["results"]] == [DONE]
    assert empty_search["total"] == 1


def test_feed_leaves_drafts_out_and_marks_them_when_asked(client: TestClient) -> None:
    feed = client.get("/feed.atom").text
    assert DONE in feed and DRAFT not in feed and REVIEW not in feed
    searched = client.get("/feed.atom", params={"q": "pool outage"}).text
    assert DRAFT not in searched
    asked = client.get("/feed.atom", params={"status": "draft"}).text
    assert "<title>[Draft] Draft pool outage</title>" in asked


def test_weekly_review_lists_published_postmortems_only(client: TestClient) -> None:
    review = client.get("/api/review/weekly", params={"as_of": "2025-03-16"}).json()
    assert [p["id"] for p in review["postmortems"]] == [DONE]
