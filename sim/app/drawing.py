"""The app's figures: each side of a pair in a panel, drawn whole or kept and redrawn.

Each figure is built by a ``_build_*`` function that lays out what stays put (axes, ticks,
legend, the days marked) and returns the artists that follow the run, with a function that
sets their data from the sides (a :class:`Drawing`). An export or a test draws the figure
whole (:func:`figure`). The page's live figures keep it (:class:`LiveFigure`): while only
the data change, they restore the background drawn once and draw the moving artists over
it (blitting), which costs a tenth of drawing the figure anew
(``python benchmarks/live_figures.py``); anything else, a mark added or an axis that must
grow, builds it again.

``data`` is a sequence of ``(label, side)``, a side being a :class:`sim.app.session.Side`.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from PIL import Image

from ..figures import ROLLING_DAYS, SIDE_COLOURS, rolling_harm_rate

#: The live figures: name -> title shown above them.
FIGURES = {
    "adoption": "Adoption, true fidelity and reported compliance",
    "engagement": "Engagement at each level, and their alignment",
    "harm": "Patient harm against the counterfactual",
    "organisation": "The organisation today: board, middle managers and each ward's clinicians "
    "(colour: engagement, managers' priority, board's focus; white dot: used it today)",
}

#: Characters a line of an exported figure's title holds (12 pt bold on a 12-inch figure).
TITLE_CHARS = 100


@dataclass
class Drawing:
    """A built figure: ``moving`` are the artists ``update(data)`` sets from the sides."""

    fig: Figure
    moving: list[Artist]
    update: Callable[[Sequence], None]


def figure(name: str, data: Sequence, horizon: int, export: bool = False) -> Figure:
    """The figure ``name`` of the sides in ``data``, with their data today."""
    drawing = _BUILD[name](data, horizon, export)
    drawing.update(data)
    return drawing.fig


def layout(name: str, data: Sequence, horizon: int) -> tuple:
    """What the still part of figure ``name`` is drawn from: while it is the same, a kept
    figure needs only its moving artists updated."""
    if name == "organisation":  # no time axis, no marks
        s = [side.model.state for _, side in data]
        return tuple(label for label, _ in data), tuple((x.N, x.W, x.cpw, x.M, x.H, x.K > 0) for x in s)
    sides = tuple((label, tuple(side.marks())) for label, side in data)
    if name == "harm":
        return horizon, sides, _harm_top(data)
    return horizon, sides


class LiveFigure:
    """One figure of the page, kept between days and redrawn by blitting."""

    def __init__(self, name: str):
        self.name = name
        self._key: tuple | None = None
        self._drawing: Drawing | None = None
        self._background = None

    def png(self, data: Sequence, horizon: int, dpi: int) -> bytes:
        """The figure as PNG at ``dpi``, built again only if its still part changed."""
        key = (layout(self.name, data, horizon), dpi)
        if key != self._key:
            self._drawing = _BUILD[self.name](data, horizon, False)
            for artist in self._drawing.moving:
                artist.set_animated(True)  # left out of the background
            self._drawing.fig.set_dpi(dpi)
            canvas = FigureCanvasAgg(self._drawing.fig)
            canvas.draw()
            self._background = canvas.copy_from_bbox(self._drawing.fig.bbox)
            self._key = key
        canvas = self._drawing.fig.canvas
        self._drawing.update(data)
        canvas.restore_region(self._background)
        renderer = canvas.get_renderer()
        for artist in sorted(self._drawing.moving, key=Artist.get_zorder):
            artist.draw(renderer)
        return _png(canvas)


def _png(canvas: FigureCanvasAgg) -> bytes:
    """The canvas as PNG, RGB with the fastest compression (live figures are redrawn several
    times a second)."""
    image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    image = image.convert("RGB")  # the figure is opaque: a quarter less to compress
    buf = io.BytesIO()
    image.save(buf, format="png", compress_level=1)
    return buf.getvalue()


# -- the parts every panel shares -----------------------------------------------------

_USE = (
    ("adoption", "Adoption", "-"),
    ("fidelity", "True fidelity", "-"),
    ("reported_compliance", "Reported compliance", "--"),
)
_LEVELS = (
    ("engagement_clinician", "Clinicians' engagement", "#7570b3", 1.4),
    ("engagement_manager", "Managers' priority", "#e7298a", 1.4),
    ("engagement_board", "Board's focus", "#66a61e", 1.4),
    ("alignment", "Alignment index", "black", 2.4),
)


def _panels(data, horizon: int, export: bool, height: float = 3.2) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(12, height + (0.5 if export else 0.0)))
    axes = fig.subplots(1, len(data), sharey=True, squeeze=False).ravel().tolist()
    fig.subplots_adjust(left=0.055, right=0.99, top=0.86 if not export else 0.8, bottom=0.27, wspace=0.06)
    for ax, (label, _), colour in zip(axes, data, SIDE_COLOURS, strict=False):
        ax.set_title(_short(label, 70), fontsize=10, loc="left", color=colour, fontweight="bold")
        ax.set_xlim(0, horizon)
        ax.grid(True, alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        ax.set_xlabel("Day", fontsize=9, labelpad=1)
        ax.tick_params(labelsize=8)
    return fig, axes


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _mark(ax: Axes, marks: Sequence[tuple[int, str]]) -> list[Artist]:
    """Events and levers as dotted lines, each labelled up from the foot of the panel on a
    pale ground, so that a label stays legible where it crosses a curve (on a projector).
    Returns the labels: they move with the curves, to be drawn over them."""
    labels = []
    for day, label in marks:
        ax.axvline(day, color="0.4", linestyle=":", linewidth=1)
        labels.append(
            ax.annotate(
                label,
                xy=(day, 0.02),
                xycoords=("data", "axes fraction"),
                xytext=(2, 2),
                textcoords="offset points",
                rotation=90,
                va="bottom",
                ha="left",
                fontsize=7,
                color="0.2",
                bbox={"boxstyle": "square,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
            )
        )
    return labels


def _today(ax: Axes) -> Line2D:
    """The line at the side's day, moved by the update."""
    return ax.axvline(0, color="0.75", linewidth=0.8)


