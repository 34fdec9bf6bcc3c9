"""The HTML pages over HTTP: what a reader sees, safe headers, no restricted postmortem."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from indexer.config import Settings
from tests.conftest import SAMPLE_LIBRARY, postmortem_text, write

POOL = "2025-02-11-orders-pgbouncer-pool-exhaustion"
OVERDUE = "2026-05-28-api-gateway-cgnat-rate-limit"
RESTRICTED = {
    "2026-10-21-identity-credential-stuffing": "Credential stuffing spread below per-IP",
    "2025-05-29-identity-credential-stuffing": "Credential stuffing attack led to takeover",
}
PAGES = [
    "/",
    "/?q=credential+stuffing",
    "/?q=login&service=identity&mode=fulltext",
    f"/postmortems/{POOL}",
    f"/postmortems/{POOL}/pack",
    "/trends",
    "/trends?days=365&period=quarter&periods=6",
    "/review/weekly",
    "/review/weekly?as_of=2026-10-25",
    "/review/weekly?as_of=2025-06-01",
    "/review/monthly",
    "/review/quarterly",
    "/near-misses",
    "/digest",
    "/digest?week=2026-W43",
    "/digest?week=2025-W22",
]
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("pages")
    settings = Settings(library=SAMPLE_LIBRARY, data_dir=data, embedding_model="hash")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.mark.parametrize("url", PAGES)
def test_page_renders_safely_without_restricted_postmortems(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"]
    # No inline script and no inline event handler anywhere: the CSP would block them.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text)
    assert not re.search(r"\son[a-z]+\s*=", response.text)
    assert 'href="#main"' in response.text and 'id="main"' in response.text
    for identifier, title in RESTRICTED.items():
        assert identifier not in response.text and title not in response.text


def test_search_shows_highlighted_results_and_facets(client: TestClient) -> None:
    page = client.get("/", params={"q": "connection pool exhaustion"}).text
    assert f'href="/postmortems/{POOL}"' in page
    assert "<b>" in page  # highlighted words in snippets
    for facet in ("Service", "Error class", "Contributing factor", "Severity", "Year"):
        assert f"<h2>{facet}</h2>" in page
    assert 'href="/?q=connection+pool+exhaustion&amp;service=orders"' in page
    assert 'value="connection pool exhaustion"' in page  # the box keeps the query


def _hits(page: str) -> int:
    return len(re.findall(r'<li class="hit">', page))


def _total(page: str) -> int:
    match = re.search(r"<strong>(\d+)</strong> postmortem", page)
    assert match, "no result summary"
    return int(match[1])


def test_facet_narrows_results_and_clearing_it_widens_them(client: TestClient) -> None:
    wide = client.get("/", params={"q": "pool"}).text
    narrow = client.get("/", params={"q": "pool", "service": "orders"}).text
    assert _total(narrow) < _total(wide)
    assert "Service: orders" in narrow and 'aria-current="true"' in narrow
    assert 'href="/?q=pool"' in narrow  # the chip that clears the filter


def test_htmx_gets_only_the_results_and_the_url_to_show(client: TestClient) -> None:
    headers = {"HX-Request": "true", "HX-Target": "results"}
    response = client.get("/", params={"q": "pool", "service": "orders"}, headers=headers)
    assert response.text.startswith('<div id="results"')
    assert "<html" not in response.text
    assert response.headers["hx-push-url"] == "/?q=pool&service=orders"
    assert "HX-Request" in response.headers["vary"]
    restore = dict(headers, **{"HX-History-Restore-Request": "true"})
    assert "<html" in client.get("/", params={"q": "pool"}, headers=restore).text


def test_empty_state_suggests_what_to_change(client: TestClient) -> None:
    page = client.get("/", params={"q": "zebra quasar", "service": "payments"}).text
    assert "No results for “zebra quasar”" in page
    assert "Try fewer or more general words" in page
    assert "Clear the service filter" in page


def test_pagination_and_modes(client: TestClient) -> None:
    first = client.get("/").text
    assert _hits(first) == 10 and 'rel="next"' in first
    second = client.get("/", params={"page": 2}).text
    assert _hits(second) > 0 and 'rel="prev"' in second
    assert "· fulltext ·" in client.get("/", params={"q": "dns", "mode": "fulltext"}).text
    bad = client.get("/", params={"mode": "magic"})
    assert bad.status_code == 422 and "<html" in bad.text and "mode" in bad.text


def test_unknown_postmortem_is_an_html_404_and_the_api_stays_json(client: TestClient) -> None:
    page = client.get("/postmortems/no-such-thing")
    assert page.status_code == 404
    assert "<html" in page.text and "no postmortem with id &#39;no-such-thing&#39;" in page.text
    assert "content-security-policy" in page.headers
    api = client.get("/api/postmortems/no-such-thing")
    assert api.status_code == 404 and api.json()["detail"]
    assert client.get("/nowhere").status_code == 404
    for identifier in RESTRICTED:
        assert client.get(f"/postmortems/{identifier}").status_code == 404
        assert client.get(f"/postmortems/{identifier}/pack").status_code == 404
        assert client.get(f"/postmortems/{identifier}/pack.md").status_code == 404


def test_postmortem_page(client: TestClient) -> None:
    page = client.get(f"/postmortems/{POOL}").text
    assert "<h2>Summary</h2>" in page  # rendered Markdown
    assert "Detection gap</dt><dd>3 min" in page
    assert "Time to resolve</dt><dd>1 h 33 min" in page
    assert "Error budget</dt><dd>42.0 min" in page
    assert "tomasz.brenner" in page and "FUL-815" in page
    assert "PB4W9XH" in page  # the linked PagerDuty incident
    assert "Related incidents" in page
    assert "This happened again" in page  # its later recurrences, not only earlier ones
    related = re.findall(r'<li class="related-item">\s*<h3><a href="/postmortems/([^"]+)"', page)
    assert related and POOL not in related
    assert "same service: orders" in page or "same error class" in page


def test_overdue_action_items_are_marked(client: TestClient) -> None:
    page = client.get(f"/postmortems/{OVERDUE}").text
    assert 'class="is-overdue"' in page and ">overdue<" in page


def test_markdown_in_a_postmortem_cannot_run_script(tmp_path: Path, library_dir: Path) -> None:
    summary = (
        "Pool <script>alert(1)</script> and <img src=x onerror=alert(2)> [x](javascript:alert(3))"
    )
    write(library_dir, "2025/x.md", postmortem_text(id="x", summary=summary))
    settings = Settings(library=library_dir, data_dir=tmp_path / "data", embedding_model="hash")
    with TestClient(create_app(settings)) as client:
        for url in ("/postmortems/x", "/?q=pool+alert", "/postmortems/x/pack"):
            page = client.get(url).text
            assert "<script>alert" not in page and "<img src=x" not in page
            assert 'href="javascript:' not in page
        assert "&lt;script&gt;" in client.get("/?q=pool+alert").text


def test_trends_charts_tables_and_csv(client: TestClient) -> None:
    page = client.get("/trends", params={"as_of": "2026-11-26"}).text
    for name in ("failure-modes", "services", "mttr", "error-budget"):
        assert f'data-table="table-{name}"' in page and f'id="table-{name}"' in page
        assert f'href="/trends/{name}.csv?days=90&amp;period=month&amp;periods=12' in page
    assert re.search(r"MTTR is (improving|regressing|flat)", page)
    assert 'src="/static/vendor/chart.js/chart.umd.min.js"' in page
    csv = client.get("/trends/failure-modes.csv", params={"as_of": "2026-11-26"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    lines = csv.text.splitlines()
    assert lines[0] == "error class,incidents,previous window,change"
    top = client.get("/api/trends/failure-modes", params={"as_of": "2026-11-26"}).json()["items"][0]
    assert lines[1] == f"{top['error_class']},{top['incidents']},{top['previous']},{top['change']}"
    assert client.get("/trends/nothing.csv").status_code == 404


def test_vendored_scripts_are_served_from_our_origin(client: TestClient) -> None:
    for path in ("/static/vendor/htmx/htmx.min.js", "/static/vendor/chart.js/chart.umd.min.js"):
        response = client.get(path)
        assert response.status_code == 200 and len(response.content) > 10_000
    assert "keydown" in client.get("/static/app.js").text


def test_reviews(client: TestClient) -> None:
    weekly = client.get("/review/weekly", params={"as_of": "2026-11-26"}).text
    assert "Overdue action items" in weekly and "Suspected duplicate incidents" in weekly
    assert OVERDUE in weekly  # its overdue action item
    monthly = client.get("/review/monthly").text
    assert "Time to acknowledge" in monthly and 'data-chart="line"' in monthly
    quarterly = client.get("/review/quarterly", params={"as_of": "2026-11-26"}).text
    targets = client.get("/api/targets", params={"as_of": "2026-11-26"}).json()["items"]
    assert targets and targets[0]["id"] in quarterly
    assert targets[0]["status"].replace("_", " ") in quarterly
    assert "Investment ranking" in quarterly and "instrument better" in quarterly


def _signed(client: TestClient, fields: str) -> str:
    """The form's fields plus the token the near-miss page gives this client (and its cookie)."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/near-misses").text)
    assert token is not None
    return f"{fields}&csrf_token={token[1]}"


