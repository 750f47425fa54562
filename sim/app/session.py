"""The workshop app's logic, without Solara: two runs side by side, stepped in lockstep.

A :class:`Pair` holds two :class:`Side` objects, each a :class:`~sim.model.QIModel` built
from a :class:`SideSpec` (a preset, settings it starts with, ``KEY=VALUE`` overrides) on the
same seed.  :meth:`Pair.step` advances both by the same days; :meth:`Pair.pull` pulls a
lever on one side or both (the model narrates it); :meth:`Pair.figure` draws the live
figures; :meth:`Pair.debrief_html` and :meth:`Pair.export_zip` make the debrief;
:meth:`Pair.address` writes the pair as the query string of the page's address and
:meth:`Pair.restore` rebuilds it from one.

Every method that reads or changes the models holds the pair's lock, so a lever pulled
from the page while the play loop steps is never lost; pulled with the day the page showed
(``day=``), it acts from that day even if the loop has stepped on (the side is run again
from day 0 on its seed, with every lever at its day: the same run, to the bit).
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import threading
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import numpy as np
from matplotlib.figure import Figure

from .. import __version__
from ..figures import markers
from ..model import QIModel
from ..scenario import Scenario, ScenarioError, load_scenario, preset_names
from .drawing import FIGURES, LiveFigure, figure

#: Default presets of the two sides: the paper's contrast.
DEFAULT_PRESETS = ("clinician_only", "aligned")
#: Default seed (the golden runs' seed).
DEFAULT_SEED = 1
#: Where the page is served, for the debrief's link back to its run: set by
#: :func:`sim.app.server.serve` to the host and port it listens on.
APP_ORIGIN = "http://127.0.0.1:8765"
#: Names of the two sides.
SIDES = ("A", "B")
#: Query parameters of the page's address that Solara's front end reads itself (ignored).
SOLARA_QUERY = ("kernelid", "modelid", "solara-no-close-beacon")


@dataclass(frozen=True)
class Lever:
    """A lever a trainer pulls mid-run: an event kind with the strength and duration used."""

    kind: str
    label: str
    strength: float
    duration: int
    help: str


#: The levers the app offers, in the order of its buttons (every event kind of the schema).
LEVERS: dict[str, Lever] = {
    lv.kind: lv
    for lv in (
        Lever(
            "reviews_include_qi",
            "QI into managers' reviews",
            1.0,
            0,
            "The board puts QI into middle managers' performance reviews (from now on).",
        ),
        Lever(
            "protected_time",
            "Protected time",
            0.5,
            0,
            "Protected time for clinicians: half of the intervention's time, where managers arrange it.",
        ),
        Lever("merger", "Merger strikes", 0.8, 240, "A merger takes managers' and the board's attention."),
        Lever(
            "ehr_rollout",
            "EHR roll-out strikes",
            0.6,
            180,
            "An electronic health record roll-out takes clinicians' time and managers' attention.",
        ),
        Lever("facilitator_leaves", "Facilitator leaves", 1.0, 0, "The external facilitator leaves now."),
        Lever(
            "regulator_endorsement",
            "Regulator endorses it",
            1.0,
            0,
            "The regulator endorses the intervention; the board weighs it at its next meeting.",
        ),
        Lever("inspection", "Inspection", 0.7, 60, "An inspection raises the pressure to show compliance."),
        Lever("staff_turnover", "Staff turnover", 0.3, 0, "A third of clinical posts change hands."),
        Lever("resources", "Release the QI budget", 0.8, 0, "The board releases 80% of the QI budget."),
    )
}

#: Settings a side can start with, each a set of scenario overrides (shown as checkboxes).
START_SETTINGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "reviews": ("QI in managers' reviews from day 0", ("actions.board.review_incentives=true",)),
    "protected_time": ("Protected time from day 0", ("actions.manager.protected_time=0.5",)),
    "regulator": ("Regulator endorses it from day 0", ("incentives.board.regulator_endorsement=1.0",)),
    "no_facilitator": ("No external facilitator", ("facilitation.enabled=false",)),
}

#: Speeds of play offered, in simulated days per second.
SPEEDS = (1, 5, 10, 20, 40, 80)
#: Default speed of play (days per second).
DEFAULT_SPEED = 20


def preset_title(name: str) -> str:
    return load_scenario(name)["title"]


def preset_description(name: str, app: bool = False) -> str:
    """A preset's description as one paragraph of plain text; ``app``: worded for the app,
    whose settings box takes ``KEY=VALUE`` where the command line takes ``--set`` or
    ``--days``, and which draws no figure of harm by hospital."""
    text = " ".join(load_scenario(name)["description"].split())
    if not app:
        return text
    text = re.sub(r"'((?:--set \S+ ?)+)'", lambda m: _in_settings_box(m.group(1).split("--set")), text)
    text = re.sub(r"'--days (\d+)'", lambda m: _in_settings_box([f"days={m.group(1)}"]), text)
    # the app draws no harm by hospital (the command line's wards.csv has it): not pointed to
    return re.sub(r",? hospital by hospital \(wards\.csv\),?", "", text).replace("(wards.csv)", "")


def _levers_pulled(pulls: Sequence[Pull], shown: int = 2) -> str:
    """`` + Merger strikes (day 120)``, the first ``shown`` levers pulled and how many more;
    '' for none."""
    if not pulls:
        return ""
    named = [f"{LEVERS[p.kind].label} (day {p.day})" for p in pulls[:shown]]
    more = len(pulls) - shown
    if more > 0:
        named.append(f"{more} more lever{'s' if more > 1 else ''}")
    return " + " + ", ".join(named)


def _lower_first(text: str) -> str:
    """``merger strikes`` for a button's ``Merger strikes``, as the figures name events;
    ``QI in ...`` keeps its capitals."""
    return text[0].lower() + text[1:] if text[1:2].islower() else text


def _in_settings_box(settings: list[str]) -> str:
    """``a=1``, ``a=1 and b=2``, ``a=1, b=2 and c=3``, followed by where they are typed."""
    items = [item.strip() for item in settings if item.strip()]
    listed = items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
    return f"{listed} in Other settings"


@dataclass(frozen=True)
class SideSpec:
    """What one side starts from: a preset, start settings (keys of :data:`START_SETTINGS`)
    and ``KEY=VALUE`` overrides (as ``qisim run --set``)."""

    preset: str
    settings: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()

    def scenario(self) -> Scenario:
        """The resolved scenario; raises :class:`ScenarioError` for bad input."""
        sets: list[str] = []
        for key in self.settings:
            if key not in START_SETTINGS:
                raise ScenarioError("", None, f"unknown start setting '{key}'")
            sets += START_SETTINGS[key][1]
        sets += [o.strip() for o in self.overrides if o.strip()]
        return load_scenario(self.preset, sets)

    @property
    def label(self) -> str:
        extra = [START_SETTINGS[k][0] for k in self.settings] + [o for o in self.overrides if o.strip()]
        return self.preset + (f" + {'; '.join(extra)}" if extra else "")


@dataclass
class Pull:
    """A lever pulled: on which day (it acts from the start of that day), what, how strong."""

    day: int
    kind: str
    strength: float
    duration: int
    hospital: int = -1

    def code(self) -> str:
        """``DAY:KIND`` for the app's own lever, else ``DAY:KIND:STRENGTH:DURATION:HOSPITAL``."""
        lever = LEVERS[self.kind]
        if (self.strength, self.duration, self.hospital) == (lever.strength, lever.duration, -1):
            return f"{self.day}:{self.kind}"
        return f"{self.day}:{self.kind}:{self.strength!r}:{self.duration}:{self.hospital}"

    @classmethod
    def parse(cls, code: str) -> Pull:
        """The pull of :meth:`code`; :class:`ValueError` with a plain message if malformed."""
        parts = code.split(":")
        if len(parts) not in (2, 5) or not _whole(parts[0]) or parts[1] not in LEVERS:
            raise ValueError(
                f"lever '{code}' is not DAY:KIND with DAY a whole number and KIND one of {', '.join(LEVERS)}"
            )
        lever = LEVERS[parts[1]]
        if len(parts) == 2:
            return cls(int(parts[0]), lever.kind, lever.strength, lever.duration)
        try:
            return cls(int(parts[0]), lever.kind, float(parts[2]), int(parts[3]), int(parts[4]))
        except ValueError:
            raise ValueError(f"lever '{code}': STRENGTH:DURATION:HOSPITAL must be numbers") from None


