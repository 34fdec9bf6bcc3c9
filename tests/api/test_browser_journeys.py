"""Journeys in Debian's chromium: the search page by keyboard and on a phone, the presenter's
slide view, and the postmortem page at phone width."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_browser import CHROMIUM, base, browser, page, sync_api

__all__ = ["base", "browser", "page"]  # fixtures shared with test_browser
pytestmark = pytest.mark.skipif(
    sync_api is None or not CHROMIUM.exists(), reason="no chromium or playwright"
)
HIKARI = "2026-03-09-checkout-hikari-pool-saturation"
RECURRENCE = "2025-02-11-orders-pgbouncer-pool-exhaustion"


def _top_slide(page: Any) -> int:
    return int(page.evaluate("document.body.getAttribute('data-slide')"))


def test_slides_page_with_the_keyboard(page: Any, base: str) -> None:
    page.goto(f"{base}/postmortems/{HIKARI}/pack?view=slides")
    count = page.locator(".slide").count()
    assert count >= 4  # title, body, precedents, comparison
    assert _top_slide(page) == 1
    page.keyboard.press("ArrowRight")
    page.keyboard.press("PageDown")
    page.wait_for_function("document.body.getAttribute('data-slide') === '3'")
    third = page.locator(".slide").nth(2).bounding_box()
    assert third is not None and abs(third["y"]) < 5  # scrolled to the top of the screen
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("document.body.getAttribute('data-slide') === '2'")
    page.keyboard.press("End")
    page.wait_for_function(f"document.body.getAttribute('data-slide') === '{count}'")


def test_action_items_stay_readable_on_a_phone(browser: Any, base: str) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 800})
    try:
        phone = context.new_page()
        phone.goto(f"{base}/postmortems/{RECURRENCE}")
        table = phone.locator("table.action-items")
        width = phone.evaluate("document.documentElement.clientWidth")
        for label in ("Due", "Status"):
            cell = table.locator(f"td[data-label='{label}']").first
            box = cell.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1
            assert cell.is_visible()
        scroller = phone.evaluate(
            "document.querySelector('table.action-items').closest('.table-wrap').scrollWidth"
        )
        assert scroller <= width
    finally:
        context.close()


def test_the_first_result_is_a_few_tabs_from_the_box(page: Any, base: str) -> None:
    page.goto(f"{base}/?q=connection+pool+exhaustion")
    first = page.locator(".hit-title a").first.get_attribute("href")
    active = "document.activeElement.getAttribute('href')"
    page.focus("#q")
    presses = 0
    while page.evaluate(active) != first and presses < 10:
        page.keyboard.press("Tab")
        presses += 1
    assert presses <= 5, f"{presses} Tab presses to the first result"  # 51 before
    # The skip link, two presses from the box, goes straight there.
    page.focus("#q")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent").strip() == "Skip to the results"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate(active) == first


def test_arrow_keys_move_between_results(page: Any, base: str) -> None:
    page.goto(f"{base}/?q=pool")
    links = page.locator(".hit-title a")
    page.focus("#q")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.getAttribute('href')") == links.nth(
        0
    ).get_attribute("href")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.getAttribute('href')") == links.nth(
        2
    ).get_attribute("href")
    page.keyboard.press("ArrowUp")
    assert page.evaluate("document.activeElement.getAttribute('href')") == links.nth(
        1
    ).get_attribute("href")


def test_on_a_phone_the_filters_come_first_folded(browser: Any, base: str) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 800})
    try:
        phone = context.new_page()
        phone.goto(f"{base}/?q=pool")
        filters = phone.locator("details.facet-group")
        first_hit = phone.locator(".hit").first.bounding_box()
        summary = phone.locator("details.facet-group > summary").bounding_box()
        assert summary is not None and first_hit is not None and summary["y"] < first_hit["y"]
        assert filters.get_attribute("open") is None  # folded: the results are on screen
        assert first_hit["y"] < 800
        phone.locator("details.facet-group > summary").click()
        assert phone.locator(".facet-link").first.is_visible()
    finally:
        context.close()