def test_near_miss_form_shows_messages_next_to_fields(client: TestClient) -> None:
    response = client.post(
        "/near-misses", content=_signed(client, "date=&service=&what_failed=x"), headers=FORM
    )
    assert response.status_code == 422
    assert 'id="nm-date-error">Date is required.' in response.text
    assert 'id="nm-service-error">Service is required.' in response.text
    assert 'id="nm-caught_by-error">Caught by is required.' in response.text
    assert ">x</textarea>" in response.text  # what the reader typed is kept
    future = _signed(client, "date=2999-01-01&service=orders&what_failed=lag&caught_by=alert")
    response = client.post("/near-misses", content=future, headers=FORM)
    assert response.status_code == 422 and "is in the future" in response.text
    bad_date = _signed(client, "date=yesterday&service=orders&what_failed=lag&caught_by=alert")
    assert (
        "Date must be a day like"
        in client.post("/near-misses", content=bad_date, headers=FORM).text
    )


def test_near_miss_form_logs_and_recommends_a_postmortem_at_the_third(client: TestClient) -> None:
    entry = "date=2026-11-20&service=catalog&what_failed=Replica+lag+{n}s&caught_by=an+alert"
    for n in (45, 90, 120):
        response = client.post(
            "/near-misses",
            content=_signed(client, entry.format(n=n)),
            headers=FORM,
            follow_redirects=False,
        )
        assert response.status_code == 303
    assert response.headers["location"] == "/near-misses?logged=3"
    page = client.get(response.headers["location"]).text
    assert "seen 3 times" in page and "a postmortem is recommended" in page
    assert "Replica lag 120s" in page and "postmortem recommended</span>" in page


