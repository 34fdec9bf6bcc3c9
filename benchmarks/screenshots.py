"""Screenshots of every page for docs/screenshots/, from a real server and Debian's chromium.

    .venv/bin/python benchmarks/screenshots.py [NAME ...]

Laptop width for every page, plus the search page, a postmortem's action items
and the quarterly review at phone width, the search page in dark mode, one
slide of the presenter pack and the trends page without JavaScript. Names
(e.g. `trends review-weekly`) limit it to those shots.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.live_server import serve

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
EXAMPLE = "2025-02-11-orders-pgbouncer-pool-exhaustion"
PAGES = {
    "search": "/?q=connection+pool+exhaustion",
    "postmortem": f"/postmortems/{EXAMPLE}",
    "pack": f"/postmortems/{EXAMPLE}/pack",
    "class-pack": "/error-classes/connection-pool-exhaustion/pack",
    "trends": "/trends?as_of=2026-11-26",
    "review-weekly": "/review/weekly?as_of=2026-10-25",
    "review-monthly": "/review/monthly",
    "review-quarterly": "/review/quarterly",
    "near-misses": "/near-misses",
    "incidents": "/incidents?service=orders",
    "service": "/services/orders?as_of=2026-11-26",
    "error-classes": "/error-classes?as_of=2026-11-26",
    "error-class": "/error-classes/connection-pool-exhaustion?as_of=2026-11-26",
    "action-items": "/action-items?overdue=true&as_of=2026-11-26",
    "digest": "/digest?week=2026-W43",
}
LAPTOP = {"width": 1366, "height": 860}
DRAWN = (
    "typeof Chart === 'undefined' || "
    "[...document.querySelectorAll('canvas[data-chart]')].every(c => Chart.getChart(c))"
)
PHONE = {"width": 390, "height": 844}


def main(wanted: set[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)

    def chosen(name: str) -> bool:
        return not wanted or name in wanted

    with tempfile.TemporaryDirectory() as data, serve(Path(data)) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        # Reduced motion: charts draw without animation, so no frame is caught half-drawn.
        laptop = browser.new_page(viewport=LAPTOP, reduced_motion="reduce")
        # A near-miss seen three times, so the page shows a recommendation and its next step.
        for day in ("2026-11-03", "2026-11-12", "2026-11-24"):
            entry = {"date": day, "service": "catalog", "what_failed": "Replica lag above 60 s",
                     "caught_by": "the replica-lag alert"}  # fmt: skip
            httpx.post(f"{base}/api/near-misses", json=entry, timeout=10).raise_for_status()
        for name, path in PAGES.items():
            if not chosen(name):
                continue
            laptop.goto(base + path, wait_until="networkidle")
            laptop.wait_for_function(DRAWN)
            laptop.screenshot(path=OUT / f"{name}.png", full_page=True)
            print(OUT / f"{name}.png")
        phone = browser.new_page(
            viewport=PHONE, device_scale_factor=2, is_mobile=True, reduced_motion="reduce"
        )
        phones = (
            ("search-phone", "search"),
            ("postmortem-phone", "postmortem"),
            ("review-quarterly-phone", None),
        )
        for name, page_name in phones:
            if chosen(name):
                path = PAGES[page_name] if page_name else "/review/quarterly?as_of=2026-11-26"
                phone.goto(base + path, wait_until="networkidle")
                if page_name is None:  # the targets table, stacked one card per row
                    phone.locator("table.targets").scroll_into_view_if_needed()
                if page_name == "postmortem":  # the action items, one card per row
                    phone.locator("table.action-items").scroll_into_view_if_needed()
                phone.screenshot(path=OUT / f"{name}.png")
                print(OUT / f"{name}.png")
        if chosen("search-dark"):
            dark = browser.new_page(viewport=LAPTOP, color_scheme="dark", reduced_motion="reduce")
            dark.goto(base + PAGES["search"], wait_until="networkidle")
            dark.screenshot(path=OUT / "search-dark.png")
            print(OUT / "search-dark.png")
        if chosen("pack-slides"):  # one slide, as the audience sees it
            laptop.goto(base + PAGES["pack"] + "?view=slides", wait_until="networkidle")
            laptop.keyboard.press("ArrowRight")
            laptop.keyboard.press("ArrowRight")
            laptop.wait_for_timeout(300)
            laptop.screenshot(path=OUT / "pack-slides.png")
            print(OUT / "pack-slides.png")
        if chosen("trends-no-js"):
            plain = browser.new_context(viewport=LAPTOP, java_script_enabled=False).new_page()
            plain.goto(base + PAGES["trends"], wait_until="networkidle")
            plain.screenshot(path=OUT / "trends-no-js.png", full_page=True)
            print(OUT / "trends-no-js.png")
        browser.close()


if __name__ == "__main__":
    main(set(sys.argv[1:]))