def check_seed(seed: Any) -> int:
    """The seed as an int; :class:`ValueError` with a plain message unless it is a whole
    number of 0 or more."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer | str):
        raise ValueError(f"The seed must be a whole number, 0 or more (not {seed!r}).")
    text = str(seed).strip()
    if not _whole(text):
        raise ValueError(f"The seed must be a whole number, 0 or more (not {text or 'empty'}).")
    return int(text)


def stop_day(text: str, day: int) -> int | None:
    """The day play pauses at, from the pause-at box's ``text`` on day ``day``: None when
    the box is empty or names a day already reached (play runs to the end);
    :class:`ValueError` with a plain message unless it is a whole number of 1 or more."""
    text = str(text).strip()
    if not text:
        return None
    if not _whole(text) or int(text) < 1:
        raise ValueError(f"Pause at day: write a day, 1 or more, or leave it empty (not {text}).")
    return int(text) if int(text) > day else None


def app_message(err: ScenarioError, side: str | None = None) -> str:
    """A scenario error worded for the app's settings box rather than the command line."""
    message = _plain(err.message)
    if err.source != "--set":
        return str(err)
    where = f"Side {side}'s other settings" if side else "Other settings"
    # "'days' must be ..." reads on; any other message follows the key after a colon
    what = (f"'{err.key}' " if message.startswith("must ") else f"'{err.key}': ") if err.key else ""
    return f"{where}: {what}{message}. Correct the line and click outside the box."


