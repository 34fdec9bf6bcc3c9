"""The pages in a real browser: Debian's chromium driven by playwright against `pml serve`.

Skipped where /usr/bin/chromium or the playwright package is missing
(`make test` installs chromium where it can; `playwright install` is never used).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live_server import serve

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")
CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
POOL = "2025-02-11-orders-pgbouncer-pool-exhaustion"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("browser")) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; the test fails if the page logged any error (CSP violations included)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    errors: list[str] = []
    opened.on("console", lambda message: message.type == "error" and errors.append(message.text))
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    # A rejected form is answered 422 on purpose; chromium logs every 4xx it loads.
    assert [e for e in errors if "status of 422" not in e] == []


def _mark_document(page: Any) -> None:
    """A flag that survives htmx swaps but not a page load."""
    page.evaluate("window.pmlNoReload = true")


def test_typing_shows_results_without_a_page_load(page: Any, base: str) -> None:
    page.goto(f"{base}/")
    _mark_document(page)
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("certificate expiry", delay=15)
    page.wait_for_selector("text=match “certificate expiry”")
    assert page.evaluate("window.pmlNoReload") is True
    assert "q=certificate+expiry" in page.url
    titles = page.locator(".hit-title").all_inner_texts()
    assert titles and any("cert" in title.lower() for title in titles[:3])
    assert page.locator(".snippet b").count() > 0


def _total(page: Any) -> int:
    return int(page.locator(".result-summary strong").inner_text())


def test_facet_click_narrows_results_and_updates_the_url(page: Any, base: str) -> None:
    page.goto(f"{base}/?q=pool")
    _mark_document(page)
    before = _total(page)
    page.click('a[data-facet="service"][data-value="orders"]')
    page.wait_for_url("**service=orders**")
    page.wait_for_selector("text=Service: orders")
    assert _total(page) < before
    assert page.evaluate("window.pmlNoReload") is True
    metas = page.locator(".hit .hit-meta").all_inner_texts()
    assert metas and all("orders" in meta for meta in metas)
    page.reload()  # the URL alone brings back the same view
    assert page.locator("#q").input_value() == "pool" and _total(page) < before


def test_postmortem_page_shows_related_incidents_with_reasons(page: Any, base: str) -> None:
    page.goto(f"{base}/postmortems/{POOL}")
    assert "PgBouncer" in page.locator("h1").inner_text()
    related = page.locator(".related-item")
    assert related.count() >= 1
    assert related.first.locator(".reasons li").count() >= 1
    assert page.locator("text=Detection gap").is_visible()


def test_trends_page_draws_every_chart(page: Any, base: str) -> None:
    page.goto(f"{base}/trends")
    canvases = page.locator("canvas[data-chart]")
    assert canvases.count() == 4
    page.wait_for_function(
        "[...document.querySelectorAll('canvas[data-chart]')].every(c => Chart.getChart(c))"
    )
    sizes = page.evaluate(
        "[...document.querySelectorAll('canvas[data-chart]')]"
        ".map(c => Chart.getChart(c).data.labels.length)"
    )
    assert all(size > 0 for size in sizes)
    page.click("text=Numbers >> nth=0")
    assert page.locator("#table-failure-modes").is_visible()


def test_near_miss_form_rejects_bad_input_then_accepts_good_input(page: Any, base: str) -> None:
    page.goto(f"{base}/near-misses")
    page.select_option("#nm-service", "checkout")
    page.fill("#nm-what_failed", "Card tokeniser latency above 2 s")
    page.click("text=Log near-miss")
    assert page.locator("#nm-caught_by-error").inner_text() == "Caught by is required."
    assert page.locator("#nm-what_failed").input_value() == "Card tokeniser latency above 2 s"
    page.fill("#nm-caught_by", "The synthetic checkout probe")
    page.click("text=Log near-miss")
    page.wait_for_url("**/near-misses?logged=1")
    assert "Near-miss logged" in page.locator(".notice-ok").inner_text()
    assert page.locator("text=Card tokeniser latency above 2 s").count() >= 1


ATTACK = """<!doctype html><html><body>
<iframe name="one"></iframe><iframe name="two"></iframe>
<form id="normal" target="one" method="post" action="{base}/near-misses">
<input name="date" value="2025-03-15"><input name="service" value="xsite-form">
<input name="what_failed" value="forged"><input name="caught_by" value="another site">
</form>
<form id="plain" target="two" method="post" enctype="text/plain"
 action="{base}/api/alerts/alertmanager">
<input name='{{"version": "4", "alerts": [{{"fingerprint": "xsite", "status": "resolved",
 "startsAt": "2025-03-15T10:00:00Z", "endsAt": "2025-03-15T10:02:00Z",
 "labels": {{"alertname": "Forged", "service": "xsite-plain"}}}}], "pad": "' value='"}}'>
