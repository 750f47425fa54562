"""The workshop app without a browser: its logic (sim.app.session), the offline server's
settings and guard, the shipped front-end files and the ``qisim app`` command."""

from __future__ import annotations

import html
import io
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from sim import QIModel, load_scenario
from sim.app import drawing
from sim.app import session as sess
from sim.app.assets import CDN_DIR, PACKAGES, missing
from sim.app.session import FIGURES, LEVERS, Pair, Player, ScenarioError, SideSpec
from sim.schema import EVENT_KINDS

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"


def series(side) -> dict[str, np.ndarray]:
    return side.model.timeseries()


# -- pairs, lockstep, levers ------------------------------------------------------------


def test_default_pair_is_the_papers_contrast_on_one_seed():
    pair = Pair()
    assert [s.spec.preset for s in pair.sides] == ["clinician_only", "aligned"]
    assert {s.model.seed for s in pair.sides} == {sess.DEFAULT_SEED}
    assert pair.day == 0 and pair.horizon == 730 and not pair.done


def test_lockstep_runs_equal_plain_runs_on_the_same_seed():
    pair = Pair(seed=7)
    assert pair.step(40) == 40
    assert [s.day for s in pair.sides] == [40, 40]
    for side, preset in zip(pair.sides, ("clinician_only", "aligned"), strict=True):
        alone = QIModel(load_scenario(preset), rng=7)
        alone.run(40)
        for col, values in alone.timeseries().items():
            np.testing.assert_array_equal(series(side)[col], values, err_msg=col)


def test_same_preset_agrees_until_a_lever_on_one_side():
    pair = Pair("aligned", "aligned", seed=3)
    pair.step(60)
    np.testing.assert_array_equal(series(pair.sides[0])["alignment"], series(pair.sides[1])["alignment"])
    assert pair.pull("B", "reviews_include_qi") == ["B"]
    assert pair.pull("B", "merger") == ["B"]
    pair.step(60)
    a, b = series(pair.sides[0]), series(pair.sides[1])
    np.testing.assert_array_equal(a["alignment"][:60], b["alignment"][:60])
    assert not np.array_equal(a["alignment"][60:], b["alignment"][60:])
    assert any(line.startswith("Day 60: Lever pulled: a merger") for line in pair.narration("B"))
    # 'aligned' has QI in managers' reviews from day 0: the lever says it changes nothing
    assert (
        "Day 60: Lever pulled: QI in middle managers' performance reviews in the hospital is "
        "already in force: nothing changes." in pair.narration("B")
    )
    assert not any("Lever pulled" in line for line in pair.narration("A"))
    # side A is exactly the run without the lever
    alone = QIModel(load_scenario("aligned"), rng=3)
    alone.run(120)
    np.testing.assert_array_equal(a["adoption"], alone.timeseries()["adoption"])


def test_narration_is_newest_first():
    pair = Pair()
    pair.step(200)
    days = [int(line.split(":")[0].split()[1]) for line in pair.narration("A")]
    assert days == sorted(days, reverse=True) and len(days) > 3
    assert pair.narration("A", newest_first=False) == pair.narration("A")[::-1]


def test_every_event_kind_is_a_lever_and_pulling_both_sides_narrates_on_both():
    assert set(LEVERS) == set(EVENT_KINDS)
    for kind in (
        "reviews_include_qi",
        "protected_time",
        "merger",
        "ehr_rollout",
        "facilitator_leaves",
        "regulator_endorsement",
    ):
        pair = Pair()
        pair.step(5)
        assert pair.pull("both", kind) == ["A", "B"]
        pair.step(1)
        for side in "AB":
            assert pair.narration(side)[0].startswith("Day 5: Lever pulled: ") or any(
                line.startswith("Day 5: Lever pulled: ") for line in pair.narration(side)
            ), (kind, side)
        assert [p.kind for p in pair.sides[0].pulls] == [kind]


def test_lever_strength_and_duration_reach_the_model():
    pair = Pair()
    pair.pull("A", "protected_time", strength=0.9)
    pair.step(1)
    assert pair.sides[0].model.state.protected[0] == pytest.approx(0.9)
    assert pair.sides[1].model.state.protected[0] != pytest.approx(0.9)
    pair.pull(0, "merger", strength=0.4, duration=10)
    pair.step(1)
    s = pair.sides[0].model.state
    assert s.merger[0] == pytest.approx(0.4) and s.merger_until[0] == 11


def test_bad_levers_and_sides_are_refused():
    pair = Pair()
    with pytest.raises(ValueError, match="unknown lever"):
        pair.pull("A", "pay_rise")
    with pytest.raises(ValueError, match="side must be"):
        pair.pull("C", "merger")
    with pytest.raises(ValueError):
        pair.pull("A", "merger", strength=2.0)


def test_a_lever_pulled_while_playing_is_never_lost():
    pair = Pair()

    def play():
        for _ in range(150):
            pair.step(1)

    player = threading.Thread(target=play)
    player.start()
    pulled = 0
    while player.is_alive() and pulled < 20:
        pair.pull("A", "inspection", duration=1)
        pulled += 1
    player.join()
    pair.step(1)  # a pull made after the player's last day acts on the next
    lines = [line for line in pair.narration("A") if "Lever pulled: an inspection" in line]
    assert len(lines) == pulled == len(pair.sides[0].pulls)


def test_start_settings_and_overrides_shape_a_side():
    pair = Pair(SideSpec("aligned"), SideSpec("aligned", ("no_facilitator", "reviews"), ("days=100",)))
    b = pair.sides[1].scenario
    assert not b["facilitation.enabled"] and b["actions.board.review_incentives"] and b["days"] == 100
    assert pair.sides[0].scenario["facilitation.enabled"]
    assert "No external facilitator" in pair.labels()[1]
    pair.step(150)  # B stops at its horizon, A goes on
    assert (pair.sides[0].day, pair.sides[1].day) == (150, 100) and pair.sides[1].done
    assert pair.pull("B", "merger") == ["B"] and pair.sides[1].pulls == []  # too late: nothing happens


