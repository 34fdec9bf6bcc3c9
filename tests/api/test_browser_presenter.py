"""The presenter's slide view and the postmortem page at phone width, in Debian's chromium."""

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
