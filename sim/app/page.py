"""Solara components of the workshop app: a thin layer over :mod:`sim.app.session`.

Each browser session gets its own :class:`~sim.app.session.Pair`, made with
``solara.use_memo(..., dependencies=[])`` inside :func:`Page` (never at module level,
which every session would share).  The models change in place; the reactive ``version``
tells the components to draw again.

The play loop runs in a thread of the session (``solara.use_thread``), modelled on
Mesa's SolaraViz ``ModelController``: each tick steps both sides by a few days, then
redraws, then rests (:class:`~sim.app.session.Player`); it is cancelled cooperatively
(never inside a model's step) on pause, on a change of speed or of the run, and when no
browser tab of the session is connected any more (the tab was closed or reloaded, or the
browser went away without saying so).

The page's address holds the run (:meth:`~sim.app.session.Pair.address`): written after
each change (while playing, only levers), read when the page opens and on the browser's
Back and Forward (:meth:`~sim.app.session.Pair.restore`), so a reload, a bookmark or Back
shows the same run, to the bit.

Errors stay on the page: a bad seed under the buttons, a bad setting under the settings
box it came from (the typed text kept), and the run is left as it was.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace

import solara
import solara.lab

from .session import (
    DEFAULT_SPEED,
    FIGURES,
    LEVERS,
    SIDES,
    SOLARA_QUERY,
    SPEEDS,
    START_SETTINGS,
    Pair,
    Player,
    ScenarioError,
    SideSpec,
    app_message,
    check_seed,
    export_name,
    preset_description,
    preset_names,
    stop_day,
)

#: Figures are drawn at this resolution in the page: 12-inch figures at 1,200 pixels, the
#: width the page shows them at (export uses a higher one).
LIVE_DPI = 100
#: Seconds the play loop rests after each tick, holding no lock (Python's locks are not fair).
YIELD = 0.03
#: Longest sleep of the play loop between checks that a tab still shows the session.
CHECK_EVERY = 0.5

#: A Host header: a name or IPv4 address, or an IPv6 address in brackets, and a port.
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
#: A text on a line of its own (Solara's Text is inline).
_BLOCK = {"display": "block"}

_CSS = """
.v-sheet.qisim-page { margin-left: auto !important; margin-right: auto !important; width: 100%; }
.qisim-controls { position: sticky; top: 0; z-index: 5; }
.qisim-narration { max-height: 260px; overflow-y: auto; font-size: 0.85em; border: 1px solid #ddd;
  padding: 4px 8px; background: #fafafa; }
.qisim-narration ol { padding-left: 0; list-style: none; margin: 0; }
.qisim-narration li { margin: 2px 0; }
.qisim-narration li.lever { font-weight: bold; }
.qisim-desc { font-size: 0.88em; color: #333; }
.qisim-side-A h3 { color: #d95f02; } .qisim-side-B h3 { color: #1b9e77; }
.qisim-status { font-size: 1.05em; font-weight: 500; color: #222; }
.qisim-latest { font-size: 0.85em; color: #333; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.qisim-latest b.A { color: #d95f02; } .qisim-latest b.B { color: #1b9e77; }
.qisim-lever-note { font-size: 0.85em; font-style: italic; min-height: 1.2em; }
"""


def session_watched() -> Callable[[], bool]:
    """A check, callable from any thread, that a browser tab still shows this session.

    False once the session's kernel is closed (the tab closed or reloaded: the browser
    says so) or once none of its tabs is connected (the browser or the machine went away
    without saying so: Solara would keep the kernel a day for a reconnect).  Outside a
    Solara server (tests rendering the page in Python) it is always True.
    """
    try:
        from solara.server import kernel_context
    except ImportError:  # pragma: no cover - solara[server] is a dependency
        return lambda: True
    if not kernel_context.has_current_context():
        return lambda: True
    context = kernel_context.get_current_context()
    connected = kernel_context.PageStatus.CONNECTED

    def watched() -> bool:
        if context.closed_event.is_set():
            return False
        try:
            return connected in list(context.page_status.values())
        except RuntimeError:  # the dict changed while read: a tab is (dis)connecting
            return True

    return watched


def _or_none(read: Callable[..., int | None], *args) -> int | None:
    """What ``read`` (:func:`~sim.app.session.check_seed`, :func:`~sim.app.session.stop_day`)
    makes of a box's text, None where it refuses it (the box's message says why)."""
    try:
        return read(*args)
    except ValueError:
        return None


def _pause_note(text: str, day: int, horizon: int) -> str:
    """What the status line adds while playing about the pause-at box: where play will
    pause, or why it plays to the end (a day already reached, or past the run's last day)."""
    try:
        stop = stop_day(text, day)
    except ValueError:
        return ""
    if stop is None:
        return f", to the end (day {int(text)} has passed)" if text.strip() else ""
    if stop > horizon:
        return f", to the end (day {stop} is past the last day, {horizon})"
    return f", pausing at day {stop}"


def first_pair(given: Pair | None, search: str | None) -> tuple[Pair, str]:
    """The pair a page opens on, and an error to show: ``given`` if any, else one restored
    from the query string of the page's address (:meth:`Pair.restore`), else the defaults."""
    if given is not None:
        return given, ""
    pair = Pair()
    if search:
        try:
            pair.restore(search)
        except ValueError as err:
            return pair, restore_failed(err, fresh=True)
    return pair, ""


def restore_failed(err: ValueError, fresh: bool) -> str:
    """What the page says when its address holds no run it can restore; ``fresh``: the page
    has just opened (and shows the defaults)."""
    then = "Started from the defaults." if fresh else "The run is left as it was."
    why = str(err).rstrip(".")
    if why[1:2].islower():  # "The seed must ..." goes on mid-sentence; "HEADS-UP ..." keeps its capitals
        why = why[0].lower() + why[1:]
    return f"The page's address could not be restored: {why}. {then}"


def with_solara_query(query: str, search: str | None) -> str:
    """``query`` followed by the parameters of ``search`` that Solara's front end reads
    itself (kept across a reload)."""
    kept = [part for part in (search or "").split("&") if part.split("=")[0] in SOLARA_QUERY]
    return "&".join([query, *kept])


@solara.component
def Page(pair: Pair | None = None):
    """The app; ``pair``: the pair to show (default: a new one for this browser session,
    restored from the page's address if it holds a run)."""
    router = solara.use_router()
    served = router.set_path is not None  # under Solara's server; not when a test renders the page
    # one pair per browser session
    pair, restore_error = solara.use_memo(lambda: first_pair(pair, router.search), dependencies=[])
    watched = solara.use_memo(session_watched, dependencies=[])
    version = solara.use_reactive(0)
    playing = solara.use_reactive(False)
    speed = solara.use_reactive(DEFAULT_SPEED)
    seed = solara.use_reactive(str(pair.seed))  # the seed box, as typed; every restart reads it
    pause_at = solara.use_reactive("")  # the pause-at-day box, as typed ("": play to the end)
    stats = solara.use_memo(dict, dependencies=[])  # days per second while playing (no render)
    error = solara.use_reactive(restore_error)  # under the buttons
    seed_error = solara.use_reactive("")  # under the buttons too, while the seed box holds no seed
    pause_error = solara.use_reactive("")  # ... and while the pause-at box holds no day
    side_error = solara.use_reactive(("", ""))  # (side, message): under that side's settings box
    seen = solara.use_ref(router.search or "")  # the address last shown or restored
    # (pair.changes, pair.day) of the run the address in the bar stands for (None: not yet known)
    stands_for = solara.use_ref(None)
    generation = solara.use_reactive(0)  # a restore from the address draws the side panels afresh

    def to_address():
        """The page's address follows the run: after a step, a pause, a restart or a lever
        (while playing, only levers: not every day).  Not for the run the address already
        stands for: the one the page opened on (the browser sets the address it opened on)
        or restored on Back or Forward (a new entry would cut the history short)."""
        state = (pair.changes, pair.day)
        if stands_for.current is None:
            stands_for.current = state
        if not served or state == stands_for.current:
            return
        if playing.value and pair.changes == stands_for.current[0]:
            return
        stands_for.current = state
        query = with_solara_query(pair.address(), router.search)
        if query != (router.search or ""):
            seen.current = query
            router.push(f"{router.path}?{query}")

    stepped = -1 if playing.value else version.value
    solara.use_effect(to_address, dependencies=[playing.value, pair.changes, stepped])

    def from_address():
        """The run the address holds when it changes: the browser's Back and Forward (the
        runs are deterministic, so each is the earlier state, to the bit), or a page whose
        address reached the server after the page was made."""
        search = router.search or ""
        if not served or search == seen.current:
            return
        seen.current = search
        playing.set(False)
        try:
            pair.restore(search)
        except ValueError as err:
            error.set(restore_failed(err, fresh=pair.changes == 1))
            return
        stands_for.current = (pair.changes, pair.day)
        seed.set(str(pair.seed))
        error.set("")
        side_error.set(("", ""))
        generation.set(generation.value + 1)
        refresh()

    solara.use_effect(from_address, dependencies=[router.search])

    def refresh():
        pair.live_figures(LIVE_DPI)  # drawn here, so that the page's render only swaps images
        version.set(pair.version)
        error.set("")  # the run has moved on (a step, a lever, a restart): what was wrong is past

    def loop(cancel: threading.Event):
        if not playing.value:
            return
        player = Player(speed.value)
        stop = _or_none(stop_day, pause_at.value, pair.day)  # (play refuses a box that holds no day)
        while not cancel.is_set() and playing.value and not pair.done and watched():
            wait = player.wait()
            if wait:
                cancel.wait(min(wait, CHECK_EVERY))
                continue
            start = time.perf_counter()
            with pair.lock:  # a restart stops play before it takes the lock: no step after it
                if cancel.is_set() or not playing.value:
                    break
                due = player.due() if stop is None else min(player.due(), stop - pair.day)
                player.advanced(pair.step(due))
            stats["rate"] = player.days_per_second
            refresh()  # draws again, in this thread
            if pair.day == stop:
                break
            player.ticked(time.perf_counter() - start)
            cancel.wait(YIELD)  # let the page's own events (pause, a lever) take the pair's lock
        if pair.done or not watched() or pair.day == stop:
            playing.set(False)

    solara.use_thread(loop, dependencies=[playing.value, speed.value, pause_at.value], intrusive_cancel=False)

    def restart(a=None, b=None, side: str = "") -> bool:
        """Start both sides again at day 0 on the seed in the box (stopping play); on bad
        input say why, leave the run as it was and return False."""
        playing.set(False)
        try:
            chosen = check_seed(seed.value)
        except ValueError as err:
            seed_error.set(f"{err} The run is left as it was.")
            return False
        try:
            pair.reset(a, b, chosen)
        except ScenarioError as err:
            if side:
                side_error.set((side, app_message(err, side)))
            else:
                error.set(app_message(err))
            return False
        error.set("")
        side_error.set(("", ""))
        refresh()
        return True

    def step(days: int):
        playing.set(False)
        pair.step(days)
        refresh()

    def enter_seed(value):
        seed.set(value)
        try:
            check_seed(value)
            seed_error.set("")
        except ValueError as err:
            seed_error.set(f"{err} Reset runs only with a valid seed.")

    def play():
        """Play, unless the pause-at box holds something that is not a day (say so instead)."""
        try:
            stop_day(pause_at.value, pair.day)
        except ValueError as err:
            pause_error.set(str(err))
            return
        playing.set(True)

    def enter_pause_at(value):
        """A day to pause at; text that is not a day is named, and stops play (which would
        otherwise run past the day meant)."""
        pause_at.set(value)
        try:
            stop_day(value, 0)
            pause_error.set("")
        except ValueError as err:
            playing.set(False)
            pause_error.set(str(err))

    solara.Style(_CSS)
    solara.Title("qisim workshop")
    with solara.Column(style={"padding": "12px 20px", "max-width": "1500px"}, classes=["qisim-page"]):
        solara.HTML(
            tag="h2",
            unsafe_innerHTML="The model of alignment: two hospitals, the same random numbers, one difference",
        )
        actions = SimpleNamespace(
            play=play, step=step, restart=restart, enter_seed=enter_seed, enter_pause_at=enter_pause_at
        )
        messages = tuple(m for m in (error.value, seed_error.value, pause_error.value) if m)
        Controls(pair, playing, speed, seed, pause_at, stats, actions, messages, version.value)
        with solara.Columns([1, 1]):
            for name in SIDES:
                message = side_error.value[1] if side_error.value[0] == name else ""
                SidePanel(pair, name, restart, refresh, message, pair.day, version.value).key(
                    f"side-{name}-{generation.value}"
                )
        Figures(pair, version.value)
        with solara.Columns([1, 1]):
            for name in SIDES:
                Narration(pair, name, version.value)
        Export(pair, version.value)


@solara.component
def Controls(pair: Pair, playing, speed, seed, pause_at, stats: dict, do, messages: tuple, version: int):
    """The bar of buttons and boxes at the top, the status line, what is wrong (``messages``)
    and the newest narration; ``do``: what the buttons and boxes call (``play``, ``step``,
    ``restart``, ``enter_seed``, ``enter_pause_at``)."""
    with solara.Card(classes=["qisim-controls"], margin=0):
        with solara.Row(style={"align-items": "center", "flex-wrap": "wrap"}):
            if playing.value:
                solara.Button(
                    "Pause", icon_name="mdi-pause", on_click=lambda: playing.set(False), color="primary"
                )
            else:
                solara.Button(
                    "Play",
                    icon_name="mdi-play",
                    on_click=do.play,
                    color="primary",
                    disabled=pair.done,
                )
            solara.Button(
                "Step", icon_name="mdi-step-forward", on_click=lambda: do.step(1), disabled=pair.done
            )
            solara.Button("Step 30 days", on_click=lambda: do.step(30), disabled=pair.done)
            solara.Button("Reset", icon_name="mdi-restart", on_click=lambda: do.restart())
            KeptText("Seed", seed.value, do.enter_seed, style="max-width: 110px")
            solara.Select(
                "Speed (days per second)",
                values=list(SPEEDS),
                value=speed,
                style={"max-width": "190px"},
            )
            KeptText(
                "Pause at day",
                pause_at.value,
                do.enter_pause_at,
                style="max-width: 120px",
                classes="qisim-pause-at",
            )
        status = pair.state_line()
        if playing.value:
            status += f" — playing at {stats.get('rate', 0.0):.1f} days per second"
            status += _pause_note(pause_at.value, pair.day, pair.horizon)
        elif pair.done:
            status += " — the end of the run: export the debrief below"
        if _or_none(check_seed, seed.value) not in (None, pair.seed):
            status += f" — Reset starts again on seed {seed.value.strip()}"
        solara.Text(status, classes=["qisim-status"])
        with solara.Column(gap="0px", classes=["qisim-error"]):
            if messages:
                solara.Error(" ".join(messages), dense=True)
        latest = [(name, pair.narration(name)[:1]) for name in SIDES]
        lines = "".join(
            f"<div title='{html.escape(line[0], quote=True)}'><b class='{name}'>{name}</b> "
            f"{html.escape(line[0])}</div>"
            for name, line in latest
            if line
        )
        solara.HTML(tag="div", unsafe_innerHTML=lines, classes=["qisim-latest"])


@solara.component
def SidePanel(pair: Pair, name: str, restart, refresh, error: str, day: int, version: int):
    """One side: preset, start settings, levers.  ``day`` is the day the page shows: a lever
    pulled while the run plays acts from that day."""
    side = pair.side(name)
    spec = side.spec
    overrides = solara.use_reactive("\n".join(spec.overrides))

    def apply(new: SideSpec) -> bool:
        return restart(**{name.lower(): new}, side=name)

    def choose(preset: str) -> bool:
        return apply(SideSpec(preset, spec.settings, spec.overrides))

    def toggle(key: str, on: bool) -> bool:
        settings = tuple(k for k in START_SETTINGS if (k == key and on) or (k != key and k in spec.settings))
        return apply(SideSpec(spec.preset, settings, spec.overrides))

    def apply_overrides(text: str):
        overrides.set(text)  # kept as typed, also when refused
        lines = tuple(line.strip() for line in text.splitlines() if line.strip())
        apply(SideSpec(spec.preset, spec.settings, lines))

    def pull(kind: str):
        pair.pull(name, kind, day=day)
        refresh()

    with solara.Card(classes=[f"qisim-side-{name}"], margin=0):
        solara.HTML(tag="h3", unsafe_innerHTML=html.escape(f"Side {name}: {spec.label}"))
        Refusable(f"Preset of side {name}", spec.preset, choose, values=preset_names())
        solara.Text(side.scenario["title"], style={"font-weight": "bold", "display": "block"})
        solara.Text(preset_description(spec.preset, app=True), classes=["qisim-desc"], style=_BLOCK)
        # said until a lever tells the sides apart; always there (empty otherwise), so that the
        # panel below keeps its place among the card's children and stays open when a change
        # makes the sides alike or not
        untold = pair.alike and not any(s.pulls for s in pair.sides)
        solara.Text(
            "Both sides start alike: pull a lever on one side to see what it changes." if untold else "",
            classes=["qisim-desc", "qisim-alike"],
            style={**_BLOCK, "font-style": "italic"},
        )
        with solara.Details("Start settings (changing one starts both sides again)"):
            for key, (label, _) in START_SETTINGS.items():
                Refusable(label, key in spec.settings, lambda on, key=key: toggle(key, on))
            KeptText("Other settings", overrides.value, apply_overrides, rows=2)
            solara.Text(
                "One KEY=VALUE a line, for example days=730 (every key, with its unit and range: "
                "Appendix A of docs/ODD.md, or qisim scenarios --keys). Click outside the box to apply.",
                classes=["qisim-desc"],
                style=_BLOCK,
            )
            with solara.Column(gap="0px", classes=[f"qisim-settings-error-{name}"]):
                if error:
                    solara.Error(error, dense=True)
        solara.Text(
            f"Pull a lever on side {name} (paused: it acts on the next day; playing: from the day shown):",
            style={"font-weight": "bold"},
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
        solara.Text(pair.lever_note(name), classes=["qisim-lever-note", f"qisim-lever-note-{name}"])


@solara.component
def KeptText(
    label: str, value: str, on_value: Callable[[str], None], rows: int = 0, style: str = "", classes: str = ""
):
    """A text box showing ``value`` (``rows``: a text area of that many rows) that calls
    ``on_value`` with the text typed when it differs from ``value``, on leaving the box
    (or on Enter, in a one-line box).

    The page's redraws leave what is being typed alone. solara's InputText sets its text
    on every render; while the run plays the page redraws several times a second, which
    would put the last entry back over what is being typed within a fifth of a second (and,
    under load, between typing and a click on Play). Here the text is set only when
    ``value`` changes (a restore from the address, say).
    """
    latest = solara.use_ref((value, on_value))
    latest.current = (value, on_value)
    if rows:
        box = solara.v.Textarea(
            label=label, rows=rows, auto_grow=True, solo=True, outlined=True, hide_details="auto"
        )
    else:
        box = solara.v.TextField(label=label, hide_details="auto", style_=style, class_=classes)

    def show():
        widget = solara.get_widget(box)
        if widget.v_model != value:
            widget.v_model = value

    solara.use_effect(show, [value])

    def listen():
        widget = solara.get_widget(box)
        events = ["focusout"] if rows else ["focusout", "keyup.enter"]

        def left(widget, event, data):
            shown, call = latest.current
            text = widget.v_model if isinstance(widget.v_model, str) else ""
            if text != shown:
                call(text)

        for event in events:
            widget.on_event(event, left)

        def cleanup():
            for event in events:
                widget.on_event(event, left, remove=True)

        return cleanup

    solara.use_effect(listen, [])


@solara.component
def Refusable(label: str, value, apply: Callable[[object], bool], values: list | None = None):
    """A select (given ``values``) or a check box showing ``value``, whose change
    ``apply(new)`` may refuse (returning False): it then shows ``value`` again."""
    shown = solara.use_reactive(value)

    def changed(new):
        if not apply(new):
            shown.set(value)

    if values is None:
        solara.Checkbox(label=label, value=shown, on_value=changed)
    else:
        solara.Select(label, values=values, value=shown, on_value=changed)


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


def browser_origin() -> str | None:
    """Where the browser reached the app (``http://`` and the Host header of the page's
    connection), so that a debrief exported on another machine links back to this server;
    None outside a Solara server, or for a Host header that is not a plain host and port."""
    headers = solara.lab.headers.value or {}
    host = (headers.get("host") or [""])[0]
    return f"http://{host}" if _HOST.fullmatch(host) else None


@solara.component
def Export(pair: Pair, version: int):
    origin = browser_origin()
    with (
        solara.Card("Export for the debrief", classes=["qisim-export"]),
        solara.Row(style={"flex-wrap": "wrap"}),
    ):
        solara.FileDownload(
            lambda: pair.debrief_html(origin=origin),
            filename=export_name(pair, ".html"),
            label="Debrief (one page, HTML)",
            mime_type="text/html",
        )
        solara.FileDownload(
            lambda: pair.export_zip(origin=origin),
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