def test_reset_starts_again_and_bad_input_leaves_the_pair_as_it_was():
    pair = Pair()
    pair.step(30)
    pair.reset(seed=5)
    assert (
        pair.day == 0
        and pair.seed == 5
        and [s.spec.preset for s in pair.sides]
        == [
            "clinician_only",
            "aligned",
        ]
    )
    pair.reset(a="merger_shock")
    assert [s.spec.preset for s in pair.sides] == ["merger_shock", "aligned"]
    pair.step(3)
    with pytest.raises(ScenarioError, match="unknown preset"):
        pair.reset(b="no_such_preset")
    with pytest.raises(ScenarioError):
        pair.reset(b=SideSpec("aligned", overrides=("managers.bias=banana",)))
    assert pair.day == 3 and pair.sides[1].spec.preset == "aligned"


def test_runs_to_the_end_and_stops():
    pair = Pair(SideSpec("aligned", overrides=("days=50",)), SideSpec("aligned", overrides=("days=40",)))
    assert pair.step(1000) == 50 and pair.done and pair.step(5) == 0


def test_two_pairs_never_move_each_other():
    """Two browser sessions' pairs, stepped and levered in turn, each run as it would alone."""
    one, two = Pair(), Pair()
    one.step(25)
    assert two.day == 0
    two.step(1)
    assert (one.day, two.day) == (25, 1)
    one.pull("B", "merger")
    for _ in range(5):
        one.step(7)
        two.step(12)
    alone = Pair()
    alone.step(61)
    for side, lone in zip(two.sides, alone.sides, strict=True):
        ts, ref = series(side), series(lone)
        assert all(np.array_equal(ts[c], ref[c]) for c in ref)


# -- figures and export ---------------------------------------------------------------------


@pytest.mark.parametrize("presets", [("clinician_only", "aligned"), ("baseline", "trial_then_scale_up")])
def test_every_figure_draws_at_day_zero_and_later(presets):
    pair = Pair(*presets)
    for _ in range(2):
        for name in FIGURES:
            png = pair.figure_png(name)
            assert png[:8] == PNG, name
        pair.step(45)
        pair.pull("B", "merger")


def test_debrief_has_summaries_figures_and_narration(tmp_path):
    pair = Pair()
    pair.step(100)
    pair.pull("B", "facilitator_leaves")
    pair.step(20)
    page = pair.debrief_html()
    assert page.startswith("<!doctype html>") and page.count("data:image/png;base64,") == len(FIGURES)
    assert "A: clinician_only" in page and "B: aligned" in page
    assert "Sustainment" in page and "Issues raised" in page
    assert "Day 100: Lever pulled: the external facilitator leaves" in page
    assert "day 100: Facilitator leaves" in page  # the levers pulled, by side
    (address,) = re.findall(r"<code>http://127\.0\.0\.1:8765/\?([^<]+)</code>", page)
    again = Pair().restore(html.unescape(address))  # the run again, from the debrief
    assert again.day == 120 and again.narration("B") == pair.narration("B")
    assert "http" not in page.replace("http://", "").split("<body>", 1)[0]  # nothing to fetch
    files = pair.export_files()
    assert {f"{n}.png" for n in FIGURES} | {"debrief.html", "A-events.log", "B-summary.json"} <= set(files)
    summary = json.loads(files["B-summary.json"])
    assert summary["days"] == 120 and summary["lever_pulls"][0]["kind"] == "facilitator_leaves"
    names = zipfile.ZipFile(io.BytesIO(pair.export_zip())).namelist()
    assert set(names) == set(files)
    written = pair.write_export(tmp_path / "debrief")
    assert all(p.stat().st_size > 0 for p in written)
    assert sess.export_name(pair, ".html") == "qisim-clinician_only-vs-aligned-seed1-day120.html"


def test_the_debrief_links_to_where_the_app_runs(monkeypatch):
    from sim.app import server

    assert server.origin("127.0.0.1", 8765) == sess.APP_ORIGIN  # before the app serves
    assert server.origin("0.0.0.0", 9000) == "http://127.0.0.1:9000"  # every address: this machine's
    assert server.origin("::", 9000) == "http://[::1]:9000"
    assert server.origin("fe80::1", 80) == "http://[fe80::1]:80"
    assert server.origin("lab.local", 8765) == "http://lab.local:8765"
    monkeypatch.setattr(sess, "APP_ORIGIN", server.origin("0.0.0.0", 9000))
    assert "<code>http://127.0.0.1:9000/?seed=1&amp;day=0" in Pair().debrief_html()


def test_the_debrief_links_to_the_address_the_browser_used(monkeypatch):
    """Exported from an attendee's laptop, the debrief's link is the address that laptop
    opened (the Host header), not the server's own view of itself; a Host that is not a
    plain host and port is not written into the page."""
    import solara.lab

    from sim.app import page

    assert page.browser_origin() is None  # outside a server: the debrief uses APP_ORIGIN
    for host, origin in [
        ("192.0.2.2:8765", "http://192.0.2.2:8765"),
        ("lab-laptop.local:9000", "http://lab-laptop.local:9000"),
        ("[fe80::1]:8765", "http://[fe80::1]:8765"),
        ("evil.example/<script>", None),
        ("", None),
    ]:
        monkeypatch.setattr(solara.lab, "headers", SimpleNamespace(value={"host": [host]}))
        assert page.browser_origin() == origin, host
    text = Pair().debrief_html(origin="http://192.0.2.2:8765")
    assert "<code>http://192.0.2.2:8765/?seed=1&amp;day=0" in text


def test_the_debrief_writes_no_change_as_0_percent_and_its_window_in_words():
    assert [sess._signed_percent(x) for x in (0.25, -0.03, 0.004, -0.004, 0.0)] == [
        "+25%",
        "-3%",
        "0%",
        "0%",
        "0%",
    ]
    text = Pair("baseline", "aligned").debrief_html()
    assert "min(90" not in text and "the run's last 90 days" in text


def test_levers_pulled_are_marked_in_lower_case_like_the_scenarios_events():
    pair = Pair("aligned", "aligned", seed=1)
    pair.pull("B", "merger")
    pair.pull("B", "reviews_include_qi")
    pair.step(3)
    marks = pair.side("B").marks()
    assert marks == [(0, "QI into managers' reviews (pulled)"), (0, "merger strikes (pulled)")]


