"""The workshop app in a real browser: Debian's chromium driven by playwright, with every
request to a host other than 127.0.0.1 blocked, against ``qisim app`` in a subprocess.

Skipped, with the reason, when chromium or playwright is missing (``.ci/run`` installs
chromium first, so CI runs them).  The speed of play is printed in the test log (even
under ``-q``), not asserted.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pytest

from sim.app.testing import chromium, launch, offline_context, running_server

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = playwright_api.expect
if chromium() is None:
    pytest.skip(
        "Debian's chromium is not installed (apt-get install -y chromium); .ci/run installs it",
        allow_module_level=True,
    )

STATUS = re.compile(
    r"Day (\d+) of (\d+) \(seed \d+\); "
    r"A: adoption (\d+)%, alignment ([\d.]+); B: adoption (\d+)%, alignment ([\d.]+)"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("app") / "server-stderr.log"
    with running_server(log=log) as srv:
        yield srv
    # the server itself made no outside request, at start or while the tests ran
    assert srv.blocked() == [], srv.stderr_text()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def offline(browser):
    """New offline pages; checks at the end that nothing non-local was requested."""
    blocked: list[str] = []
    requested: list[str] = []
    contexts = []

    def new_page():
        context = offline_context(browser, blocked, requested, viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        return page

    yield new_page, requested
    for context in contexts:
        context.close()
    assert blocked == [], f"the page asked for outside resources: {blocked}"


def status(page) -> tuple[int, ...]:
    text = page.locator(".qisim-status").inner_text()
    m = STATUS.search(text)
    if not m:
        return (int(re.search(r"Day (\d+)", text).group(1)),)
    return tuple(int(g) if "." not in g else float(g) for g in m.groups())


def day(page) -> int:
    return status(page)[0]


def wait_day(page, predicate, timeout=20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = day(page)
        if predicate(d):
            return d
        page.wait_for_timeout(100)
    raise AssertionError(f"day {day(page)} never satisfied the condition")


def choose(page, side: str, preset: str) -> None:
    page.locator(f".qisim-side-{side} .v-select").first.click()
    page.locator(".menuable__content__active").get_by_role("option", name=preset, exact=True).click()


def figures_rendered(page) -> list[int]:
    """Natural widths of the four figures' images (0 = not rendered)."""
    return page.eval_on_selector_all("[class*=qisim-figure-] img", "imgs => imgs.map(i => i.naturalWidth)")


