"""Figures for trainers: one run (``adoption.png`` ...) or two scenarios compared
(``compare_adoption.png`` ...), as PNG files.

Figures are drawn on :class:`matplotlib.figure.Figure` objects directly (the Agg canvas),
never through ``pyplot``: no display is needed and no global state is touched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .scenario import Scenario
from .stats import mean_ci

Series = Mapping[str, np.ndarray]

#: Days over which the noisy daily harm rate is averaged.
ROLLING_DAYS = 30
#: Length of a "month" in the issue figures.
MONTH_DAYS = 30
#: Colours of scenario A and B in comparison figures.
SIDE_COLOURS = ("#d95f02", "#1b9e77")

_EVENT_LABELS = {
    "merger": "merger",
    "ehr_rollout": "EHR roll-out",
    "regulator_endorsement": "regulator endorses it",
    "inspection": "inspection",
    "staff_turnover": "staff turnover",
    "facilitator_leaves": "facilitator leaves",
    "reviews_include_qi": "QI put into reviews",
    "protected_time": "protected time",
    "resources": "resources released",
}
_LEVELS = (
    ("engagement_clinician", "Clinicians' engagement"),
    ("engagement_manager", "Middle managers' priority"),
    ("engagement_board", "Board's focus"),
)
_USE = (
    ("adoption", "Adoption: share of clinicians using it"),
    ("fidelity", "True fidelity: share using it as designed"),
    ("reported_compliance", "Reported compliance: share recorded as compliant"),
)
_DAY = "Day of the programme"
_SHARE = "Share of clinicians (0 to 1)"
_LEVEL = "Level (0 = none, 1 = full)"
_HARM = "Harms per 1,000 bed-days"


# -- derived series -----------------------------------------------------------------------


def rolling_harm_rate(ts: Series, counterfactual: bool = False) -> np.ndarray:
    """Harms per 1,000 bed-days over the last 30 days; NaN until 30 days have passed
    (unless the run is shorter)."""
    harms = ts["harms_counterfactual" if counterfactual else "harms"]
    rate = 1000.0 * _rolling_sum(harms) / np.maximum(_rolling_sum(ts["bed_days"]), 1e-12)
    if len(rate) >= ROLLING_DAYS:
        rate[: ROLLING_DAYS - 1] = np.nan
    return rate


def _rolling_sum(x: np.ndarray) -> np.ndarray:
    c = np.concatenate([[0.0], np.cumsum(x, dtype=float)])
    lag = np.maximum(np.arange(1, len(x) + 1) - ROLLING_DAYS, 0)
    return c[1:] - c[lag]


def monthly(ts: Series, cumulative: str) -> np.ndarray:
    """Counts per complete 30-day month from a cumulative column."""
    ends = np.arange(MONTH_DAYS, len(ts["day"]) + 1, MONTH_DAYS) - 1
    return np.diff(np.concatenate([[0.0], ts[cumulative][ends]]))


def markers(scenario: Scenario, days: int) -> list[tuple[int, str]]:
    """(day, label) of what happens during a run: late launches, facilitator, events."""
    out = [
        (iv["launch_day"], f"{iv['name']} launched")
        for iv in scenario.interventions
        if 0 < iv["launch_day"] < days
    ]
    if scenario["facilitation.enabled"]:
        start, end = scenario["facilitation.start_day"], scenario["facilitation.end_day"]
        if 0 < start < min(end, days):
            out.append((start, "facilitator arrives"))
        if start < end < days:
            out.append((end, "facilitator leaves"))
    for ev in scenario.events:
        if ev["day"] < days:
            where = f" (hospital {ev['hospital']})" if ev["hospital"] >= 0 else ""
            out.append((ev["day"], _EVENT_LABELS.get(ev["kind"], ev["kind"]) + where))
    return sorted(out)


# -- styling -------------------------------------------------------------------------------


def _figure(
    title: str, nrows: int = 1, ncols: int = 1, size=(10, 5.5), note: str = ""
) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True).ravel().tolist()
    fig.suptitle(f"{title}\n{note}" if note else title, fontsize=12 if note else 13, fontweight="bold")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    return fig, axes


def _mark(axes: Sequence[Axes], marks: Sequence[tuple[int, str]]) -> None:
    """A dashed vertical line on every panel at each marked day; labels on the first."""
    by_day: dict[int, list[str]] = {}
    for day, label in marks:
        by_day.setdefault(day, []).append(label)
    for ax in axes:
        for day in by_day:
            ax.axvline(day, color="0.35", linestyle="--", linewidth=1)
    for day, labels in by_day.items():
        axes[0].annotate(
            "; ".join(labels),
            xy=(day, 1),
            xycoords=("data", "axes fraction"),
            xytext=(3, -3),
            textcoords="offset points",
            rotation=90,
            va="top",
            ha="left",
            fontsize=8,
            color="0.25",
            bbox={"facecolor": "white", "alpha": 0.6, "edgecolor": "none", "pad": 1},
        )


def _legend(fig: Figure, axes: Sequence[Axes], ncols: int = 2) -> None:
    """One legend for the whole figure, below the panels."""
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    fig.legend(
        list(entries.values()),
        list(entries),
        loc="outside lower center",
        ncols=min(ncols, len(entries)),
        frameon=False,
        fontsize=9,
    )


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    return path


def _finish(ax: Axes, ylabel: str, share: bool = False) -> None:
    ax.set_ylabel(ylabel)
    if ax.get_subplotspec().is_last_row():
        ax.set_xlabel(_DAY)
    if share:
        ax.set_ylim(0, 1.02)
    else:
        ax.set_ylim(0, max(ax.get_ylim()[1], 1))


def _months_x(n: int) -> np.ndarray:
    """Mid-day of each complete month."""
    return np.arange(n) * MONTH_DAYS + MONTH_DAYS / 2


# -- one run -------------------------------------------------------------------------------


def run_figures(ts: Series, scenario: Scenario, primary: str, out_dir: Path) -> list[Path]:
    """Draw the four figures of one run into ``out_dir``; returns their paths."""
    marks = markers(scenario, len(ts["day"]))
    subject = f"the {primary}" if scenario.interventions else "the intervention (none here)"
    return [
        adoption_figure(ts, subject, marks, out_dir / "adoption.png"),
        engagement_figure(ts, subject, marks, out_dir / "engagement.png"),
        harm_figure(ts, subject, marks, out_dir / "harm.png"),
        issues_figure(ts, subject, marks, out_dir / "issues.png"),
    ]


def adoption_figure(ts: Series, subject: str, marks, path: Path) -> Path:
    """Adoption, true fidelity and reported compliance."""
    fig, (ax,) = _figure(f"Is {subject} used, and used as designed?")
    for (col, label), style in zip(_USE, ("-", "-", "--"), strict=True):
        ax.plot(ts["day"], ts[col], style, label=label)
    _finish(ax, _SHARE, share=True)
    _mark([ax], marks)
    _legend(fig, [ax], ncols=3)
    return _save(fig, path)


def engagement_figure(ts: Series, subject: str, marks, path: Path) -> Path:
    """Engagement at each level and the alignment index."""
    fig, (ax,) = _figure(f"Engagement with {subject} at each level, and their alignment")
    for col, label in _LEVELS:
        ax.plot(ts["day"], ts[col], label=label)
    ax.plot(
        ts["day"],
        ts["alignment"],
        color="black",
        linewidth=2.2,
        label="Alignment index (all three levels together)",
    )
    _finish(ax, _LEVEL, share=True)
    _mark([ax], marks)
    _legend(fig, [ax])
    return _save(fig, path)


def harm_figure(ts: Series, subject: str, marks, path: Path) -> Path:
    """Harm rate against the counterfactual (30-day means)."""
    fig, (ax,) = _figure(f"Patient harm with {subject} and without it")
    ax.plot(ts["day"], rolling_harm_rate(ts), label=f"With {subject} ({ROLLING_DAYS}-day mean)")
    ax.plot(
        ts["day"],
        rolling_harm_rate(ts, counterfactual=True),
        color="0.55",
        label=f"Counterfactual: the same wards without it ({ROLLING_DAYS}-day mean)",
    )
    _finish(ax, _HARM)
    _mark([ax], marks)
    _legend(fig, [ax])
    return _save(fig, path)


def issues_figure(ts: Series, subject: str, marks, path: Path) -> Path:
    """Issues raised, resolved and lapsed per month, and the open backlog."""
    fig, (top, bottom) = _figure(
        f"Issues {subject} surfaces: raised, resolved, left open", nrows=2, size=(10, 7)
    )
    bars = [
        ("issues_raised", "Raised"),
        ("issues_resolved", "Resolved"),
        ("issues_lapsed", "Lapsed (closed unresolved)"),
    ]
    width = MONTH_DAYS * 0.8 / len(bars)
    for i, (col, label) in enumerate(bars):
        counts = monthly(ts, col)
        x = _months_x(len(counts)) + (i - (len(bars) - 1) / 2) * width
        top.bar(x, counts, width=width, label=label)
    _finish(top, "Issues")
    top.set_title(f"Issues per {MONTH_DAYS}-day month", fontsize=11, loc="left")
    bottom.plot(ts["day"], ts["issues_open"], color="black", label="Open issues (backlog)")
    _finish(bottom, "Open issues")
    bottom.set_title("Open issues waiting for resolution (backlog)", fontsize=11, loc="left")
    _mark([top, bottom], marks)
    _legend(fig, [top, bottom], ncols=4)
    return _save(fig, path)


# -- two scenarios compared ------------------------------------------------------------


def compare_figures(
    runs: Sequence[Sequence[Series]], scenarios: Sequence[Scenario], labels: Sequence[str], out_dir: Path
) -> list[Path]:
    """Scenario A against B: each panel the mean over replicates with a 95% CI band.

    ``runs[i]`` are the daily series of side i's replicates (all of the same length).
    """
    per_side = [markers(s, len(r[0]["day"])) for s, r in zip(scenarios, runs, strict=True)]
    marks = _merged_marks(per_side, labels)
    n = len(runs[0])
    note = f"mean of {n} runs on the same seeds; shaded band: 95% confidence interval"
    return [
        _compare_panels(
            runs,
            labels,
            marks,
            out_dir / "compare_adoption.png",
            "Adoption, true fidelity and reported compliance",
            note,
            [(_daily(c), label.split(":")[0], _SHARE) for c, label in _USE],
            share=True,
        ),
        _compare_panels(
            runs,
            labels,
            marks,
            out_dir / "compare_engagement.png",
            "Engagement at each level and their alignment",
            note,
            [(_daily(c), label, _LEVEL) for c, label in _LEVELS]
            + [(_daily("alignment"), "Alignment index", _LEVEL)],
            share=True,
            ncols=2,
        ),
        compare_harm_figure(runs, labels, marks, out_dir / "compare_harm.png", note),
        _compare_panels(
            runs,
            labels,
            marks,
            out_dir / "compare_issues.png",
            "Issues raised, resolved and left open",
            note,
            [
                (_monthly_of("issues_raised"), "Issues raised per month", "Issues"),
                (_monthly_of("issues_resolved"), "Issues resolved per month", "Issues"),
                (_daily("issues_open"), "Open issues (backlog)", "Open issues"),
            ],
        ),
    ]


def _merged_marks(per_side: Sequence[list[tuple[int, str]]], labels: Sequence[str]):
    """Marks of both sides; a mark only one side has is suffixed with its label."""
    common = set(per_side[0]).intersection(*per_side[1:])
    out = sorted(common)
    for side, marks in zip(labels, per_side, strict=True):
        out += [(day, f"{text} ({side})") for day, text in marks if (day, text) not in common]
    return sorted(out)


def _daily(col: str):
    """(x, y) of a daily column, for :func:`_band`."""
    return lambda ts: (ts["day"], ts[col])


def _monthly_of(col: str):
    """(x, y) of the monthly counts of a cumulative column, for :func:`_band`."""

    def f(ts: Series) -> tuple[np.ndarray, np.ndarray]:
        counts = monthly(ts, col)
        return _months_x(len(counts)), counts

    return f


def _band(ax: Axes, runs: Sequence[Series], get, colour: str, label: str) -> None:
    """Mean line and 95% CI band over replicates of one side; ``get(ts)`` gives (x, y)."""
    x = get(runs[0])[0]
    mean, lo, hi = mean_ci(np.stack([get(ts)[1] for ts in runs]))
    ax.plot(x, mean, color=colour, label=label)
    ax.fill_between(x, lo, hi, color=colour, alpha=0.25, linewidth=0)


def _compare_panels(
    runs, labels, marks, path: Path, title: str, note: str, panels, share: bool = False, ncols: int = 1
) -> Path:
    """One panel per (series getter, panel title, y label), sides overlaid."""
    nrows = -(-len(panels) // ncols)
    fig, axes = _figure(title, nrows=nrows, ncols=ncols, size=(11, 3 * nrows + 1.2), note=note)
    for ax, (get, name, ylabel) in zip(axes, panels, strict=True):
        for side_runs, colour, label in zip(runs, SIDE_COLOURS, labels, strict=True):
            _band(ax, side_runs, get, colour, label)
        ax.set_title(name, fontsize=11, loc="left")
        _finish(ax, ylabel, share=share)
    _mark(axes, marks)
    _legend(fig, axes)
    return _save(fig, path)


def compare_harm_figure(runs, labels, marks, path: Path, note: str) -> Path:
    """Harm rate of both sides (30-day means) with their counterfactuals."""
    fig, (ax,) = _figure("Patient harm against the counterfactual", size=(11, 5.5), note=note)
    for side_runs, colour, label in zip(runs, SIDE_COLOURS, labels, strict=True):
        _band(
            ax,
            side_runs,
            lambda ts: (ts["day"], rolling_harm_rate(ts)),
            colour,
            f"{label} ({ROLLING_DAYS}-day mean)",
        )
        cf = np.mean([rolling_harm_rate(ts, counterfactual=True) for ts in side_runs], axis=0)
        ax.plot(
            side_runs[0]["day"],
            cf,
            "--",
            color=colour,
            linewidth=1,
            alpha=0.8,
            label=f"{label}: counterfactual without the intervention",
        )
    _finish(ax, _HARM)
    _mark([ax], marks)
    _legend(fig, [ax])
    return _save(fig, path)
