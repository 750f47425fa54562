"""Take the screenshots of ``docs/trainers.md`` with playwright and Debian's chromium.

    python -m sim.app.screenshots [--out docs/img]

Starts ``qisim app`` on a free port, blocks every request outside 127.0.0.1, and drives
the page through the workshop's moments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .testing import chromium, launch, offline_context, running_server


def _choose(page, side: str, preset: str) -> None:
    page.locator(f".qisim-side-{side} .v-select").first.click()
    page.locator(".menuable__content__active").get_by_role("option", name=preset, exact=True).click()
    # a preset starts both sides again: wait for day 0 (a fixed wait read the old day under load)
    page.wait_for_function(
        "() => (document.querySelector('.qisim-status') || {}).innerText?.startsWith('Day 0 ')"
    )
    page.wait_for_timeout(500)


def _step(page, days: int) -> None:
    target = _day(page) + days
    while days >= 30:
        page.get_by_role("button", name="Step 30 days").click()
        days -= 30
    for _ in range(days):
        page.get_by_role("button", name="Step", exact=True).click()
    page.wait_for_function(
        "t => (document.querySelector('.qisim-status') || {}).innerText?.startsWith('Day ' + t + ' ')",
        arg=target,
    )
    page.wait_for_timeout(500)


def _day(page) -> int:
    return int(page.locator(".qisim-status").inner_text().split()[1])


def take(out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    blocked: list[str] = []

    def shot(locator, name: str) -> None:
        path = out / name
        locator.screenshot(path=path)
        shots.append(path)

    with running_server() as server, sync_playwright() as p:
        browser = launch(p)
        context = offline_context(browser, blocked, viewport={"width": 1400, "height": 1100})
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(server.url)
        page.get_by_role("button", name="Play").wait_for()
        # the controls stay at the top of the window as one scrolls; here they must not
        # cover the parts of the page taken one by one
        page.add_style_tag(content=".qisim-controls { position: static !important; }")
        page.wait_for_timeout(800)
        shot(page.locator(".qisim-controls"), "app-controls.png")
        shot(page.locator(".qisim-side-A").first, "app-side.png")

        # clinician_only vs aligned, past the facilitator's exit
        _step(page, 300)
        shot(page.locator(".qisim-figure-adoption"), "app-adoption-day300.png")
        shot(page.locator(".qisim-figure-engagement"), "app-engagement-day300.png")
        shot(page.locator(".qisim-figure-organisation"), "app-organisation-day300.png")
        _step(page, 420)
        shot(page.locator(".qisim-figure-harm"), "app-harm-day720.png")
        shot(page.locator(".qisim-narration-A"), "app-narration.png")

        # the same preset on both sides; a merger on side B at day 120
        _choose(page, "A", "aligned")
        _step(page, 120)
        page.locator(".qisim-side-B .qisim-lever-merger").click()
        _step(page, 150)
        shot(page.locator(".qisim-figure-adoption"), "app-lever-adoption.png")
        shot(page.locator(".qisim-narration-B"), "app-lever-narration.png")
        shot(page.locator(".qisim-export"), "app-export.png")

        # both sides clinician_only; on day 150 side B's board puts QI into managers' reviews
        _choose(page, "A", "clinician_only")
        _choose(page, "B", "clinician_only")
        _step(page, 150)
        page.locator(".qisim-side-B .qisim-lever-reviews_include_qi").click()
        _step(page, 300)
        shot(page.locator(".qisim-figure-engagement"), "app-rescue-engagement.png")
        browser.close()
    if blocked:
        raise RuntimeError(f"the page asked for outside resources: {blocked}")
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sim.app.screenshots", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", type=Path, default=Path("docs/img"), help="folder (default: docs/img)")
    args = parser.parse_args(argv)
    if chromium() is None:
        print("needs Debian's chromium: apt-get install -y chromium", file=sys.stderr)
        return 2
    for path in take(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