@dataclass
class Side:
    """One run of the pair."""

    spec: SideSpec
    seed: int
    model: QIModel = field(init=False)
    pulls: list[Pull] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.model = QIModel(self.spec.scenario(), rng=self.seed, detail=False)

    @property
    def scenario(self) -> Scenario:
        return self.model.config

    @property
    def horizon(self) -> int:
        return int(self.scenario["days"])

    @property
    def day(self) -> int:
        return self.model.day

    @property
    def done(self) -> bool:
        return self.model.day >= self.horizon

    def narration(self, newest_first: bool = True) -> list[str]:
        lines = self.model.events_log()
        return lines[::-1] if newest_first else lines

    def pending(self) -> list[Pull]:
        """Levers pulled that have not acted yet: they act when the next day is simulated."""
        return [p for p in self.pulls if p.day >= self.day]

    def replay(self, pulls: list[Pull], until: int) -> None:
        """Run the side again from day 0 on its seed up to day ``until``, with each lever of
        ``pulls`` pulled on its day (those on ``until`` or later stay pending)."""
        ordered = sorted(pulls, key=lambda p: p.day)  # stable: same-day pulls keep their order
        model = QIModel(self.spec.scenario(), rng=self.seed, detail=False)
        i = 0
        while True:
            while i < len(ordered) and ordered[i].day <= model.day:
                p = ordered[i]
                model.pull_lever(p.kind, p.strength, p.duration, p.hospital)
                i += 1
            if model.day >= until or model.day >= self.horizon:
                break
            model.step()
        self.model, self.pulls = model, ordered

    def marks(self) -> list[tuple[int, str]]:
        """Days to mark on the figures: the scenario's own events and the levers pulled."""
        out = markers(self.scenario, max(self.day, 1))
        pulled = [p for p in self.pulls if p.day < max(self.day, 1)]
        out += [(p.day, f"{_lower_first(LEVERS[p.kind].label)} (pulled)") for p in pulled]
        return sorted(out)


