"""The postmortem page and the presenter pack, as the guild presenter and a reader use them.

Against the sample library over HTTP: action items shown once, tickets as
links, a mistyped id that offers the closest ids, statuses in words; the pack
with root causes kept as written, precedents the presenter chooses (kept in
the URL), the comparison of recurrences, a pack for a whole error class, page
numbers in print and a slide view paged with the keyboard.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from indexer.config import Settings
from tests.conftest import SAMPLE_LIBRARY

POOL = "2025-02-11-orders-pgbouncer-pool-exhaustion"
HIKARI = "2026-03-09-checkout-hikari-pool-saturation"
RETRY = "2026-01-08-notifications-sms-retry-storm"
KAFKA = "2026-04-14-data-pipeline-kafka-broker-disk-full"
TICKETS = "DATA-=https://tracker.example.com/browse/{ticket}, #=https://github.com/acme/ops/issues/{number}"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("presenter")
    settings = Settings(
        library=SAMPLE_LIBRARY, data_dir=data, embedding_model="hash", ticket_urls=TICKETS
    )
    with TestClient(create_app(settings)) as test_client:
        deadline = time.monotonic() + 60
        while not test_client.get("/readyz").json()["semantic"]:
            assert time.monotonic() < deadline, "semantic search never became ready"
            time.sleep(0.05)
        yield test_client


def test_action_items_appear_once_on_the_postmortem_page(client: TestClient) -> None:
    page = client.get(f"/postmortems/{POOL}").text
    article = page.split('aria-label="Postmortem"', 1)[1].split("</article>", 1)[0]
    assert "<h2>Action items</h2>" not in article  # the body's own list is not repeated
    assert page.count('id="actions-heading"') == 1 and '<table class="data action-items">' in page
    body = client.get(f"/api/postmortems/{POOL}").json()["body_markdown"]
    assert "## Action items" in body  # the file itself is untouched


def test_tickets_are_links_by_the_configured_templates(client: TestClient) -> None:
    record = client.get("/api/postmortems/2026-11-04-data-pipeline-consumer-rebalance-backlog")
    items = {item["ticket"]: item["ticket_url"] for item in record.json()["action_items"]}
    assert items["DATA-513"] == "https://tracker.example.com/browse/DATA-513"
    page = client.get("/postmortems/2026-11-04-data-pipeline-consumer-rebalance-backlog").text
    assert (
        '<a class="ticket" href="https://tracker.example.com/browse/DATA-514">DATA-514</a>' in page
    )
    plain = Settings(ticket_urls=TICKETS)
    assert plain.ticket_link("#512") == "https://github.com/acme/ops/issues/512"
    assert plain.ticket_link("OPS-1") is None  # no rule: shown as text
    assert Settings(ticket_urls="*=javascript:alert(1)").ticket_link("X-1") is None


def test_a_mistyped_id_offers_the_closest_ones(client: TestClient) -> None:
    mistyped = POOL.replace("pgbouncer", "pgbouncr")
    reply = client.get(f"/api/postmortems/{mistyped}")
    assert reply.status_code == 404 and reply.json()["did_you_mean"][0] == POOL
    page = client.get(f"/postmortems/{mistyped}", headers={"accept": "text/html"})
    assert page.status_code == 404 and f'href="/postmortems/{POOL}"' in page.text
    slug = client.get("/api/postmortems/orders-pgbouncer-pool-exhaustion").json()
    assert slug["did_you_mean"] == [POOL]  # the slug without its date
    restricted = client.get("/api/postmortems/2025-05-29-identity-credential-stuffng").json()
    assert restricted["did_you_mean"] == []  # never a restricted id


def test_statuses_read_as_words(client: TestClient) -> None:
    page = html.unescape(client.get(f"/postmortems/{RETRY}").text)
    assert "won't do" in page and "wont do" not in page
    assert "(won't do)" in client.get(f"/postmortems/{KAFKA}/pack.md").text


def test_root_causes_keep_their_lists_and_paragraphs(client: TestClient) -> None:
    found = client.get(f"/api/postmortems/{POOL}/pack").json()
    causes = [item["root_cause"] for item in found["related"] if item["root_cause"]]
    assert causes and any(re.search(r"^- ", cause, re.MULTILINE) for cause in causes)
    page = client.get(f"/postmortems/{POOL}/pack").text
    root = page.split("<h4>Root cause</h4>", 2)[1]
    assert root.lstrip().startswith('<div class="prose root-cause">') and "<li>" in root
    markdown = client.get(f"/postmortems/{POOL}/pack.md").text
    assert re.search(r"\*\*Root cause\.\*\*\n\n- ", markdown)


def test_the_presenter_chooses_the_precedents_and_the_url_keeps_them(client: TestClient) -> None:
    first = client.get(f"/api/postmortems/{HIKARI}/pack").json()
    shown = [item["id"] for item in first["related"]]
    candidate = first["candidates"][0]["id"]
    chosen = client.get(
        f"/api/postmortems/{HIKARI}/pack", params={"remove": shown[0], "add": KAFKA}
    ).json()
    ids = [item["id"] for item in chosen["related"]]
    assert shown[0] not in ids and KAFKA in ids and chosen["added"] == [KAFKA]
    (added,) = [item for item in chosen["related"] if item["id"] == KAFKA]
    assert added["reasons"] == [{"kind": "chosen"}]
    page = client.get(f"/postmortems/{HIKARI}/pack", params={"remove": shown[0], "add": KAFKA})
    # Every link on the page keeps the choice: removing another keeps both.
    assert f"remove={shown[0]}&amp;remove={shown[1]}" in page.text or (
        f"add={KAFKA}&amp;remove={shown[0]}&amp;remove={shown[1]}" in page.text
    )
    assert f"add={candidate}" in client.get(f"/postmortems/{HIKARI}/pack").text
    markdown = client.get(
        f"/postmortems/{HIKARI}/pack.md", params={"remove": shown[0], "add": KAFKA}
    ).text
    assert "chosen by the presenter" in markdown
    unreadable = client.get(
        f"/api/postmortems/{HIKARI}/pack", params={"add": "2025-05-29-identity-credential-stuffing"}
    ).json()
    assert "2025-05-29-identity-credential-stuffing" not in str(unreadable)


def test_the_recurrences_are_compared(client: TestClient) -> None:
    found = client.get(f"/api/postmortems/{POOL}/pack").json()
    rows = found["comparison"]
    assert [row["date"] for row in rows] == sorted(row["date"] for row in rows)
    pool = next(row for row in rows if row["id"] == POOL)
    assert pool["detection_gap_seconds"] is not None and pool["fixes_total"] >= 1
    assert pool["came_back"], "later pool-exhaustion postmortems exist in the sample library"
    page = client.get(f"/postmortems/{POOL}/pack").text
    assert "How the recurrences compare" in page and "Came back" in page


def test_a_pack_for_a_whole_error_class(client: TestClient) -> None:
    found = client.get("/api/error-classes/connection-pool-exhaustion/pack").json()
    dates = [item["date"] for item in found["postmortems"]]
    assert len(dates) >= 3 and dates == sorted(dates)
    assert all(
        "connection-pool-exhaustion" in item["error_classes"] for item in found["postmortems"]
    )
    page = client.get("/error-classes/connection-pool-exhaustion/pack").text
    assert "Everything we learned about" in page and POOL in page
    markdown = client.get("/error-classes/connection-pool-exhaustion/pack.md")
    assert markdown.text.startswith("# Everything we learned about connection-pool-exhaustion")
    assert "attachment" in markdown.headers["content-disposition"]
    missing = client.get("/api/error-classes/connection-pool-exhaustoin/pack")
    assert missing.status_code == 404
    assert missing.json()["did_you_mean"] == ["connection-pool-exhaustion"]


def test_print_has_page_numbers_and_the_slide_view_pages(client: TestClient) -> None:
    css = client.get("/static/app.css").text
    assert "@bottom-right" in css and "counter(page)" in css
    slides = client.get(f"/postmortems/{POOL}/pack", params={"view": "slides"}).text
    assert "data-slides" in slides and slides.count('class="card precedent slide"') >= 1
    assert client.get(f"/postmortems/{POOL}/pack", params={"view": "film"}).status_code == 422
