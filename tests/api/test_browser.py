"""The pages in a real browser: Debian's chromium driven by playwright against `pml serve`.

Skipped where /usr/bin/chromium or the playwright package is missing
(`make test` installs chromium where it can; `playwright install` is never used).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    page.wait_for_selector("text=for “certificate expiry”")
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