class Pair:
    """Two runs on the same seed, advancing in lockstep.

    Args:
        a, b: what each side starts from (default: ``clinician_only`` and ``aligned``).
        seed: the seed both sides use.
    """

    def __init__(
        self,
        a: SideSpec | str = DEFAULT_PRESETS[0],
        b: SideSpec | str = DEFAULT_PRESETS[1],
        seed: int = DEFAULT_SEED,
    ):
        self.lock = threading.RLock()
        self.version = 0  # every change, each day stepped included
        self.changes = 0  # changes other than stepping: a restart, a lever, a restore
        self._live: tuple[tuple[int, int] | None, dict[str, bytes]] = (None, {})
        self._kept = {name: LiveFigure(name) for name in FIGURES}
        self.sides: list[Side] = []
        self.reset(a, b, seed)

    # -- building and stepping -----------------------------------------------------
    def reset(
        self, a: SideSpec | str | None = None, b: SideSpec | str | None = None, seed: int | None = None
    ):
        """Start again from day 0; unchanged arguments keep their current value.

        Raises :class:`ScenarioError` for a bad scenario and :class:`ValueError` for a seed
        that is not a whole number of 0 or more, and leaves the pair as it was.
        """
        specs = [_spec(x) for x in (a, b)]
        with self.lock:
            old = [s.spec for s in self.sides] or [SideSpec(p) for p in DEFAULT_PRESETS]
            specs = [new or prev for new, prev in zip(specs, old, strict=True)]
            seed = self.seed if seed is None else check_seed(seed)
            sides = [Side(spec, seed) for spec in specs]  # may raise: the pair stays as it was
            self.seed, self.sides = seed, sides
            self.version += 1
            self.changes += 1
        return self

    def address(self) -> str:
        """The pair as the query string of the page's address: the seed, the day shown, and
        for each side its preset, start settings, other settings and levers pulled
        (``DAY:KIND``).  A run is fixed by these, so :meth:`restore` rebuilds the same run,
        to the bit: a reloaded page carries on where it was, and an address can be
        bookmarked before a workshop or sent to a colleague."""
        with self.lock:
            items: list[tuple[str, Any]] = [("seed", self.seed), ("day", self.day)]
            for name, s in zip(SIDES, self.sides, strict=True):
                n = name.lower()
                items.append((n, s.spec.preset))
                if s.spec.settings:
                    items.append((f"{n}_start", ",".join(s.spec.settings)))
                items += [(f"{n}_set", o) for o in s.spec.overrides]
                items += [(f"{n}_lever", p.code()) for p in s.pulls]
            return urlencode(items, quote_via=quote, safe=":,")

    def restore(self, query: str) -> Pair:
        """Rebuild the pair from a query string of :meth:`address` (a leading '?' allowed;
        a part left out takes the app's default): each side run again from day 0 on the
        seed, every lever pulled on its day, up to the day given (or the side's last day).

        Raises :class:`ValueError` with a plain message naming the part of the address at
        fault, and leaves the pair as it was.
        """
        fields = parse_qs(query.lstrip("?"), keep_blank_values=True)
        parts = ["seed", "day"] + [f"{n.lower()}{x}" for n in SIDES for x in ("", "_start", "_set", "_lever")]
        for key in fields:
            if key not in parts and key not in SOLARA_QUERY:
                raise ValueError(f"the address has '{key}', which is not one of {', '.join(parts)}")

        def one(key: str, default: str) -> str:
            values = fields.get(key, [default])
            if len(values) > 1:
                raise ValueError(f"the address gives '{key}' {len(values)} times")
            return values[0].strip()

        seed = check_seed(one("seed", str(DEFAULT_SEED)))
        day = one("day", "0")
        if not _whole(day):
            raise ValueError(f"the address's day must be a whole number, 0 or more (not '{day}')")
        sides = []
        for name, default in zip(SIDES, DEFAULT_PRESETS, strict=True):
            n = name.lower()
            given = [k for v in fields.get(f"{n}_start", []) for k in v.split(",") if k]
            for k in given:
                if k not in START_SETTINGS:
                    raise ValueError(
                        f"the address's {n}_start has '{k}', which is not one of {', '.join(START_SETTINGS)}"
                    )
            starts = tuple(k for k in START_SETTINGS if k in given)  # as the page's check boxes give them
            overrides = tuple(o for o in fields.get(f"{n}_set", []) if o.strip())
            preset = one(n, default)
            if preset not in preset_names():  # names only: an address never reads a file
                raise ValueError(
                    f"the address's side {name} has preset '{preset}', which is not one of "
                    f"{', '.join(preset_names())}"
                )
            pulls = [Pull.parse(code) for code in fields.get(f"{n}_lever", [])]
            for pull in pulls:
                if pull.day > int(day):
                    raise ValueError(f"the address's lever '{pull.code()}' comes after its day, {day}")
            try:
                side = Side(SideSpec(preset, starts, overrides), seed)
            except ScenarioError as err:  # the pair stays as it was
                what = f"'{err.key}' " if err.key else ""
                raise ValueError(f"the address's side {name}: {what}{_plain(err.message)}") from None
            hospitals = int(side.scenario["organisation.hospitals"])
            for pull in pulls:
                if pull.day >= side.horizon:  # a lever there would never act
                    raise ValueError(
                        f"the address's lever '{pull.code()}' comes on or after side {name}'s last day, "
                        f"{side.horizon}"
                    )
                if not -1 <= pull.hospital < hospitals:
                    raise ValueError(
                        f"the address's lever '{pull.code()}' names hospital {pull.hospital}; side {name} "
                        f"has hospitals 0 to {hospitals - 1} (or -1 for all)"
                    )
            try:
                side.replay(pulls, int(day))
            except ValueError as err:  # a lever the model refuses that the checks above let through
                raise ValueError(f"the address's side {name}: {err}") from None
            sides.append(side)
        with self.lock:
            self.seed, self.sides = seed, sides
            self.version += 1
            self.changes += 1
        return self

    @property
    def specs(self) -> tuple[SideSpec, SideSpec]:
        return self.sides[0].spec, self.sides[1].spec

    @property
    def day(self) -> int:
        """Days simulated so far (the furthest side; both are equal until one ends)."""
        return max(s.day for s in self.sides)

    @property
    def horizon(self) -> int:
        return max(s.horizon for s in self.sides)

    @property
    def done(self) -> bool:
        return all(s.done for s in self.sides)

    def step(self, days: int = 1) -> int:
        """Advance both sides by up to ``days`` days (a side stops at its horizon); returns
        the days the pair advanced."""
        with self.lock:
            start = self.day
            for _ in range(max(int(days), 0)):
                if self.done:
                    break
                for side in self.sides:
                    if not side.done:
                        side.model.step()
            if self.day != start:
                self.version += 1
            return self.day - start

    def pull(
        self,
        side: str | int,
        kind: str,
        strength: float | None = None,
        duration: int | None = None,
        hospital: int = -1,
        day: int | None = None,
    ) -> list[str]:
        """Pull a lever on side ``'A'``, ``'B'`` (or 0, 1) or ``'both'``; it acts from the
        start of the next day simulated and is narrated then.  Returns the sides pulled.

        ``day``: the day the page showed when the lever was pulled.  If the side has run
        past it (the play loop stepped on meanwhile), the side is run again from day 0 with
        the lever on that day, back to where it was: the lever acts from the day shown.
        """
        lever = LEVERS.get(kind)
        if lever is None:
            raise ValueError(f"unknown lever '{kind}'; levers are: {', '.join(LEVERS)}")
        strength = lever.strength if strength is None else float(strength)
        duration = lever.duration if duration is None else int(duration)
        names = list(SIDES) if side == "both" else [_side_name(side)]
        with self.lock:
            for name in names:
                s = self.sides[SIDES.index(name)]
                at = s.day if day is None else min(max(int(day), 0), s.day)
                if at >= s.horizon:
                    continue
                pull = Pull(at, kind, strength, duration, hospital)
                if at == s.day:
                    s.model.pull_lever(kind, strength, duration, hospital)
                    s.pulls.append(pull)
                else:
                    s.replay([*s.pulls, pull], s.day)
            self.version += 1
            self.changes += 1
        return names

    def lever_note(self, side: str | int) -> str:
        """One line on the side's levers: those queued for the next day, else the last pulled."""
        with self.lock:
            s = self.side(side)
            pending = s.pending()
            if pending:
                counts: dict[str, int] = {}
                for p in pending:
                    counts[p.kind] = counts.get(p.kind, 0) + 1
                what = ", ".join(
                    LEVERS[k].label + (f" (pressed {n} times: {n} pulls)" if n > 1 else "")
                    for k, n in counts.items()
                )
                they = "It acts" if len(pending) == 1 else "They act"
                return f"Queued for day {s.day}: {what}. {they} when the run moves on (Play or Step)."
            if s.pulls:
                last = s.pulls[-1]
                return (
                    f"Last lever: {LEVERS[last.kind].label}, from day {last.day} (in bold in the narration)."
                )
            return ""

    # -- reading ----------------------------------------------------------------------
    def side(self, name: str | int) -> Side:
        return self.sides[SIDES.index(_side_name(name))]

    @property
    def alike(self) -> bool:
        """Both sides start from the same preset, start settings and other settings."""
        return self.sides[0].spec == self.sides[1].spec

    def labels(self) -> list[str]:
        """Labels of the sides: each side's start; when both start alike, the levers pulled
        on each (what tells them apart)."""
        alike = self.alike
        return [
            f"{n}: {s.spec.label}{_levers_pulled(s.pulls) if alike else ''}"
            for n, s in zip(SIDES, self.sides, strict=True)
        ]

    def narration(self, side: str | int, newest_first: bool = True) -> list[str]:
        with self.lock:
            return self.side(side).narration(newest_first)

    def summaries(self) -> list[dict[str, Any]]:
        with self.lock:
            return [s.model.summary() if s.day else {} for s in self.sides]

    def state_line(self) -> str:
        """One line on where the pair is: day, and adoption and alignment of each side (on
        its last day, for a side whose run has ended while the other's goes on)."""
        with self.lock:
            parts = [f"Day {self.day} of {self.horizon} (seed {self.seed})"]
            for name, s in zip(SIDES, self.sides, strict=True):
                row = s.model._row
                if row:
                    ended = f" (its run ended on day {s.horizon})" if s.day < self.day else ""
                    parts.append(
                        f"{name}: adoption {row['adoption']:.0%}, alignment {row['alignment']:.2f}{ended}"
                    )
            return "; ".join(parts)

    # -- figures ----------------------------------------------------------------------
    def _data(self) -> list[tuple[str, Side]]:
        return [(label, s) for label, s in zip(self.labels(), self.sides, strict=True)]

    def figure(self, name: str, export: bool = False) -> Figure:
        """One figure with a panel per side (see :data:`FIGURES`), drawn anew."""
        with self.lock:
            return figure(name, self._data(), self.horizon, export)

    def live_figures(self, dpi: int = 80, cached: bool = False) -> dict[str, bytes]:
        """Every live figure as PNG, drawn once per change of the pair (cached), each
        figure kept and redrawn by blitting (:class:`sim.app.drawing.LiveFigure`).

        ``cached=True`` returns the last drawn figures without waiting for the lock (for a
        page's render while the play loop steps); they are drawn only if there are none.
        """
        if cached and self._live[1] and self._live[0][1] == dpi:
            return self._live[1]
        with self.lock:
            key = (self.version, dpi)
            if self._live[0] != key:
                data = self._data()
                self._live = (key, {name: f.png(data, self.horizon, dpi) for name, f in self._kept.items()})
            return self._live[1]

    def figure_png(self, name: str, dpi: int = 72, export: bool = False) -> bytes:
        """One figure drawn anew as PNG (the page's live figures are kept: :meth:`live_figures`)."""
        fig = self.figure(name, export=export)
        buf = io.BytesIO()
        # an export is compressed harder; a figure drawn otherwise, as fast as it can be
        fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": 6 if export else 1})
        return buf.getvalue()

    # -- export -----------------------------------------------------------------------
    def debrief_html(self, dpi: int = 90, origin: str | None = None) -> str:
        """A one-page debrief of the pair: summaries side by side, the figures, narration;
        ``origin``: where the browser reached the app, for the link back to this run (default:
        :data:`APP_ORIGIN`)."""
        with self.lock:
            images = {name: self.figure_png(name, dpi=dpi, export=True) for name in FIGURES}
            return _debrief(self, images, origin or APP_ORIGIN)

    def export_files(self, dpi: int = 110, origin: str | None = None) -> dict[str, bytes]:
        """The debrief's files: each figure as PNG, ``debrief.html``, and each side's
        ``events.log`` and ``summary.json``."""
        with self.lock:
            files = {f"{name}.png": self.figure_png(name, dpi=dpi, export=True) for name in FIGURES}
            files["debrief.html"] = self.debrief_html(origin=origin).encode()
            for name, s, summary in zip(SIDES, self.sides, self.summaries(), strict=True):
                files[f"{name}-events.log"] = "".join(f"{line}\n" for line in s.narration(False)).encode()
                summary = dict(summary, lever_pulls=[p.__dict__ for p in s.pulls], side=s.spec.__dict__)
                files[f"{name}-summary.json"] = json.dumps(summary, indent=2, default=_json).encode()
            return files

    def export_zip(self, origin: str | None = None) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in self.export_files(origin=origin).items():
                zf.writestr(name, data)
        return buf.getvalue()

    def write_export(self, out_dir: Path) -> list[Path]:
        """Write :meth:`export_files` into ``out_dir``; returns the paths."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, data in self.export_files().items():
            path = out_dir / name
            path.write_bytes(data)
            paths.append(path)
        return paths


def export_name(pair: Pair, suffix: str) -> str:
    """File name for a download: presets, seed, day."""
    a, b = (s.spec.preset for s in pair.sides)
    return f"qisim-{a}-vs-{b}-seed{pair.seed}-day{pair.day}{suffix}"


class Player:
    """The play loop's pace: simulated days due at a target speed, in days per second.

    The loop asks :meth:`wait` how long to sleep, then steps :meth:`due` days and redraws,
    then reports the days done with :meth:`advanced` and the seconds the tick took with
    :meth:`ticked`.  Days
    fall due with wall-clock time, so the time a redraw takes raises the days per tick, not
    lower the speed.  A tick comes at most every ``min_interval`` seconds, and after a tick
    the loop rests at least ``rest`` times as long as the tick took: a playing page keeps
    the server busy at most 1 / (1 + rest) of the time, and when several pages play at once
    (their ticks take longer as they share the server) each redraws less often, which
    leaves the server free to answer clicks.  A debt of more than ``max_days`` (a stalled
    machine) is dropped rather than caught up in a burst.
    """

    def __init__(
        self,
        speed: float = DEFAULT_SPEED,
        min_interval: float = 0.2,
        max_days: int = 60,
        rest: float = 1.0,
    ):
        self.speed, self.min_interval, self.max_days, self.rest = float(speed), min_interval, max_days, rest
        self.started = time.perf_counter()
        self.days = 0
        self._credit = 0.0  # days forgiven after a stall
        self._resume = self.started  # no tick before this time

    def _owed(self) -> float:
        return (time.perf_counter() - self.started) * self.speed - self.days - self._credit

    def wait(self) -> float:
        """Seconds to sleep before the next tick (0: step now)."""
        owed = self._owed()
        if owed > 2 * self.max_days:
            self._credit += owed - self.max_days
            owed = self.max_days
        need = max(1.0, self.speed * self.min_interval)
        due = 0.0 if owed >= need else (need - owed) / self.speed
        return max(due, self._resume - time.perf_counter(), 0.0)

    def due(self) -> int:
        """Days to step in this tick."""
        return int(min(max(int(self._owed()), 1), self.max_days))

    def advanced(self, days: int) -> None:
        self.days += days

    def ticked(self, seconds: float) -> None:
        """The tick (its steps and redraw) took ``seconds``: rest ``rest`` times as long."""
        self._resume = time.perf_counter() + self.rest * max(seconds, 0.0)

    @property
    def days_per_second(self) -> float:
        return self.days / max(time.perf_counter() - self.started, 1e-9)


# -- helpers --------------------------------------------------------------------------


def _spec(x: SideSpec | str | None) -> SideSpec | None:
    if x is None or isinstance(x, SideSpec):
        return x
    return SideSpec(str(x))


def _whole(text: str) -> bool:
    """True for a whole number of 0 or more written in the digits 0-9."""
    return text.isascii() and text.isdigit()


def _plain(message: str) -> str:
    """A scenario error's message worded for the page rather than the command line."""
    return (
        message.replace("see `qisim scenarios --keys` for valid keys", "`qisim scenarios --keys` lists them")
        .replace("unknown key", "no such setting")
        .replace("expected KEY=VALUE", "write it as KEY=VALUE, for example days=365")
        .replace("(got ", "(you wrote ")
    )


