"""Screenshots of every page for docs/screenshots/, from a real server and Debian's chromium.

    .venv/bin/python benchmarks/screenshots.py

Laptop width for every page, plus the search page at phone width and in dark mode.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

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
    "trends": "/trends",
    "review-weekly": "/review/weekly?as_of=2026-10-25",
    "review-monthly": "/review/monthly",
    "review-quarterly": "/review/quarterly",
    "near-misses": "/near-misses",
    "digest": "/digest?week=2026-W43",
}
LAPTOP = {"width": 1366, "height": 860}
DRAWN = (
    "typeof Chart === 'undefined' || "
    "[...document.querySelectorAll('canvas[data-chart]')].every(c => Chart.getChart(c))"
)
PHONE = {"width": 390, "height": 844}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data, serve(Path(data)) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        # Reduced motion: charts draw without animation, so no frame is caught half-drawn.
        laptop = browser.new_page(viewport=LAPTOP, reduced_motion="reduce")
        for name, path in PAGES.items():
            laptop.goto(base + path, wait_until="networkidle")
            laptop.wait_for_function(DRAWN)
            laptop.screenshot(path=OUT / f"{name}.png", full_page=True)
            print(OUT / f"{name}.png")
        phone = browser.new_page(
            viewport=PHONE, device_scale_factor=2, is_mobile=True, reduced_motion="reduce"
        )
        phone.goto(base + PAGES["search"], wait_until="networkidle")
        phone.screenshot(path=OUT / "search-phone.png")
        dark = browser.new_page(viewport=LAPTOP, color_scheme="dark", reduced_motion="reduce")
        dark.goto(base + PAGES["search"], wait_until="networkidle")
        dark.screenshot(path=OUT / "search-dark.png")
        print(OUT / "search-phone.png", OUT / "search-dark.png")
        browser.close()


if __name__ == "__main__":
    main()
