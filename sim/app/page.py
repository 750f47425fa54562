"""Solara components of the workshop app: a thin layer over :mod:`sim.app.session`.

Each browser session gets its own :class:`~sim.app.session.Pair`, made with
``solara.use_memo(..., dependencies=[])`` inside :func:`Page` (never at module level,
which every session would share).  The models change in place; the reactive ``version``
tells the components to draw again.

The play loop runs in a thread of the session (``solara.use_thread``), modelled on
Mesa's SolaraViz ``ModelController``: each tick steps both sides by a few days, then
redraws; it is cancelled cooperatively (never inside a model's step) on pause, on a
change of speed and when the session ends.
"""

from __future__ import annotations

import html
import threading

import solara

from .session import (
    DEFAULT_SPEED,
    FIGURES,
    LEVERS,
    SIDES,
    SPEEDS,
    START_SETTINGS,
    Pair,
    Player,
    ScenarioError,
    SideSpec,
    export_name,
    preset_description,
    preset_names,
)

#: Figures are drawn at this resolution in the page (export uses a higher one).
LIVE_DPI = 80
#: Seconds the play loop rests after each tick, holding no lock (Python's locks are not fair).
YIELD = 0.03

_CSS = """
.qisim-narration { max-height: 260px; overflow-y: auto; font-size: 0.85em; border: 1px solid #ddd;
  padding: 4px 8px; background: #fafafa; }
.qisim-narration ol { padding-left: 0; list-style: none; margin: 0; }
.qisim-narration li { margin: 2px 0; }
.qisim-narration li.lever { font-weight: bold; }
.qisim-desc { font-size: 0.88em; color: #333; }
.qisim-side-A h3 { color: #d95f02; } .qisim-side-B h3 { color: #1b9e77; }
.qisim-status { font-size: 0.95em; }
"""


@solara.component
def Page():
    pair = solara.use_memo(Pair, dependencies=[])  # one pair per browser session
    version = solara.use_reactive(0)
    playing = solara.use_reactive(False)
    speed = solara.use_reactive(DEFAULT_SPEED)
    stats = solara.use_memo(dict, dependencies=[])  # days per second while playing (no render)
    error = solara.use_reactive("")

    def refresh():
        pair.live_figures(LIVE_DPI)  # drawn here, so that the page's render only swaps images
        version.set(pair.version)

    def loop(cancel: threading.Event):
        if not playing.value:
            return
        player = Player(speed.value)
        while not cancel.is_set() and playing.value and not pair.done:
            wait = player.wait()
            if wait:
                cancel.wait(wait)
                continue
            player.advanced(pair.step(player.due()))
            stats["rate"] = player.days_per_second
            refresh()  # draws again, in this thread
            cancel.wait(YIELD)  # let the page's own events (pause, a lever) take the pair's lock
        if pair.done:
            playing.set(False)

    solara.use_thread(loop, dependencies=[playing.value, speed.value], intrusive_cancel=False)

    def reset(a=None, b=None, seed=None):
        try:
            pair.reset(a, b, seed)
            error.set("")
        except ScenarioError as err:
            error.set(str(err))
        refresh()

    def step(days: int):
        playing.set(False)
        pair.step(days)
        refresh()

    solara.Style(_CSS)
    solara.Title("qisim workshop")
    with solara.Column(style={"padding": "12px 20px", "max-width": "1500px", "margin": "0 auto"}):
        solara.HTML(
            tag="h2",
            unsafe_innerHTML="The model of alignment: two hospitals, the same random numbers, one difference",
        )
        Controls(pair, playing, speed, stats, step, reset, version.value)
        if error.value:
            solara.Error(error.value)
        with solara.Columns([1, 1]):
            for name in SIDES:
                SidePanel(pair, name, reset, refresh, version.value)
        Figures(pair, version.value)
        with solara.Columns([1, 1]):
            for name in SIDES:
                Narration(pair, name, version.value)
        Export(pair, version.value)


@solara.component
def Controls(pair: Pair, playing, speed, stats: dict, step, reset, version: int):
    seed = solara.use_reactive(pair.seed)
    with solara.Card(classes=["qisim-controls"]):
        with solara.Row(style={"align-items": "center", "flex-wrap": "wrap"}):
            if playing.value:
                solara.Button(
                    "Pause", icon_name="mdi-pause", on_click=lambda: playing.set(False), color="primary"
                )
            else:
                solara.Button(
                    "Play",
                    icon_name="mdi-play",
                    on_click=lambda: playing.set(True),
                    color="primary",
                    disabled=pair.done,
                )
            solara.Button("Step", icon_name="mdi-step-forward", on_click=lambda: step(1), disabled=pair.done)
            solara.Button("Step 30 days", on_click=lambda: step(30), disabled=pair.done)

            def do_reset():
                playing.set(False)
                reset(seed=seed.value)

            solara.Button("Reset", icon_name="mdi-restart", on_click=do_reset)
            solara.InputInt("Seed", value=seed, style={"max-width": "110px"})
            solara.Select(
                "Speed (days per second)",
                values=list(SPEEDS),
                value=speed,
                style={"max-width": "190px"},
            )
        status = pair.state_line()
        if playing.value:
            status += f" — playing at {stats.get('rate', 0.0):.1f} days per second"
        elif pair.done:
            status += " — the end of the run: export the debrief below"
        solara.Text(status, classes=["qisim-status"])