def test_debrief_before_any_day():
    assert "Outcomes" in Pair().debrief_html()


def test_preset_descriptions_are_plain_paragraphs():
    for name in sess.preset_names():
        text = sess.preset_description(name)
        assert text and "\n" not in text


# -- the pace of play ---------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_player_keeps_to_the_speed_whatever_a_redraw_costs(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(sess.time, "perf_counter", clock)
    player = Player(speed=20, min_interval=0.2, max_days=60)
    assert player.wait() == pytest.approx(0.2)  # nothing due yet: 4 days fall due in 0.2 s
    clock.now += 0.2
    assert player.wait() == 0 and player.due() == 4
    for redraw in (0.5, 0.5, 0.5, 0.5):  # slow redraws: more days per tick, same speed
        player.advanced(player.due())
        clock.now += redraw
        assert player.wait() == 0
    assert player.due() == 10
    assert player.days_per_second == pytest.approx(20 * (player.days / 20) / (clock.now - 100.0))
    clock.now += 100  # a stalled machine: the debt is dropped, not caught up in one burst
    player.wait()
    assert player.due() <= 60


def test_player_slow_speed_steps_one_day_a_second(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(sess.time, "perf_counter", clock)
    player = Player(speed=1)
    assert player.wait() == pytest.approx(1.0)
    clock.now += 1.0
    assert player.due() == 1


# -- the offline server ---------------------------------------------------------------------


def test_is_local():
    from sim.app.server import is_local

    for host in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "127.0.1.1", b"127.0.0.1", None, ""):
        assert is_local(host), host
    for host in ("cdn.jsdelivr.net", "api.mixpanel.com", "pypi.org", "8.8.8.8", "192.168.1.4"):
        assert not is_local(host), host


GUARD_SCRIPT = r"""
import json, socket, sys
from sim.app import server
blocked = []
server.guard_sockets(blocked.append)
out = {}
try:
    socket.create_connection(("pypi.org", 443), timeout=1)
except OSError as e:
    out["name"] = type(e).__name__
try:
    socket.socket().connect(("151.101.0.223", 443))
except OSError as e:
    out["ip"] = type(e).__name__
listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen()
socket.create_connection(listener.getsockname(), timeout=1).close()
out["local"] = "ok"
MODE = sys.argv[1]
if MODE == "configured":
    server.configure_solara()
import solara.server.settings as ss, solara.settings
from solara.server import telemetry
import solara.server.starlette as st
st.on_startup()      # what uvicorn's lifespan runs at start: telemetry.server_start() included
telemetry.track("probe")   # what Solara calls on events while running
if MODE == "defaults":
    from solara.__main__ import _check_version
    _check_version()       # what 'solara run' does at start, unless --no-check-version
if telemetry._thread.ident is not None:
    telemetry._thread.join(1.0)
out.update(blocked=blocked, telemetry=ss.telemetry.mixpanel_enable, mode=ss.main.mode,
           proxy=solara.settings.assets.proxy, cache=str(ss.assets.proxy_cache_dir),
           thread=telemetry._thread.ident is not None)
print(json.dumps(out))
"""