def test_digest_page_and_markdown_download(client: TestClient) -> None:
    page = client.get("/digest", params={"week": "2026-W43"}).text
    assert "Incident digest" in page and 'data-copy="digest-markdown"' in page
    assert "<textarea" in page and "# Incident digest, 2026-W43" in page
    download = client.get("/digest.md", params={"week": "2026-W43"})
    assert download.headers["content-type"].startswith("text/markdown")
    assert 'filename="digest-2026-W43.md"' in download.headers["content-disposition"]
    twin = client.get("/api/digest", params={"week": "2026-W43", "format": "markdown"})
    assert download.text == twin.text
    bad = client.get("/digest", params={"week": "last week"})
    assert bad.status_code == 400 and "week must look like 2025-W07" in bad.text


def test_presenter_pack_page_and_markdown(client: TestClient) -> None:
    page = client.get(f"/postmortems/{POOL}/pack").text
    assert "Presenter pack" in page and "Root cause" in page and "Fixes" in page
    assert "data-print" in page
    download = client.get(f"/postmortems/{POOL}/pack.md")
    assert download.headers["content-type"].startswith("text/markdown")
    assert "attachment" in download.headers["content-disposition"]
    text = download.text
    assert (
        text.startswith("# Order submissions failing")
        and "# Related incidents, earlier and later" in text
    )
    assert "**Root cause.**" in text and "**Why it is related.**" in text


def test_incidents_of_restricted_postmortems_carry_nothing_of_them(client: TestClient) -> None:
    """No title (often the postmortem's own), no link, no error classes from the postmortem."""
    weekly = client.get("/api/review/weekly", params={"as_of": "2026-10-25"}).json()
    (stuffing,) = [i for i in weekly["incidents"] if i["source_id"] == "PS5E2WA"]
    assert stuffing["title"] == "(title hidden: its postmortem is not readable)"
    assert stuffing["postmortem"] is None
    assert stuffing["error_classes"] == ["unclassified"]


def test_every_page_template_is_compiled_before_the_first_request(tmp_path: Path) -> None:
    from api import web

    web.templates.cache_clear()
    create_app(Settings(library=SAMPLE_LIBRARY, data_dir=tmp_path / "data"))
    environment = web.templates().env
    compiled = {key[1] for key in environment.cache or {}}
    assert {"postmortem.html", "pack.html"} <= compiled