@solara.component
def SidePanel(pair: Pair, name: str, reset, refresh, version: int):
    side = pair.side(name)
    spec = side.spec
    other = pair.sides[1 - SIDES.index(name)].spec
    overrides = solara.use_reactive("\n".join(spec.overrides))

    def choose(preset: str):
        reset(**{name.lower(): SideSpec(preset, spec.settings, spec.overrides)})

    def toggle(key: str, on: bool):
        settings = tuple(k for k in START_SETTINGS if (k == key and on) or (k != key and k in spec.settings))
        reset(**{name.lower(): SideSpec(spec.preset, settings, spec.overrides)})

    def apply_overrides(text: str):
        overrides.set(text)
        lines = tuple(line.strip() for line in text.splitlines() if line.strip())
        reset(**{name.lower(): SideSpec(spec.preset, spec.settings, lines)})

    def pull(kind: str):
        pair.pull(name, kind)
        refresh()

    with solara.Card(classes=[f"qisim-side-{name}"], margin=0):
        solara.HTML(tag="h3", unsafe_innerHTML=html.escape(f"Side {name}: {spec.label}"))
        solara.Select(f"Preset of side {name}", values=preset_names(), value=spec.preset, on_value=choose)
        solara.Text(side.scenario["title"], style={"font-weight": "bold", "display": "block"})
        solara.Text(preset_description(spec.preset), classes=["qisim-desc"])
        if (
            spec.preset == other.preset
            and spec.settings == other.settings
            and spec.overrides == other.overrides
        ):
            solara.Text(
                "Both sides start alike: pull a lever on one side to see what it changes.",
                classes=["qisim-desc"],
                style={"font-style": "italic"},
            )
        with solara.Details("Start settings (changing one starts both sides again)"):
            for key, (label, _) in START_SETTINGS.items():
                solara.Checkbox(
                    label=label, value=key in spec.settings, on_value=lambda on, key=key: toggle(key, on)
                )
            solara.InputTextArea(
                "Other settings, one KEY=VALUE a line (as qisim run --set)",
                value=overrides.value,
                on_value=apply_overrides,
                continuous_update=False,
                rows=2,
            )
        solara.Text(
            f"Pull a lever on side {name} (it acts from the next day):", style={"font-weight": "bold"}
        )
        with solara.Row(style={"flex-wrap": "wrap", "gap": "4px"}):
            for kind, lever in LEVERS.items():
                solara.Button(
                    lever.label,
                    on_click=lambda kind=kind: pull(kind),
                    small=True,
                    outlined=True,
                    disabled=side.done,
                    classes=[f"qisim-lever-{kind}"],
                    attributes={"title": lever.help},
                )


@solara.component
def Figures(pair: Pair, version: int):
    images = pair.live_figures(LIVE_DPI, cached=True)
    for name, png in images.items():
        with solara.Column(classes=[f"qisim-figure-{name}"], gap="0px"):
            solara.Text(FIGURES[name], style={"font-weight": "bold", "margin-top": "8px"})
            solara.Image(png, format="png", width="min(100%, 1200px)")


@solara.component
def Narration(pair: Pair, name: str, version: int):
    lines = pair.narration(name)
    items = "".join(
        f"<li class='{'lever' if 'Lever pulled' in line else ''}'>{html.escape(line)}</li>" for line in lines
    )
    with solara.Column(classes=[f"qisim-side-{name}"]):
        solara.HTML(tag="h3", unsafe_innerHTML=html.escape(f"What happened on side {name}, newest first"))
        solara.HTML(
            tag="div",
            unsafe_innerHTML=f"<ol>{items or '<li>Nothing yet: press Play or Step.</li>'}</ol>",
            classes=["qisim-narration", f"qisim-narration-{name}"],
        )


@solara.component
def Export(pair: Pair, version: int):
    with (
        solara.Card("Export for the debrief", classes=["qisim-export"]),
        solara.Row(style={"flex-wrap": "wrap"}),
    ):
        solara.FileDownload(
            lambda: pair.debrief_html(),
            filename=export_name(pair, ".html"),
            label="Debrief (one page, HTML)",
            mime_type="text/html",
        )
        solara.FileDownload(
            lambda: pair.export_zip(),
            filename=export_name(pair, ".zip"),
            label="Everything (figures, debrief, narration; zip)",
            mime_type="application/zip",
        )
        for name in FIGURES:
            solara.FileDownload(
                lambda name=name: pair.figure_png(name, dpi=110, export=True),
                filename=export_name(pair, f"-{name}.png"),
                label=f"{name.capitalize()} (PNG)",
                mime_type="image/png",
            )