</form>
<script>
document.getElementById("normal").submit();
document.getElementById("plain").submit();
</script>
</body></html>"""


@contextmanager
def other_origin(page_html: str) -> Iterator[str]:
    """A second server on loopback, reached as localhost: another origin and another site."""
    body = page_html.encode()

    class Attack(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Attack)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/attack"
    finally:
        server.shutdown()
        server.server_close()


def test_a_page_on_another_origin_cannot_post_forms(browser: Any, base: str) -> None:
    """A normal and a text/plain form, auto-submitted by another site's page, store nothing."""
    context = browser.new_context()
    page = context.new_page()
    done: list[tuple[str, str]] = []

    def finished(request: Any) -> None:
        if request.url.startswith(base):
            response = request.response()
            done.append((request.url, str(response.status if response else None)))

    context.on("requestfinished", finished)
    context.on("requestfailed", lambda request: done.append((request.url, request.failure)))
    with other_origin(ATTACK.format(base=base)) as evil:
        page.goto(evil)
        for _ in range(100):
            if len(done) >= 2:
                break
            page.wait_for_timeout(100)
    context.close()
    # Both reached the server and were refused there: the JSON 403 loads in its frame, the
    # HTML 403 page is answered but may not be framed (frame-ancestors 'none').
    answered = {"403", "net::ERR_BLOCKED_BY_RESPONSE"}
    assert len(done) == 2 and all(outcome in answered for _, outcome in done), done
    logged = httpx.get(f"{base}/api/near-misses").json()["groups"]
    assert not [g for g in logged if g["service"].startswith("xsite")]


@pytest.mark.parametrize(
    ("path", "ready"),
    [
        ("/docs", '.opblock-summary-path:has-text("/api/search")'),
        ("/redoc", 'h1:has-text("Postmortem Library")'),
    ],
)
def test_api_docs_work_offline_under_the_csp(
    browser: Any, base: str, path: str, ready: str
) -> None:
    """Swagger UI and ReDoc come from our own server; every other host is unreachable."""
    context = browser.new_context()
    outside: list[str] = []

    def only_local(route: Any) -> None:
        if route.request.url.startswith(base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    reply = page.goto(f"{base}{path}")
    assert "frame-ancestors 'none'" in reply.headers["content-security-policy"]
    page.wait_for_selector(ready, timeout=20_000)
    context.close()
    # ReDoc always draws a "by Redocly" logo from its CDN; the CSP stops it (the image hides
    # itself when it cannot load), and that refusal is the one error allowed here.
    logo = "https://cdn.redoc.ly/redoc/logo-mini.svg' violates the following Content Security"
    assert outside == [] and [e for e in errors if logo not in e] == []


def test_review_date_picker_and_filters(page: Any, base: str) -> None:
    page.goto(f"{base}/review/weekly")
    page.fill('input[type="date"][name="as_of"]', "2026-11-26")
    page.select_option('select[name="service"]', "identity")
    page.click("text=Show")
    page.wait_for_url("**as_of=2026-11-26**")
    assert "service=identity" in page.url
    assert "2026-11-20 to 2026-11-26" in page.locator(".lead").inner_text()
    services = page.locator('td[data-label="Service"]').all_inner_texts()
    assert services and set(services) == {"identity"}
    assert page.locator('input[name="as_of"]').input_value() == "2026-11-26"
    page.click("text=Quarterly")  # the tabs keep the date and the filter
    page.wait_for_url("**/review/quarterly?as_of=2026-11-26&service=identity")


def test_chart_cards_show_their_numbers_without_javascript(browser: Any, base: str) -> None:
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    try:
        page = context.new_page()
        for url in ("/trends", "/review/monthly"):
            page.goto(f"{base}{url}")
            for name in ("failure-modes", "services", "mttr", "error-budget"):
                table = page.locator(f"#table-{name}")
                assert table.is_visible(), (url, name)
                assert table.locator("tbody tr").count() > 0
                assert not page.locator(f"#chart-{name}").is_visible()  # no empty chart box
    finally:
        context.close()


def test_with_javascript_the_charts_replace_the_numbers(page: Any, base: str) -> None:
    page.goto(f"{base}/trends")
    page.wait_for_function(
        "[...document.querySelectorAll('canvas[data-chart]')].every(c => Chart.getChart(c))"
    )
    assert not page.locator("#table-error-budget").is_visible()
    labels = page.evaluate("Chart.getChart(document.getElementById('chart-error-budget')).data")
    assert labels["labels"][0].count("-") == 1  # months (2025-12), not services
    assert labels["datasets"][0]["label"] == "all services (min)"


@pytest.mark.parametrize(
    "url", ["/review/quarterly?as_of=2026-11-26", "/review/weekly?as_of=2026-11-26"]
)
def test_wide_review_tables_stay_readable_at_phone_width(browser: Any, base: str, url: str) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 812})
    try:
        page = context.new_page()
        page.goto(f"{base}{url}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        cells = page.locator("table.stack td[data-label], table.stack th[data-label]")
        assert cells.count() > 10
        for index in range(min(cells.count(), 60)):
            box = cells.nth(index).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, index
        if "quarterly" in url:
            status = page.locator('table.targets td[data-label="Status"] .badge').first
            box = status.bounding_box()
            assert box is not None and box["x"] + box["width"] <= 375
            label = status.evaluate("el => getComputedStyle(el.parentElement, '::before').content")
            assert label == '"Status"'
    finally:
        context.close()