def _guarded(mode: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", GUARD_SCRIPT, mode], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_server_settings_make_no_outside_request():
    out = _guarded("configured")
    assert out["name"] == "gaierror" and out["ip"] == "ConnectionRefusedError" and out["local"] == "ok"
    assert out["telemetry"] is False and out["mode"] == "production" and out["proxy"] is True
    assert Path(out["cache"]) == CDN_DIR
    assert not out["thread"]  # the telemetry thread never started
    assert [b for b in out["blocked"] if "pypi.org" not in b and "151.101.0.223" not in b] == []


def test_without_the_settings_solara_would_call_home():
    """The guard's negative control: Solara's defaults send telemetry at start, and
    ``solara run`` (which ``qisim app`` never calls) asks PyPI for a newer version."""
    out = _guarded("defaults")
    assert out["telemetry"] is True
    assert any("mixpanel" in b or "ipify" in b for b in out["blocked"]), out["blocked"]
    assert any("pypi.org" in b for b in out["blocked"][2:]), out["blocked"]  # solara run's version check


def test_server_serves_page_and_front_end_locally(tmp_path):
    from sim.app.testing import running_server

    with running_server(log=tmp_path / "err.log") as srv:
        with urllib.request.urlopen(srv.url, timeout=10) as r:
            page = r.read().decode()
        assert "/_solara/cdn/@widgetti/solara-vuetify-app@10.1.1/dist/main8.css" in page
        assert "solara.dev/static/public/success.html" not in page  # the browser-side check is off
        assert "font-awesome" not in page
        for path in (
            "_solara/cdn/@widgetti/solara-vuetify-app@10.1.1/dist/solara-vuetify-app8.min.js",
            "_solara/cdn/requirejs@2.3.6/require.js",
        ):
            with urllib.request.urlopen(srv.url + path, timeout=10) as r:
                assert r.status == 200 and len(r.read()) > 10_000
        assert srv.blocked() == []


# -- front-end files, command line -------------------------------------------------------


def test_front_end_files_are_complete_and_licensed():
    assert missing(CDN_DIR) == []
    notice = (CDN_DIR / "NOTICE.md").read_text()
    for package in PACKAGES:
        assert f"{package.name}@{package.version}" in notice
    size = sum(p.stat().st_size for p in CDN_DIR.rglob("*") if p.is_file())
    assert size < 6e6


def test_missing_front_end_files_are_named(tmp_path):
    shutil.copytree(CDN_DIR, tmp_path / "cdn")
    target = tmp_path / "cdn" / PACKAGES[0].folder / "dist" / "main8.css"
    target.unlink()
    assert missing(tmp_path / "cdn") == [f"{PACKAGES[0].folder}/dist/main8.css"]


def _qisim(*args, timeout=30):
    return subprocess.run(
        [sys.executable, "-c", "import sys; from sim.cli import main; sys.exit(main())", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_cli_app_help():
    done = _qisim("app", "--help")
    assert done.returncode == 0 and "--port" in done.stdout and "--host" in done.stdout


def test_cli_app_port_in_use_is_one_line_and_status_2():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        done = _qisim("app", "--port", str(s.getsockname()[1]))
    assert done.returncode == 2
    assert done.stderr.startswith("qisim: error: cannot serve on 127.0.0.1:") and done.stderr.count("\n") == 1


def test_cli_app_port_0_is_refused_as_the_page_could_not_name_its_address():
    done = _qisim("app", "--port", "0")
    assert done.returncode == 2
    assert done.stderr == "qisim: error: cannot serve on 127.0.0.1:0: the port must be between 1 and 65535\n"


def test_cli_does_not_import_solara_for_other_commands():
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from sim.cli import main; main(['scenarios']); print('solara' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.stdout.strip().endswith("False")


def test_live_figures_are_drawn_once_per_change_and_read_without_the_lock():
    pair = Pair()
    first = pair.live_figures(80)
    assert set(first) == set(FIGURES) and pair.live_figures(80) is first
    pair.step(1)
    with pair.lock:  # another thread holds the lock: a render still gets the last figures
        done = []
        reader = threading.Thread(target=lambda: done.append(pair.live_figures(80, cached=True)))
        reader.start()
        reader.join(5)
        assert done and done[0] is first
    assert pair.live_figures(80) is not first


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def _differing(a: bytes, b: bytes) -> float:
    """Share of pixels that differ visibly between two PNGs of the same size."""
    x, y = _pixels(a), _pixels(b)
    assert x.shape == y.shape
    return float((np.abs(x - y).sum(axis=2) > 30).mean())


def test_live_figures_kept_and_blitted_look_as_drawn_anew():
    """The page's figures are kept and only their moving parts redrawn: after days stepped, a
    lever pulled (a new mark) and a restart on other presets (another organisation), each
    still shows what a figure drawn from scratch shows (the two differ only where a curve
    meets a line drawn under it, a few pixels in 10,000)."""
    pair = Pair()
    kept = pair._kept
    tops = set()
    for change in ("start", "days", "days", "lever", "days", "days", "restart", "days"):
        if change == "days":
            pair.step(40)
        elif change == "lever":
            pair.pull("B", "merger")
            pair.step(5)
        elif change == "restart":
            pair.reset(SideSpec("baseline"), SideSpec("trial_then_scale_up"))
            pair.step(30)
        live = pair.live_figures(60)
        tops.add(drawing._harm_top(pair._data()))
        for name in FIGURES:
            assert _differing(live[name], pair.figure_png(name, dpi=60)) < 0.001, (change, name, pair.day)
    assert len(tops) >= 2  # the harm axis grew while the figure was kept
    # stepping alone redraws the kept figure, it does not build it again
    drawings = {name: f._drawing for name, f in kept.items()}
    pair.step(3)
    pair.live_figures(60)
    assert all(kept[name]._drawing is drawings[name] for name in FIGURES)


def test_figures_show_the_sides_data_today():
    import matplotlib

    pair = Pair()
    pair.step(120)
    for name in ("adoption", "engagement"):
        fig = pair.figure(name)
        for ax, (_, side) in zip(fig.axes, pair._data(), strict=True):
            ts = side.model.timeseries()
            curves = [line for line in ax.lines if len(line.get_xdata()) > 2]
            columns = ("adoption", "fidelity", "reported_compliance") if name == "adoption" else ENGAGEMENT
            shown = [np.array_equal(line.get_ydata(), ts[c]) for line, c in zip(curves, columns, strict=True)]
            assert shown == [True] * len(columns)
            assert any(list(line.get_xdata()) == [pair.day, pair.day] for line in ax.lines)  # today
    fig = pair.figure("organisation")
    viridis = matplotlib.colormaps["viridis"]
    for ax, (_, side) in zip(fig.axes[:-1], pair._data(), strict=True):  # the last: the colour bar
        s = side.model.state
        assert np.array_equal(ax.images[0].get_array(), s.c_eng[:, 0].reshape(s.W, s.cpw).T)
        cells = [tuple(p.get_facecolor()) for p in ax.patches]
        wanted = [viridis(v) for v in (*s.m_priority[:, 0], *s.b_focus[:, 0])]
        assert np.allclose(cells, wanted)
        assert ax.get_title(loc="left").endswith(f"(day {pair.day})")


ENGAGEMENT = ("engagement_clinician", "engagement_manager", "engagement_board", "alignment")


def test_harm_axis_grows_in_round_steps():
    from sim.app.drawing import _harm_top

    pair = Pair()
    tops = []
    for _ in range(12):
        pair.step(30)
        tops.append(_harm_top(pair._data()))
    highest = max(float(np.nanmax(np.concatenate(_rates(s)))) for _, s in pair._data())
    assert tops[-1] >= 1.15 * highest
    assert tops == sorted(tops) and len(set(tops)) <= 4, tops
    mantissa = {round(t / 10 ** np.floor(np.log10(t)), 6) for t in tops}
    assert mantissa <= {1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8}, tops


def _rates(side):
    from sim.app.drawing import _harm_rates

    return _harm_rates(side)[1:]


# -- seeds, levers at the day shown, honest narration ---------------------------------------


@pytest.mark.parametrize("bad", [-1, "-1", "abc", "", 1.5, True, None])
def test_a_seed_must_be_a_whole_number_of_0_or_more(bad):
    assert sess.check_seed(0) == 0 and sess.check_seed("7") == 7 and sess.check_seed(np.int64(3)) == 3
    pair = Pair()
    pair.step(5)
    with pytest.raises(ValueError, match="whole number, 0 or more"):
        sess.check_seed(bad)
    if bad is not None:  # (reset's None keeps the seed)
        with pytest.raises(ValueError, match="whole number, 0 or more"):
            pair.reset(seed=bad)
    assert pair.day == 5 and pair.seed == 1  # left as it was


def test_the_status_line_names_the_seed_in_use():
    pair = Pair(seed=4)
    assert pair.state_line().startswith("Day 0 of 730 (seed 4)")
    pair.step(3)
    assert pair.state_line().startswith("Day 3 of 730 (seed 4); A: adoption ")
    assert "ended" not in pair.state_line()


def test_the_status_line_says_which_side_has_ended():
    pair = Pair(SideSpec("aligned", overrides=("days=10",)), SideSpec("aligned"), seed=1)
    pair.step(10)
    assert "ended" not in pair.state_line()  # both are on day 10: neither has ended before the other
    pair.step(5)
    line = pair.state_line()
    assert line.startswith("Day 15 of 730 (seed 1); A: adoption ")
    a, b = line.split("; ")[1:]
    assert a.endswith("(its run ended on day 10)") and "ended" not in b


@pytest.mark.parametrize(
    ("text", "day", "stop"),
    [("", 0, None), ("  ", 40, None), ("170", 0, 170), (" 170 ", 169, 170), ("170", 170, None), ("1", 0, 1)],
)
def test_pause_at_day_reads_the_box(text, day, stop):
    """A day ahead pauses play there; an empty box or a day already reached plays to the end."""
    assert sess.stop_day(text, day) == stop


@pytest.mark.parametrize("bad", ["0", "-5", "abc", "1.5", "1e3", "12abc"])
def test_pause_at_day_refuses_what_is_not_a_day(bad):
    expected = rf"write a day, 1 or more, or leave it empty \(not {re.escape(bad)}\)"
    with pytest.raises(ValueError, match=expected):
        sess.stop_day(bad, 0)


def test_preset_descriptions_in_the_app_use_the_settings_box_not_the_command_line():
    for name in sess.preset_names():
        text = sess.preset_description(name, app=True)
        assert "--set" not in text and "--days" not in text and "wards.csv" not in text, name
        assert "`" not in text, name  # read out as plain text: no command to type
    text = sess.preset_description("co_leadership", app=True)
    assert (
        "(organisation.champion_share=0 and incentives.clinician.recognition=0 in Other settings)" in text
    )
    assert "--set" in sess.preset_description("co_leadership")  # the command line's own wording stays


def test_labels_name_the_levers_when_the_sides_start_alike():
    pair = Pair(SideSpec("aligned"), SideSpec("aligned"), seed=1)
    assert pair.labels() == ["A: aligned", "B: aligned"]
    pair.pull("B", "merger")
    pair.step(2)
    for _ in range(3):
        pair.pull("A", "staff_turnover")
    assert pair.labels()[1] == f"B: aligned + {LEVERS['merger'].label} (day 0)"
    assert pair.labels()[0] == (
        f"A: aligned + {LEVERS['staff_turnover'].label} (day 2), {LEVERS['staff_turnover'].label} (day 2), "
        "1 more lever"
    )
    other = Pair(SideSpec("clinician_only"), SideSpec("aligned"), seed=1)
    other.pull("B", "merger")
    assert other.labels() == ["A: clinician_only", "B: aligned"]  # the presets tell them apart


def test_a_lever_given_the_day_shown_acts_from_that_day_after_the_run_moved_on():
    late = Pair("aligned", "aligned", seed=2)
    late.step(20)
    late.pull("B", "protected_time", strength=0.9)
    late.step(30)  # the play loop stepped on while the page still showed day 40
    assert late.pull("B", "merger", day=40) == ["B"] and late.day == 50
    on_time = Pair("aligned", "aligned", seed=2)
    on_time.step(20)
    on_time.pull("B", "protected_time", strength=0.9)
    on_time.step(20)
    on_time.pull("B", "merger")
    on_time.step(10)
    for a, b in zip(late.sides, on_time.sides, strict=True):
        assert a.day == b.day == 50 and a.narration() == b.narration()
        assert [p.__dict__ for p in a.pulls] == [p.__dict__ for p in b.pulls]
        for col, values in series(b).items():
            np.testing.assert_array_equal(series(a)[col], values, err_msg=col)
    assert "Day 40: Lever pulled: a merger" in "\n".join(late.narration("B"))
    assert not any("Lever pulled" in line for line in late.narration("A"))


def test_the_address_holds_the_run_to_the_bit():
    """A reloaded page is rebuilt from its address: the same run, and it goes on the same."""
    pair = Pair(SideSpec("aligned", ("no_facilitator",), ("days=400",)), "merger_shock", seed=4)
    pair.step(50)
    pair.pull("A", "merger")
    pair.step(30)
    pair.pull("B", "protected_time", strength=0.3)  # not the app's strength: written in full
    pair.pull("B", "inspection")  # queued for day 80: still queued after the restore
    address = pair.address()
    assert address == (
        "seed=4&day=80&a=aligned&a_start=no_facilitator&a_set=days%3D400&a_lever=50:merger"
        "&b=merger_shock&b_lever=80:protected_time:0.3:0:-1&b_lever=80:inspection"
    )
    again = Pair().restore("?" + address + "&solara-no-close-beacon")  # Solara's own part ignored
    assert again.address() == address and again.lever_note("B") == pair.lever_note("B")
    for days in (0, 200):
        pair.step(days)
        again.step(days)
        for a, b in zip(pair.sides, again.sides, strict=True):
            assert a.day == b.day and a.narration() == b.narration()
            for col, values in series(a).items():
                np.testing.assert_array_equal(series(b)[col], values, err_msg=col)
    assert Pair().restore("").address() == Pair().address() == "seed=1&day=0&a=clinician_only&b=aligned"
    # start settings as the check boxes give them, empty settings lines dropped
    odd = Pair().restore("a_start=protected_time&a_start=reviews,,reviews&a_set=&a_set=days%3D9")
    assert odd.address() == (
        "seed=1&day=0&a=clinician_only&a_start=reviews,protected_time&a_set=days%3D9&b=aligned"
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("seed=-1", "The seed must be a whole number, 0 or more (not -1)"),
        ("seed=1&seed=2", "the address gives 'seed' 2 times"),
        ("day=soon", "the address's day must be a whole number, 0 or more (not 'soon')"),
        ("c=aligned", "the address has 'c', which is not one of seed, day, a, a_start"),
        ("a=nope", "the address's side A has preset 'nope', which is not one of aligned,"),
        ("b=..%2Fscenarios%2Faligned.toml", "side B has preset '../scenarios/aligned.toml', which is not"),
        ("a_start=bogus", "the address's a_start has 'bogus', which is not one of reviews, protected_time"),
        ("b_set=managers.bias%3Dbanana", "side B: 'managers.bias' must be a number from -10 to 10"),
        ("a_lever=5:chaos", "lever '5:chaos' is not DAY:KIND with DAY a whole number and KIND one of"),
        ("a_lever=5:merger:x:1:-1", "lever '5:merger:x:1:-1': STRENGTH:DURATION:HOSPITAL must be numbers"),
        ("day=3&a_lever=9:merger", "the address's lever '9:merger' comes after its day, 3"),
        ("a_set=days%3D5&day=9&a_lever=8:merger", "lever '8:merger' comes on or after side A's last day, 5"),
        ("a_lever=0:merger:0.5:10:3", "names hospital 3; side A has hospitals 0 to 0 (or -1 for all)"),
        ("day=%C2%B2", "the address's day must be a whole number, 0 or more (not '²')"),
    ],
)
def test_an_address_that_holds_no_run_is_refused_and_the_pair_stays(query, message):
    pair = Pair()
    pair.step(5)
    before = pair.address()
    with pytest.raises(ValueError) as err:
        pair.restore(query)
    assert message in str(err.value)
    assert pair.address() == before


def test_a_page_opened_on_a_bad_address_starts_from_the_defaults_and_says_why():
    from sim.app.page import first_pair

    pair, error = first_pair(None, "seed=3&day=x")
    assert pair.address() == Pair().address()
    assert error == (
        "The page's address could not be restored: the address's day must be a whole number, "
        "0 or more (not 'x'). Started from the defaults."
    )
    pair, error = first_pair(None, "seed=3&day=10&b_lever=4:resources")
    assert (pair.seed, pair.day, error) == (3, 10, "")
    assert any("Day 4: Lever pulled" in line for line in pair.narration("B"))


def test_a_facilitator_called_off_before_arriving_is_narrated_as_such():
    """'Facilitator leaves' before the facilitator's first day calls them off: said so, and
    no arrival is narrated on the day they would have come."""
    due_later = SideSpec("aligned", overrides=("facilitation.start_day=100",))
    pair = Pair(due_later, due_later, seed=1)
    pair.step(10)
    pair.pull("A", "facilitator_leaves")
    pair.step(100)
    said = [line for line in pair.narration("A", newest_first=False) if "facilitator" in line]
    called_off = "the external facilitator due in the hospital on day 100 will not come."
    assert said == [f"Day 10: Lever pulled: {called_off}"]
    assert "Day 100: An external facilitator arrives to support implementation." in pair.narration("B")
    assert not pair.side("A").model.state.facil_present.any()
    pair.pull("A", "facilitator_leaves")
    pair.step(1)
    assert "no external facilitator works in the hospital now: nothing changes." in pair.narration("A")[0]


def test_a_lever_is_acknowledged_queued_and_each_press_counted():
    pair = Pair()
    pair.step(12)
    assert pair.lever_note("B") == ""
    for _ in range(3):
        pair.pull("B", "staff_turnover")
    pair.pull("B", "merger")
    assert pair.lever_note("B") == (
        "Queued for day 12: Staff turnover (pressed 3 times: 3 pulls), Merger strikes. "
        "They act when the run moves on (Play or Step)."
    )
    assert pair.lever_note("A") == ""
    pair.step(1)
    assert pair.lever_note("B").startswith("Last lever: Merger strikes, from day 12")
    assert sum("Lever pulled" in line and "change hands" in line for line in pair.narration("B")) == 3


@pytest.mark.parametrize(
    ("preset", "kind", "text"),
    [
        ("aligned", "reviews_include_qi", "QI in middle managers' performance reviews in the hospital is"),
        (
            "aligned",
            "protected_time",
            "protected time for QI in the hospital (50% of the intervention's time) is",
        ),
        ("co_leadership", "resources", "the QI budget the board releases in the hospital, 80%, is"),
    ],
)
def test_a_lever_that_sets_what_is_in_force_says_it_changes_nothing(preset, kind, text):
    pair = Pair(preset, preset)
    pair.step(30)
    pair.pull("B", kind)
    pair.step(60)
    a, b = series(pair.sides[0]), series(pair.sides[1])
    for col in a:
        np.testing.assert_array_equal(a[col], b[col], err_msg=col)  # nothing changed indeed
    line = f"Day 30: Lever pulled: {text} already in force: nothing changes."
    assert line in pair.narration("B")


def test_a_lever_that_changes_something_is_narrated_as_a_change():
    pair = Pair("clinician_only", "clinician_only")
    pair.step(30)
    for kind in ("reviews_include_qi", "protected_time", "resources", "regulator_endorsement"):
        pair.pull("B", kind)
    pair.pull("B", "regulator_endorsement")  # the second finds the first's endorsement
    pair.step(1)
    lines = [line for line in pair.narration("B", newest_first=False) if "Lever pulled" in line]
    assert [("already in force" in line) for line in lines] == [False, False, False, False, True]
    assert "the board puts QI into middle managers' performance reviews" in lines[0]
    assert "protected time for QI is granted" in lines[1]


def test_narration_without_an_intervention_reads_plainly():
    pair = Pair("baseline", "baseline")
    pair.step(3)
    pair.pull("A", "regulator_endorsement")
    pair.pull("A", "staff_turnover")
    pair.step(1)
    text = "\n".join(pair.narration("A"))
    assert "endorses no intervention" not in text and "do not know no intervention" not in text
    assert "Day 3: Lever pulled: the regulator endorses QI in the hospital, but no intervention runs" in text
    assert re.search(
        r"Day 3: Lever pulled: \d+ clinical posts? in the hospital changes? hands\.\n", text + "\n"
    )
    pair.step(30)  # day 30: the juniors rotate, and there is no QI work to meet
    rotation = [line for line in pair.narration("A") if "rotate" in line]
    assert len(rotation) == 1
    assert re.fullmatch(r"Day 30: Junior doctors rotate: \d+ posts change hands\.", rotation[0])


def test_the_budget_lever_says_from_what_to_what_and_no_ward_left_is_none():
    pair = Pair("aligned", "aligned")
    pair.pull("A", "resources")
    pair.step(1)
    said = "Day 0: Lever pulled: the board sets the QI budget it releases in the hospital from 60% to 80%."
    assert said in pair.narration("A")
    from sim.model import _still_running

    assert [_still_running(n) for n in (0, 1, 4)] == ["none still runs", "1 still runs", "4 still run"]


def test_the_board_focus_line_is_in_percent_and_goes_the_way_it_says():
    log = QIModel(load_scenario("regulator_endorsement"), rng=1, detail=False).run().events_log()
    lines = [line for line in log if "The board gives" in line]
    pattern = re.compile(r"Day \d+: The board gives the safety briefing (more|less) attention: its focus "
                         r"(rises|falls) from (\d+)% to (\d+)% of the most it can give\.")
    assert lines
    for line in lines:
        m = pattern.fullmatch(line)
        assert m, line
        more, rises, before, after = m[1] == "more", m[2] == "rises", int(m[3]), int(m[4])
        assert more == rises == (after > before), line


def test_the_monthly_issue_line_agrees_in_number():
    lines = [
        line
        for preset in ("initiative_overload", "trial_then_scale_up")
        for line in QIModel(load_scenario(preset), rng=1, detail=False).run().events_log()
        if "This month" in line
    ]
    pattern = re.compile(
        r"This month (no issues were|1 issue was|\d+ issues were) raised and (none|\d+) resolved; "
        r"(none wait|1 waits|\d+ wait) for managerial authority\.$"
    )
    assert lines and all(pattern.search(line) for line in lines), [x for x in lines if not pattern.search(x)]
    assert not any(re.search(r"\b1 issues\b|\b0 resolved|\b0 wait|\b1 wait\b", line) for line in lines)
    assert any("1 issue was raised" in line for line in lines)
    assert any("none resolved" in line for line in lines)


def _stops(preset: str) -> list[tuple[int, str, float]]:
    """Each 'briefings stop' line of a run (seed 1) with the mean priority of the managers
    of the wards that stopped, read on its day."""
    model = QIModel(load_scenario(preset), rng=1, detail=False)
    out, seen = [], 0
    while model.day < 730:
        before = model._memo["wards_running"]
        before = None if before is None else before.copy()
        model.step()
        for day, text in model.narration[seen:]:
            if "stop on" in text:
                s = model.state
                stopped = before & ~model._memo["wards_running"]
                out.append((day, text, float(s.m_priority[s.ward_mgr[stopped], 0].mean())))
        seen = len(model.narration)
    return out


def test_the_narrated_cause_of_decline_is_true_to_the_state():
    overload = _stops("initiative_overload")
    assert overload
    for _, text, priority in overload:
        assert priority >= 0.5 and "facilitator has left" not in text  # managers did take it up
        assert "other initiatives compete for the same staff time" in text and "passing fad" in text
    clinician = _stops("clinician_only")
    blamed = [(text, priority) for _, text, priority in clinician if "facilitator has left" in text]
    assert blamed and all(priority < 0.5 for _, priority in blamed)
    # the same state with managers who took the work over: the facilitator's exit is not blamed
    model = QIModel(load_scenario("clinician_only"), rng=1, detail=False).run(clinician[0][0] + 1)
    assert "facilitator has left" in model._why_down()
    model.state.m_priority[:] = 0.9
    assert "facilitator has left" not in model._why_down()
    model.state.c_fad[:] = 0.2
    assert "passing fad" not in model._why_down()


def test_exported_figure_titles_fit_inside_the_figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    pair = Pair(SideSpec("aligned", ("reviews", "no_facilitator")), "initiative_overload")
    pair.step(10)
    for name in FIGURES:
        fig = pair.figure(name, export=True)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        renderer = canvas.get_renderer()
        titles = [fig._suptitle] + [ax.title for ax in fig.axes] + [ax._left_title for ax in fig.axes]
        for title in titles:
            if title is None or not title.get_text():
                continue
            box = title.get_window_extent(renderer)
            assert box.x0 >= 0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1, (name, title.get_text())
        assert FIGURES[name].split()[-1] in fig._suptitle.get_text()  # the whole title, wrapped


def test_player_rests_after_each_tick_as_long_as_it_took(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(sess.time, "perf_counter", clock)
    player = Player(speed=20, min_interval=0.2, rest=1.0)
    clock.now += 0.25
    assert player.wait() == 0 and player.due() == 5
    player.advanced(5)
    clock.now += 0.5  # a slow tick (a busy server: several tabs play)
    player.ticked(0.5)
    assert player.wait() == pytest.approx(0.5)  # days are due, but the loop rests first
    clock.now += 0.5
    assert player.wait() == 0 and player.due() == 20  # the days owed still fall due: same speed


# -- the page, rendered in Python ---------------------------------------------------------


@pytest.fixture
def page():
    from sim.app.testing import PageInPython

    driver = PageInPython()
    yield driver
    driver.close()


def test_page_a_negative_seed_is_an_error_under_the_buttons_and_the_run_stays(page):
    page.click("Step 30 days")
    page.enter("Seed", "-1")
    page.click("Reset")
    assert page.pair.day == 30 and page.pair.seed == 1
    errors = page.errors()
    assert len(errors) == 1 and "The seed must be a whole number, 0 or more (not -1)" in errors[0]
    assert page.with_class("qisim-controls")[0] is not None and errors[0] in page.text(
        page.with_class("qisim-controls")[0]
    )
    page.choose("Preset of side A", "aligned")  # any restart needs a valid seed
    assert page.pair.day == 30 and page.pair.sides[0].spec.preset == "clinician_only"
    assert page.field("Preset of side A").v_model == "clinician_only"  # the select shows the run's
    page.enter("Seed", "3")
    page.click("Reset")
    assert page.errors() == [] and page.pair.day == 0 and page.pair.seed == 3


def test_page_every_restart_uses_the_seed_in_the_box(page):
    page.enter("Seed", "5")
    assert "(seed 1)" in page.status() and "Reset starts again on seed 5" in page.status()
    page.choose("Preset of side A", "aligned")
    assert page.pair.seed == 5 and {s.model.seed for s in page.pair.sides} == {5}
    assert page.status().startswith("Day 0 of 730 (seed 5)")
    assert sess.export_name(page.pair, ".zip") == "qisim-aligned-vs-aligned-seed5-day0.zip"
    page.enter("Seed", "6")
    page.enter("Other settings", "days=100", index=1)
    assert page.pair.seed == 6 and page.pair.sides[1].horizon == 100


@pytest.mark.parametrize(("label", "index", "typed"), [("Seed", 0, "42"), ("Pause at day", 0, "40"),
                                                 ("Other settings", 1, "days=9")])
def test_page_what_is_being_typed_survives_the_page_s_redraws(page, label, index, typed):
    """A box's text as the browser has it while it is typed (synced, not yet left) is not
    put back to the last entry by a redraw: while the run plays the page redraws several
    times a second, and solara's own InputText set its text on each, wiping the typing."""
    box = page.field(label, index)
    before = box.v_model
    box.v_model = typed  # as the browser syncs a keystroke
    page.click("Step 30 days")  # a redraw, as each tick of play makes
    assert page.pair.day == 30 and box.v_model == typed
    assert page.field(label, index).v_model == typed
    box.fire_event("focusout", {})  # left: now it is read
    if label == "Seed":
        assert "Reset starts again on seed 42" in page.status()
    elif label == "Pause at day":
        page.click("Play")
        _wait(lambda: "Play" in page.text(page.with_class("qisim-controls")[0]))
        assert page.pair.day == 40
    else:
        assert page.pair.sides[1].horizon == 9 and page.pair.day == 0
    assert before != typed


def test_page_a_settings_error_keeps_the_text_and_the_panel_open(page):
    import ipyvuetify as v

    page.widgets(v.ExpansionPanels)[1].v_model = 0  # open side B's start settings
    page.click("Step", page.with_class("qisim-controls")[0])
    page.enter("Other settings", "days=nonsense", index=1)
    assert page.widgets(v.ExpansionPanels)[1].v_model == 0
    assert page.field("Other settings", 1).v_model == "days=nonsense"
    (error,) = page.errors()
    assert error.startswith("Side B's other settings: 'days' must be an integer from 1 to 7300")
    assert "--set" not in error and "(you wrote 'nonsense')" in error
    assert error in page.text(page.with_class("qisim-side-B")[0])  # under the box it came from
    assert page.pair.day == 1  # the run is left as it was
    page.enter("Other settings", "days=100", index=1)
    assert page.errors() == [] and page.pair.sides[1].horizon == 100 and page.pair.day == 0
    assert page.widgets(v.ExpansionPanels)[1].v_model == 0


def _wait(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_page_choosing_a_preset_or_setting_stops_play(page):
    import ipyvuetify as v

    for change in (
        lambda: page.choose("Preset of side A", "aligned"),
        lambda: page.widgets(v.Checkbox)[0].set_trait("v_model", True),
    ):
        page.click("Play")
        _wait(lambda: page.pair.day >= 3)
        change()
        time.sleep(0.5)
        assert page.pair.day == 0 and "Play" in page.text(page.with_class("qisim-controls")[0])
    assert page.pair.sides[0].spec == SideSpec("aligned", ("reviews",))


def test_page_a_lever_acts_from_the_day_shown_and_is_acknowledged(page):
    side_b = page.with_class("qisim-side-B")[0]
    page.click("Step 30 days")
    for _ in range(2):
        page.click("Staff turnover", side_b)
    assert page.text(page.with_class("qisim-lever-note-B")[0]).startswith(
        "Queued for day 30: Staff turnover (pressed 2 times: 2 pulls)."
    )
    page.click("Step", page.with_class("qisim-controls")[0])
    page.pair.step(20)  # the play loop steps on before the page shows it: the page shows day 31
    page.click("Merger strikes", side_b)
    assert page.pair.day == 51
    assert any(line.startswith("Day 31: Lever pulled: a merger") for line in page.pair.narration("B"))
    assert page.text(page.with_class("qisim-lever-note-B")[0]).startswith(
        "Last lever: Merger strikes, from day 31"
    )
    assert [p.day for p in page.pair.sides[1].pulls] == [30, 30, 31]


def test_page_is_watched_outside_a_server():
    from sim.app.page import session_watched

    assert session_watched()()


def test_trainers_guide_quotes_the_runs_numbers():
    text = (ROOT / "docs" / "trainers.md").read_text()
    pair = Pair()
    pair.step(730)
    a, b = pair.summaries()
    quoted = re.search(
        r"A's adoption over the last 90 days is about (\d+)% of\s+its peak, B's about (\d+)%", text
    )
    assert quoted, "the sentence on sustainment moved"
    assert [int(quoted.group(1)), int(quoted.group(2))] == [round(x["sustainment"] * 100) for x in (a, b)]
    rescue = Pair("clinician_only", "clinician_only")
    rescue.step(150)
    rescue.pull("B", "reviews_include_qi")
    rescue.step(300)
    means = [round(series(s)["adoption"][360:450].mean() * 100) for s in rescue.sides]
    quoted = re.search(r"days 360-450 is about (\d+)% on B\s+against (\d+)% on A", text)
    assert quoted and [int(quoted.group(2)), int(quoted.group(1))] == means


def test_the_trainers_guide_addresses_hold_the_runs_they_name():
    text = (ROOT / "docs" / "trainers.md").read_text()
    addresses = re.findall(r"http://127\.0\.0\.1:8765/\?([^`\s|]+)", text)
    assert len(addresses) == 5
    for address in addresses:
        pair = Pair().restore(address)
        assert f"day={pair.day}&" in address + "&"
    example = Pair().restore(addresses[-1])  # the last of the things to know
    assert example.day == 240 and any("Day 120: Lever pulled" in line for line in example.narration("A"))
    scene = Pair().restore(addresses[2])  # 12-20: both sides alike until the merger on B
    assert scene.sides[0].spec == scene.sides[1].spec == sess.SideSpec("aligned") and scene.day == 120
    scene.pull("B", "merger")
    scene.step(1)
    assert any("Day 120: Lever pulled: a merger" in line for line in scene.narration("B"))
    assert not any("Lever pulled" in line for line in scene.narration("A"))
