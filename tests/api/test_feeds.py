"""Atom feeds: new postmortems, a search to follow, the digest; valid, absolute, outsiders only.

Validity is checked twice: feedparser (what feed readers use) must read
them without complaint, and ElementTree must find every element RFC 4287
requires (feed: id, title, updated, author; entry: id, title, updated).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import feedparser
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from indexer.config import Settings
from indexer.library import Library
from tests.conftest import SAMPLE_LIBRARY, postmortem_text, write

ATOM = "{http://www.w3.org/2005/Atom}"
PUBLIC = "https://pml.example.com"
RESTRICTED = ("2025-05-29-identity-credential-stuffing", "2026-10-21-identity-credential-stuffing")
PROXY = "10.0.0.5"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The sample library (two restricted postmortems) behind a trusted proxy, read-only."""
    settings = Settings(
        library=SAMPLE_LIBRARY,
        data_dir=tmp_path_factory.mktemp("feeds"),
        embedding_model="hash",
        public_url=PUBLIC + "/",
        auth="proxy",
        trusted_proxies=PROXY,
        allowed_hosts="*",  # any Host gets through, so links are seen not to come from it
    )
    with TestClient(create_app(settings), client=(PROXY, 4321)) as test_client:
        yield test_client


def _valid(response: Any) -> Any:
    """The parsed feed, after checking the media type and RFC 4287's required elements."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    root = ET.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated"):
        assert root.find(f"{ATOM}{name}") is not None, name
    assert root.find(f"{ATOM}author/{ATOM}name") is not None
    for entry in root.findall(f"{ATOM}entry"):
        for name in ("id", "title", "updated"):
            assert (entry.findtext(f"{ATOM}{name}") or "").strip(), name
        assert entry.find(f"{ATOM}summary") is not None or entry.find(f"{ATOM}content") is not None
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


def test_new_postmortems_feed(client: TestClient) -> None:
    parsed = _valid(client.get("/feed.atom"))
    assert parsed.feed.title == "New postmortems · Postmortem Library"
    entries = parsed.entries
    assert len(entries) == 30
    dates = [entry.published for entry in entries]
    assert dates == sorted(dates, reverse=True)  # newest first
    newest = entries[0]
    assert newest.link.startswith(f"{PUBLIC}/postmortems/2026-")
    assert newest.id == newest.link
    assert {"href": f"{PUBLIC}/feed.atom", "rel": "self", "type": "application/atom+xml"} in [
        dict(link) for link in parsed.feed.links
    ]
    assert any(tag.term.startswith("service:") for tag in newest.tags)


def test_a_search_as_a_feed_with_the_search_filters(client: TestClient) -> None:
    parsed = _valid(client.get("/feed.atom", params={"q": "connection pool"}))
    ids = [entry.link.rsplit("/", 1)[1] for entry in parsed.entries]
    assert "2025-02-11-orders-pgbouncer-pool-exhaustion" in ids
    assert "2026-03-09-checkout-hikari-pool-saturation" in ids
    assert parsed.feed.title == "“connection pool” · Postmortem Library"
    narrowed = _valid(
        client.get("/feed.atom", params={"q": "connection pool", "service": "inventory"})
    )
    narrowed_ids = [entry.link.rsplit("/", 1)[1] for entry in narrowed.entries]
    assert "2026-03-09-checkout-hikari-pool-saturation" in narrowed_ids
    assert "2025-02-11-orders-pgbouncer-pool-exhaustion" not in narrowed_ids
    assert set(narrowed_ids) < set(ids)
    self_link = next(link.href for link in narrowed.feed.links if link.rel == "self")
    assert self_link == f"{PUBLIC}/feed.atom?q=connection+pool&service=inventory"
    severity = _valid(client.get("/feed.atom", params={"severity": "SEV1"}))
    assert severity.entries and all(
        "severity:SEV1" in [tag.term for tag in entry.tags] for entry in severity.entries
    )
    bad = client.get("/feed.atom", params={"since": "last tuesday"})
    assert bad.status_code == 422 and "since" in bad.text


def test_links_never_come_from_the_host_header(client: TestClient) -> None:
    response = client.get("/feed.atom", headers={"Host": "evil.example"})
    assert b"evil.example" not in response.content
    assert _valid(response).entries[0].link.startswith(PUBLIC)
    digest = client.get("/digest.atom", headers={"Host": "evil.example"})
    assert b"evil.example" not in digest.content


def test_restricted_postmortems_are_in_no_feed_even_for_their_audience(
    client: TestClient,
) -> None:
    insider = {"X-Forwarded-User": "sam", "X-Forwarded-Groups": "security"}
    page = client.get("/api/search", params={"q": "credential stuffing"}, headers=insider)
    assert {hit["id"] for hit in page.json()["results"]} & set(RESTRICTED)  # they can read them
    for url in ("/feed.atom", "/feed.atom?q=credential+stuffing", "/feed.atom?service=identity"):
        body = client.get(url, headers=insider).content.decode()
        for identifier in RESTRICTED:
            assert identifier not in body, url
        assert "3,412 customer accounts" not in body


def test_digest_feed(client: TestClient) -> None:
    parsed = _valid(client.get("/digest.atom"))
    assert len(parsed.entries) == 8
    newest = parsed.entries[0]
    assert newest.title.startswith("Incident digest, ")
    assert newest.link.startswith(f"{PUBLIC}/digest?week=")
    assert newest.content[0].type == "text/html"
    assert f'href="{PUBLIC}/postmortems/' in newest.content[0].value


def test_pages_link_their_feeds(client: TestClient) -> None:
    feed_type = 'type="application/atom+xml"'
    home = client.get("/").text
    assert f'<link rel="alternate" {feed_type} title="New postmortems" href="/feed.atom">' in home
    search = client.get("/", params={"q": "connection pool", "service": "orders"}).text
    assert f'{feed_type} title="This search as a feed" href="/feed.atom?q=connection' in search
    digest = client.get("/digest").text
    assert (
        f'<link rel="alternate" {feed_type} title="Incident digest" href="/digest.atom">' in digest
    )


def _entry_updated(settings: Settings, identifier: str) -> str:
    with TestClient(create_app(settings)) as client:
        feed = ET.fromstring(client.get("/feed.atom").content)
    for entry in feed.iter(f"{ATOM}entry"):
        if entry.findtext(f"{ATOM}id", "").endswith(f"/postmortems/{identifier}"):
            return entry.findtext(f"{ATOM}updated", "")
    raise AssertionError(f"{identifier} is not in the feed")


def test_an_edit_moves_the_entry_updated_and_a_rebuild_does_not(
    settings: Settings, library_dir: Path
) -> None:
    """Without git history, `updated` is the incident day until an edit is indexed."""
    text = postmortem_text(id="edited", date="2020-01-02", summary="First words.")
    write(library_dir, "edited.md", text)
    first = _entry_updated(settings, "edited")
    assert first == "2020-01-02T00:00:00Z"  # the library's date, not the clock's
    with Library.open(settings) as library:
        library.refresh(force=True)
    assert _entry_updated(settings, "edited") == first
    write(library_dir, "edited.md", text.replace("First words.", "Better words."))
    edited = _entry_updated(settings, "edited")
    assert edited > first  # when the edit was indexed
    with Library.open(settings) as library:
        library.refresh(force=True)
    assert _entry_updated(settings, "edited") == edited
