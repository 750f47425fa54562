"""The workshop app without a browser: its logic (sim.app.session), the offline server's
settings and guard, the shipped front-end files and the ``qisim app`` command."""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import sys
import threading
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest

from sim import QIModel, load_scenario
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
    assert any(line.startswith("Day 60: Lever pulled: the board puts QI") for line in pair.narration("B"))
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
    one, two = Pair(), Pair()
    one.step(25)
    assert two.day == 0
    two.step(1)
    assert (one.day, two.day) == (25, 1)


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
