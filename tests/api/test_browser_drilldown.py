"""Drill-down in a real browser (Debian chromium via playwright, as tests/api/test_browser.py):
chart bars lead to the incidents they count, and the incident table fits a 1280 px screen."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live_server import serve

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")
CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
AS_OF = "2026-11-26"
DRAWN = "window.Chart && Chart.getChart(document.querySelector('#chart-services'))"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("drilldown")) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == []


def test_clicking_a_bar_opens_the_incidents_it_counts(page: Any, base: str) -> None:
    page.goto(f"{base}/trends?as_of={AS_OF}&days=365")
    page.wait_for_function(DRAWN)
    canvas = page.locator("#chart-services")
    canvas.scroll_into_view_if_needed()
    point = page.evaluate(
        """() => {
            const chart = Chart.getChart(document.getElementById('chart-services'));
            const bar = chart.getDatasetMeta(0).data[0];
            const horizontal = chart.options.indexAxis === 'y';
            return {x: bar.x, y: bar.y, base: bar.base, horizontal: horizontal};
        }"""
    )
    # The middle of the first bar, in the canvas's own coordinates.
    if point["horizontal"]:
        x, y = (point["x"] + point["base"]) / 2, point["y"]
    else:
        x, y = point["x"], (point["y"] + point["base"]) / 2
    first_link = page.locator("#table-services tbody tr").first.get_attribute("data-href")
    expected = int(page.locator("#table-services tbody tr td").first.get_attribute("data-value"))
    with page.expect_navigation():
        canvas.click(position={"x": x, "y": y})
    assert page.url.endswith(first_link)
    heading = page.locator("#list-heading").inner_text()
    assert heading.startswith(f"{expected} incident")


def test_incident_table_fits_a_1280_px_screen(page: Any, base: str) -> None:
    page.goto(f"{base}/incidents")
    sizes = page.evaluate(
        """() => {
            const table = document.querySelector('table.incidents');
            const wrap = table.closest('.table-wrap');
            return {table: table.scrollWidth, wrap: wrap.clientWidth,
                    page: document.documentElement.scrollWidth};
        }"""
    )
    assert sizes["table"] <= sizes["wrap"], sizes
    assert sizes["page"] <= 1280, sizes


def test_service_page_links_lead_to_the_lists_behind_its_figures(page: Any, base: str) -> None:
    page.goto(f"{base}/services/orders?as_of={AS_OF}")
    incidents = int(page.locator(".stat-value").nth(1).inner_text())
    page.locator(".stat").nth(1).click()
    page.wait_for_url("**/incidents?service=orders")
    assert page.locator("#list-heading").inner_text().startswith(f"{incidents} incident")


@pytest.mark.parametrize(
    "path",
    [
        "/error-classes/connection-pool-exhaustion/pack",
        "/postmortems/2025-02-11-orders-pgbouncer-pool-exhaustion/pack",
    ],
)
def test_pack_comparison_fits_and_is_headed_once(page: Any, base: str, path: str) -> None:
    page.goto(f"{base}{path}")
    sizes = page.evaluate(
        """() => {
            const table = document.querySelector('table.comparison');
            return {table: table.scrollWidth, wrap: table.closest('.table-wrap').clientWidth};
        }"""
    )
    assert sizes["table"] <= sizes["wrap"], sizes
    assert page.get_by_text("How the recurrences compare", exact=True).count() == 1