def test_workshop_story(server, offline, tmp_path, capsys):
    new_page, requested = offline
    page = new_page()
    t0 = time.monotonic()
    page.goto(server.url)
    page.get_by_role("button", name="Play").wait_for()
    ready = time.monotonic() - t0
    assert day(page) == 0
    assert len(figures_rendered(page)) == 4 and all(w > 0 for w in figures_rendered(page))
    assert "clinician_only" in page.locator(".qisim-side-A h3").first.inner_text()
    assert "aligned" in page.locator(".qisim-side-B h3").first.inner_text()
    assert any("/_solara/cdn/" in url for url in requested)  # the front-end came from the server

    # choose a preset: both sides start from 'aligned', so only a lever will tell them apart
    choose(page, "A", "aligned")
    page.get_by_text("Both sides start alike").first.wait_for()
    assert "aligned" in page.locator(".qisim-side-A h3").first.inner_text()

    # play, and measure the speed in simulated days per second
    page.get_by_role("button", name="Play").click()
    start = wait_day(page, lambda d: d >= 5)
    t_start = time.monotonic()
    page.wait_for_timeout(4000)
    end = day(page)
    rate = (end - start) / (time.monotonic() - t_start)
    with capsys.disabled():  # in the log even under -q
        print(
            f"\n[app] page ready in {ready:.1f} s; playing at the default speed: {rate:.1f} simulated days "
            "per second (2 sides, 4 figures redrawn per tick)"
        )
    page.get_by_role("button", name="Pause").click()
    page.get_by_role("button", name="Play").wait_for()
    page.wait_for_timeout(500)  # the tick under way when Pause was pressed ends
    d, _, adopt_a, align_a, adopt_b, align_b = status(page)
    assert (adopt_a, align_a) == (adopt_b, align_b), "same preset, same seed: the sides must agree"

    # a lever on side B only: narrated on B, not on A, and the sides diverge
    page.locator(".qisim-side-B .qisim-lever-merger").click()
    page.get_by_role("button", name="Step 30 days").click()
    wait_day(page, lambda x: x >= d + 30)
    expect(page.locator(".qisim-narration-B")).to_contain_text(
        f"Day {d}: Lever pulled: a merger is under way"
    )
    assert "Lever pulled" not in page.locator(".qisim-narration-A").inner_text()
    _, _, adopt_a, align_a, adopt_b, align_b = status(page)
    assert (adopt_a, align_a) != (adopt_b, align_b), "the lever on B must make the sides diverge"
    expect(page.get_by_text("Both sides start alike")).to_have_count(0)  # the lever told them apart

    # export: the one-page debrief and a figure
    with page.expect_download() as info:
        page.get_by_role("button", name=re.compile("Debrief")).click()
    debrief = tmp_path / "debrief.html"
    info.value.save_as(debrief)
    text = debrief.read_text()
    assert "Lever pulled: a merger" in text and text.count("data:image/png;base64,") == 4
    assert f"<code>{server.url}?" in text  # the link back to the run: this server's port
    with page.expect_download() as info:
        page.get_by_role("button", name=re.compile("Organisation")).click()
    png = tmp_path / "organisation.png"
    info.value.save_as(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_debrief_links_back_to_the_address_the_browser_opened(server, offline, tmp_path):
    """Opened by another name for the server (as an attendee opens the trainer's machine by
    its network address), the debrief links to that name, not to 127.0.0.1."""
    new_page, _ = offline
    page = new_page()
    url = server.url.replace("127.0.0.1", "localhost")
    page.goto(url)
    page.get_by_role("button", name="Step", exact=True).click()
    expect(page.locator(".qisim-status")).to_contain_text("Day 1 of 730")
    with page.expect_download() as info:
        page.get_by_role("button", name=re.compile("Debrief")).click()
    info.value.save_as(tmp_path / "debrief.html")
    assert f"<code>{url}?seed=1&amp;day=1" in (tmp_path / "debrief.html").read_text()


def test_sessions_do_not_share_runs(server, offline):
    new_page, _ = offline
    first, second = new_page(), new_page()
    for page in (first, second):
        page.goto(server.url)
        page.get_by_role("button", name="Play").wait_for()
    first.get_by_role("button", name="Step 30 days").click()
    wait_day(first, lambda d: d == 30)
    assert day(second) == 0
    second.get_by_role("button", name="Step", exact=True).click()
    assert wait_day(second, lambda d: d >= 1) == 1  # not 31: its own pair
    assert day(first) == 30


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used so far (user and system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_play_stops_when_the_tab_goes_without_saying_so(server, offline):
    """A browser that goes away without the tab's closing message (killed, a machine
    asleep, a dropped network) leaves only a lost connection: play must stop then too,
    not run on to day 730 with nobody watching."""
    new_page, _ = offline
    page = new_page()
    page.goto(server.url + "?solara-no-close-beacon")  # the tab will not say it closes
    page.get_by_role("button", name="Play").wait_for()
    page.get_by_role("button", name="Play").click()
    wait_day(page, lambda d: d >= 5)
    page.context.close()
    time.sleep(1.5)  # the tick under way ends
    before = cpu_seconds(server.proc.pid)
    time.sleep(3)
    used = cpu_seconds(server.proc.pid) - before
    assert used < 0.3, f"the server worked {used:.1f} s of 3 after the tab went: play went on"


def test_controls_stay_in_view_and_a_bad_setting_stays_to_correct(server, offline):
    new_page, _ = offline
    page = new_page()
    page.goto(server.url)
    page.get_by_role("button", name="Play").wait_for()
    page.locator(".qisim-export").scroll_into_view_if_needed()
    box = page.locator(".qisim-controls").bounding_box()
    assert box and box["y"] >= -1 and box["y"] < 50  # the bar stays at the top of the window
    page.get_by_role("button", name="Play").click()  # reachable from the bottom of the page
    page.get_by_role("button", name="Pause").click()
    page.get_by_role("button", name="Play").wait_for()

    side = page.locator(".qisim-side-B")
    side.get_by_text("Start settings").click()
    area = side.locator("textarea")
    area.fill("days=nonsense")
    page.locator("h2").click()  # leave the box
    expect(side.locator(".v-alert")).to_contain_text("Side B's other settings: 'days' must be an integer")
    expect(area).to_be_visible()  # the panel stayed open ...
    expect(area).to_have_value("days=nonsense")  # ... with the text to correct
    assert "--set" not in side.locator(".v-alert").inner_text()
    area.fill("days=100")
    page.locator("h2").click()
    expect(side.locator(".v-alert")).to_have_count(0)
    expect(page.locator(".qisim-status")).to_contain_text("Day 0 of 730 (seed 1)")

    page.get_by_label("Seed").fill("-1")
    page.get_by_role("button", name="Reset", exact=True).click()
    expect(page.locator(".qisim-controls .v-alert")).to_contain_text("The seed must be a whole number")
    assert "ValueError" not in page.locator("body").inner_text()  # no traceback in place of the page
    expect(page.locator(".qisim-status")).to_contain_text("Day 0 of 730 (seed 1)")
    # a seed that is not a number at all is refused as well, named as typed, the run left as it was
    page.get_by_role("button", name="Step", exact=True).click()
    expect(page.locator(".qisim-status")).to_contain_text("Day 1 of 730 (seed 1)")
    page.get_by_label("Seed").fill("12abc")
    page.get_by_role("button", name="Reset", exact=True).click()
    expect(page.locator(".qisim-controls .v-alert")).to_contain_text("(not 12abc)")
    expect(page.locator(".qisim-status")).to_contain_text("Day 1 of 730 (seed 1)")
    page.get_by_label("Seed").fill("2")
    page.get_by_role("button", name="Reset", exact=True).click()
    expect(page.locator(".qisim-status")).to_contain_text("Day 0 of 730 (seed 2)")
    expect(page.locator(".qisim-controls .v-alert")).to_have_count(0)


def test_play_pauses_at_the_day_asked_and_a_side_that_ended_says_so(server, offline):
    """Play stops on the day in the pause-at box; the start settings stay open when a change
    makes two alike sides differ; the status line names the side whose run has ended."""
    new_page, _ = offline
    page = new_page()
    page.goto(server.url + "?seed=1&a=aligned&b=aligned")
    page.get_by_role("button", name="Play").wait_for()
    expect(page.get_by_text("Both sides start alike")).to_have_count(2)  # said on each side
    side = page.locator(".qisim-side-A")
    side.get_by_text("Start settings").click()
    area = side.locator("textarea")
    area.fill("days=20")
    page.locator("h2").click()  # leave the box: the sides now differ
    expect(page.get_by_text("Both sides start alike")).to_have_count(0)
    expect(area).to_be_visible()  # the panel stayed open
    page.get_by_label("Pause at day").fill("25")
    page.locator("h2").click()
    page.get_by_role("button", name="Play").click()
    page.get_by_role("button", name="Pause").wait_for()
    page.get_by_role("button", name="Play").wait_for(timeout=30_000)  # it paused by itself
    assert day(page) == 25
    expect(page.locator(".qisim-status")).to_contain_text("(its run ended on day 20); B: adoption")
    page.get_by_label("Pause at day").fill("soon")
    page.get_by_role("button", name="Play").click()  # refused: the box holds no day to pause at
    alert = page.locator(".qisim-controls .v-alert")
    expect(alert).to_contain_text("Pause at day: write a day")
    page.wait_for_timeout(1000)
    assert day(page) == 25 and page.get_by_role("button", name="Play").is_visible()
    # each box keeps its own message: a good entry in one does not hide the other's
    page.get_by_label("Seed").fill("abc")
    page.locator("h2").click()
    expect(alert).to_contain_text("(not abc)")
    page.get_by_label("Pause at day").fill("")
    page.locator("h2").click()
    expect(alert).not_to_contain_text("Pause at day")
    expect(alert).to_contain_text("(not abc)")
    page.get_by_label("Seed").fill("1")
    page.locator("h2").click()
    expect(alert).to_have_count(0)
    # text that is not a day, typed while playing, stops play rather than let it run past the day meant
    page.get_by_role("button", name="Play").click()
    page.get_by_role("button", name="Pause").wait_for()
    page.get_by_label("Pause at day").fill("l70")
    page.locator("h2").click()
    page.get_by_role("button", name="Play").wait_for()
    expect(alert).to_contain_text("(not l70)")


def test_a_day_typed_while_the_run_plays_is_kept_and_play_pauses_there(server, offline):
    """Typed at a person's pace while the page redraws several times a second, the text in
    the pause-at box stays as typed (it was put back to the last entry within a fifth of a
    second), and Enter makes play pause on that day."""
    new_page, _ = offline
    page = new_page()
    page.goto(server.url + "?seed=1")
    page.get_by_role("button", name="Play").click()
    page.get_by_role("button", name="Pause").wait_for()
    box = page.get_by_label("Pause at day")
    box.press_sequentially("400", delay=250)
    page.wait_for_timeout(500)
    assert box.input_value() == "400"
    box.press("Enter")
    expect(page.locator(".qisim-status")).to_contain_text("pausing at day 400")
    page.get_by_role("button", name="Pause").click()


def test_the_address_keeps_the_run_across_a_reload_and_back(server, offline):
    """The address holds the run: opened, it rebuilds the run; a reload carries on where
    the page was; Back goes to the state before the last change, to the bit."""
    new_page, _ = offline
    page = new_page()
    page.goto(server.url + "?seed=3&day=40&a=aligned&a_lever=20:merger")
    page.get_by_role("button", name="Play").wait_for()
    expect(page.locator(".qisim-status")).to_contain_text("Day 40 of 730 (seed 3)")
    expect(page.locator(".qisim-narration-A")).to_contain_text("Day 20: Lever pulled: a merger")
    assert "aligned" in page.locator(".qisim-side-A h3").first.inner_text()

    page.get_by_role("button", name="Step 30 days").click()
    expect(page).to_have_url(re.compile(r"day=70&"))
    page.locator(".qisim-side-B .qisim-lever-protected_time").click()
    expect(page).to_have_url(re.compile(r"b_lever=70:protected_time"))
    page.get_by_role("button", name="Step", exact=True).click()
    expect(page).to_have_url(re.compile(r"day=71&"))
    shown = page.locator(".qisim-status").inner_text()
    narration_b = page.locator(".qisim-narration-B").inner_text()

    page.reload()
    page.get_by_role("button", name="Play").wait_for()
    expect(page.locator(".qisim-status")).to_have_text(shown)
    assert page.locator(".qisim-narration-B").inner_text() == narration_b

    page.go_back()  # before the last Step: day 70, the lever queued
    expect(page.locator(".qisim-status")).to_contain_text("Day 70 of 730 (seed 3)")
    expect(page.locator(".qisim-lever-note-B")).to_contain_text("Queued for day 70: Protected time")
    page.go_back()
    page.go_back()  # the address the page opened on, as it was typed: no new entry
    expect(page.locator(".qisim-status")).to_contain_text("Day 40 of 730 (seed 3)")
    page.wait_for_timeout(1000)
    assert page.url.endswith("?seed=3&day=40&a=aligned&a_lever=20:merger")
    for _ in range(3):
        page.go_forward()  # the history after it is still there
    expect(page.locator(".qisim-status")).to_have_text(shown)

    # while playing, a lever is written at once; the day when play stops
    page.get_by_role("button", name="Play").click()
    wait_day(page, lambda d: d >= 75)
    page.locator(".qisim-side-A .qisim-lever-staff_turnover").click()
    expect(page).to_have_url(re.compile(r"a_lever=\d+:staff_turnover"))
    page.get_by_role("button", name="Pause").click()
    page.get_by_role("button", name="Play").wait_for()
    page.wait_for_timeout(500)  # the tick under way when Pause was pressed ends
    expect(page).to_have_url(re.compile(rf"day={day(page)}&"))

    page.goto(server.url + "?seed=3&day=x")
    page.get_by_role("button", name="Play").wait_for()
    expect(page.locator(".qisim-controls .v-alert")).to_contain_text(
        "The page's address could not be restored: the address's day must be a whole number"
    )
    expect(page.locator(".qisim-status")).to_contain_text("Day 0 of 730 (seed 1)")
    page.get_by_role("button", name="Step", exact=True).click()  # the run moves on: the message goes
    expect(page.locator(".qisim-status")).to_contain_text("Day 1 of 730 (seed 1)")
    expect(page.locator(".qisim-controls .v-alert")).to_have_count(0)