def _set_day(line: Line2D, day: int) -> None:
    line.set_xdata([day, day])
    line.set_visible(day > 0)  # on day 0 it would lie on the axis


def _legend(fig: Figure, ax: Axes, ncols: int) -> None:
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncols=ncols, frameon=False, fontsize=8.5)


def _title(fig: Figure, name: str, export: bool) -> None:
    """An exported figure's title, wrapped to fit its width (the page shows it as text)."""
    if export:
        fig.suptitle(textwrap.fill(FIGURES[name], TITLE_CHARS), fontsize=12, fontweight="bold", y=0.99)


def _curves(name: str, columns, ylabel: str, ncols: int):
    """A figure of time series from ``model.timeseries()``: ``columns`` gives each curve's
    column and its style (keyword arguments of ``Axes.plot``)."""

    def build(data, horizon: int, export: bool) -> Drawing:
        fig, axes = _panels(data, horizon, export)
        _title(fig, name, export)
        panels, moving = [], []
        for ax, (_, side) in zip(axes, data, strict=True):
            lines = [ax.plot([], [], **style)[0] for _, style in columns]
            ax.set_ylim(0, 1.02)
            labels = _mark(ax, side.marks())
            today = _today(ax)
            panels.append((lines, today))
            moving += [*lines, today, *labels]
        axes[0].set_ylabel(ylabel, fontsize=9)
        _legend(fig, axes[0], ncols)

        def update(data) -> None:
            for (lines, today), (_, side) in zip(panels, data, strict=True):
                ts = side.model.timeseries()
                for line, (col, _) in zip(lines, columns, strict=True):
                    line.set_data(ts["day"], ts[col])
                _set_day(today, side.day)

        return Drawing(fig, moving, update)

    return build


_build_adoption = _curves(
    "adoption",
    [
        (col, {"linestyle": style, "color": colour, "label": label, "linewidth": 1.4})
        for (col, label, style), colour in zip(_USE, ("#1f77b4", "#2ca02c", "#d62728"), strict=True)
    ],
    "Share of clinicians",
    3,
)
_build_engagement = _curves(
    "engagement",
    [(col, {"color": colour, "label": label, "linewidth": width}) for col, label, colour, width in _LEVELS],
    "Level (0 to 1)",
    4,
)


# -- harm -----------------------------------------------------------------------------

_HARM_LABELS = (
    f"With the intervention ({ROLLING_DAYS}-day mean)",
    "Counterfactual: the same wards without it",
)


def _harm_rates(side) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ts = side.model.timeseries()
    if not len(ts["day"]):
        return ts["day"], np.zeros(0), np.zeros(0)
    return ts["day"], rolling_harm_rate(ts), rolling_harm_rate(ts, counterfactual=True)


def _harm_top(data) -> float:
    """The top of the harm axis: the highest rate of either side so far with room above it,
    rounded up to 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten, so that the axis
    grows in few steps while a run plays."""
    top = 1.0
    for _, side in data:
        _, rate, cf = _harm_rates(side)
        if np.isfinite(cf).any():
            top = max(top, float(np.nanmax(np.r_[rate, cf])) * 1.15)
    power = 10.0 ** math.floor(math.log10(top))
    return next(m * power for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * power >= top * (1 - 1e-9))


def _build_harm(data, horizon: int, export: bool) -> Drawing:
    fig, axes = _panels(data, horizon, export)
    _title(fig, "harm", export)
    panels, moving = [], []
    for ax, (_, side), colour in zip(axes, data, SIDE_COLOURS, strict=True):
        rate = ax.plot([], [], color=colour, label=_HARM_LABELS[0])[0]
        cf = ax.plot([], [], color="0.5", linestyle="--", label=_HARM_LABELS[1])[0]
        labels = _mark(ax, side.marks())
        today = _today(ax)
        panels.append((rate, cf, today))
        moving += [rate, cf, today, *labels]
    axes[0].set_ylim(0, _harm_top(data))
    axes[0].set_ylabel("Harms per 1,000 bed-days", fontsize=9)
    fig.legend(panels[0][:2], _HARM_LABELS, loc="lower center", ncols=2, frameon=False, fontsize=8.5)

    def update(data) -> None:
        for (rate, cf, today), (_, side) in zip(panels, data, strict=True):
            day, r, c = _harm_rates(side)
            rate.set_data(day, r)
            cf.set_data(day, c)
            _set_day(today, side.day)

    return Drawing(fig, moving, update)