def _side_name(side: str | int) -> str:
    if isinstance(side, int) and 0 <= side < len(SIDES):
        return SIDES[side]
    if isinstance(side, str) and side.upper() in SIDES:
        return side.upper()
    raise ValueError(f"side must be one of {', '.join(SIDES)} or 'both', not {side!r}")


def _json(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, tuple):
        return list(x)
    raise TypeError(type(x))


def with_settings(spec: SideSpec, settings: Iterable[str] = (), overrides: Sequence[str] = ()) -> SideSpec:
    return replace(spec, settings=tuple(settings), overrides=tuple(overrides))


# -- the debrief ----------------------------------------------------------------------


def _signed_percent(x: float) -> str:
    """``+25%``, ``-3%``; ``0%`` (not ``+0%``) for no change."""
    return f"{x:+.0%}" if round(x * 100) else "0%"


#: Rows of the summary table: key, label, how the value is written.
SUMMARY_ROWS = (
    ("adoption_peak", "Peak adoption", "{:.0%}".format),
    ("adoption_final", "Adoption, last 90 days", "{:.0%}".format),
    ("sustainment", "Sustainment (final / peak adoption)", "{:.2f}".format),
    ("fidelity_final", "True fidelity, last 90 days", "{:.0%}".format),
    ("reported_compliance_final", "Reported compliance, last 90 days", "{:.0%}".format),
    ("alignment_mean", "Mean alignment index", "{:.2f}".format),
    ("effect", "Fewer harms than the counterfactual, last 90 days", _signed_percent),
    ("issues_raised", "Issues raised", "{:d}".format),
    ("issues_resolved", "Issues resolved", "{:d}".format),
    ("issues_lapsed", "Issues lapsed unresolved", "{:d}".format),
)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1180px;
color:#222;line-height:1.4}
h1{font-size:1.5em;margin-bottom:0}h2{font-size:1.15em;margin-top:1.6em}
.meta{color:#555;margin-top:.2em}table{border-collapse:collapse;margin:.5em 0}
td,th{border-bottom:1px solid #ddd;padding:4px 12px;text-align:left;vertical-align:top}
th.a{color:#d95f02}th.b{color:#1b9e77}td.n{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%}.cols{display:flex;gap:24px}.cols>div{flex:1;min-width:0}
.cols ol{font-size:.88em;padding-left:1.2em;max-height:none}.desc{font-size:.92em;color:#333}
@media print{body{margin:8mm}h2{break-after:avoid}img{break-inside:avoid}}
"""


def _debrief(pair: Pair, images: dict[str, bytes], origin: str) -> str:
    e = html.escape
    labels = pair.labels()
    summaries = pair.summaries()
    head = "".join(f'<th class="{n.lower()}">{e(lbl)}</th>' for n, lbl in zip(SIDES, labels, strict=True))
    rows = []
    for key, label, fmt in SUMMARY_ROWS:
        cells = "".join(f'<td class="n">{e(fmt(s[key])) if key in s else "-"}</td>' for s in summaries)
        rows.append(f"<tr><td>{e(label)}</td>{cells}</tr>")
    desc = "".join(
        f"<div><h3>{e(lbl)}</h3><p class='desc'>{e(preset_description(s.spec.preset, app=True))}</p>"
        + (
            "<p class='desc'>Levers pulled: "
            + e("; ".join(f"day {p.day}: {LEVERS[p.kind].label}" for p in s.pulls))
            + "</p>"
            if s.pulls
            else "<p class='desc'>No lever pulled.</p>"
        )
        + "</div>"
        for lbl, s in zip(labels, pair.sides, strict=True)
    )
    figs = "".join(
        f"<p><img alt='{e(FIGURES[name])}' src='data:image/png;base64,{base64.b64encode(png).decode()}'></p>"
        for name, png in images.items()
    )
    narr = "".join(
        f"<div><h3>{e(lbl)}</h3><ol>"
        + "".join(f"<li>{e(line)}</li>" for line in s.narration(newest_first=False))
        + "</ol></div>"
        for lbl, s in zip(labels, pair.sides, strict=True)
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>qisim debrief: {e(' vs '.join(s.spec.preset for s in pair.sides))}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>Debrief: {e(labels[0])} vs {e(labels[1])}</h1>"
        f"<p class='meta'>Seed {pair.seed}, day {pair.day} of {pair.horizon}; both runs on the same "
        f"random numbers; qisim {e(__version__)}. To show this run again, open the app at "
        f"<code>{e(origin)}/?{e(pair.address())}</code> (where the app ran when this was "
        "exported; started on another host or port, the address begins with those).</p>"
        f"<div class='cols'>{desc}</div>"
        f"<h2>Outcomes</h2><table><tr><th></th>{head}</tr>{''.join(rows)}</table>"
        "<p class='meta'>Last 90 days: the run's last 90 days (all of it, if it is shorter). "
        "Fewer harms: the relative reduction of harms against the same wards without the "
        "intervention.</p>"
        f"<h2>Figures</h2>{figs}<h2>What happened, and why</h2><div class='cols'>{narr}</div>"
        "</body></html>"
    )


__all__ = [
    "DEFAULT_PRESETS",
    "DEFAULT_SEED",
    "FIGURES",
    "LEVERS",
    "Lever",
    "Pair",
    "Player",
    "SIDES",
    "SPEEDS",
    "START_SETTINGS",
    "ScenarioError",
    "Side",
    "SideSpec",
    "app_message",
    "check_seed",
    "stop_day",
    "export_name",
    "preset_description",
    "preset_names",
    "preset_title",
]