# -- the organisation -----------------------------------------------------------------

_ENG_NORM = Normalize(0.0, 1.0)
_CMAP = "viridis"


def _build_organisation(data, horizon: int, export: bool) -> Drawing:
    """Per side: wards as columns; rows from the top: board (one cell per hospital), middle
    managers (one cell spanning the wards each manages), then each ward's clinicians
    (cells coloured by engagement; a white dot: used it today)."""
    fig = Figure(figsize=(12, 4.0 + (0.5 if export else 0.0)))
    axes = fig.subplots(1, len(data), squeeze=False).ravel().tolist()
    fig.subplots_adjust(left=0.065, right=0.9, top=0.86 if not export else 0.8, bottom=0.1, wspace=0.04)
    _title(fig, "organisation", export)
    image = None
    panels, moving = [], []
    for ax, (_, side), colour in zip(axes, data, SIDE_COLOURS, strict=True):
        s = side.model.state
        image = ax.imshow(
            np.zeros((s.cpw, s.W)),
            cmap=_CMAP,
            norm=_ENG_NORM,
            aspect="auto",
            interpolation="nearest",
            extent=(0, s.W, s.cpw, 0),
        )
        dots = None
        if s.K > 0 and s.N <= 2000:
            dots = ax.scatter([], [], s=3 if s.W <= 16 else 1, c="white", linewidths=0)
        gap = max(s.cpw * 0.06, 1.0)
        h = max(s.cpw * 0.12, 2.0)
        managers = _cells(ax, s.ward_mgr, s.M, -gap - h, h, 1)
        boards = _cells(ax, s.ward_hosp, s.H, -2 * (gap + h), h, 1.5)
        ax.set_xlim(0, s.W)
        ax.set_ylim(s.cpw, -2 * (gap + h))
        ax.set_yticks([-2 * (gap + h) + h / 2, -gap - h / 2, s.cpw / 2])
        ax.set_yticklabels(["Board", "Managers", "Clinicians"] if ax is axes[0] else [], fontsize=8)
        step = 1 if s.W <= 16 else max(s.W // 12, 1)
        ax.set_xticks(np.arange(0, s.W, step) + 0.5)
        ax.set_xticklabels([str(w + 1) for w in range(0, s.W, step)], fontsize=7)
        ax.set_xlabel("Ward", fontsize=8, labelpad=1)
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        title = ax.set_title("", fontsize=10, loc="left", color=colour, fontweight="bold")
        panels.append((image, dots, managers, boards, title))
        moving += [image, *managers, *boards, title] + ([dots] if dots is not None else [])
        if s.K == 0:  # drawn over the image, so it moves with it
            none = ax.text(s.W / 2, s.cpw / 2, "no intervention", ha="center", va="center", color="white")
            moving.append(none)
    cax = fig.add_axes((0.92, 0.15, 0.012, 0.65))
    bar = fig.colorbar(image, cax=cax)
    bar.set_label("Engagement / priority / focus", fontsize=8)
    bar.ax.tick_params(labelsize=7)

    def update(data) -> None:
        for (image, dots, managers, boards, title), (label, side) in zip(panels, data, strict=True):
            s = side.model.state
            k = s.K > 0
            eng = s.c_eng[:, 0] if k else np.zeros(s.N)
            image.set_data(eng.reshape(s.W, s.cpw).T)  # rows: clinicians of a ward; columns: wards
            if dots is not None:
                yy, xx = np.nonzero(s.c_use[:, 0].reshape(s.W, s.cpw).T)
                dots.set_offsets(np.c_[xx + 0.5, yy + 0.5])
            mgr = s.m_priority[:, 0] if k else np.zeros(s.M)
            board = s.b_focus[:, 0] if k else np.zeros(s.H)
            for patch, value in zip(managers, mgr, strict=True):
                patch.set_facecolor(image.cmap(_ENG_NORM(value)))
            for patch, value in zip(boards, board, strict=True):
                patch.set_facecolor(image.cmap(_ENG_NORM(value)))
            title.set_text(f"{_short(label, 60)} (day {side.day})")

    return Drawing(fig, moving, update)


def _cells(ax: Axes, owner: np.ndarray, n: int, y: float, h: float, lw: float) -> list[Rectangle]:
    """One cell per manager (or board) at height ``y``, spanning the wards ``owner`` gives it;
    coloured by the update."""
    spans = (np.flatnonzero(owner == i) for i in range(n))
    return [
        ax.add_patch(Rectangle((w.min(), y), w.max() + 1 - w.min(), h, edgecolor="white", linewidth=lw))
        for w in spans
    ]


_BUILD = {
    "adoption": _build_adoption,
    "engagement": _build_engagement,
    "harm": _build_harm,
    "organisation": _build_organisation,
}
