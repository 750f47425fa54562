"""Exploratory readings of single stylised facts: not preregistered, reported whichever way
they come out, each because its fact's design reads the claim one way only.

- SF10 against participation: the lasting effect against managers' measured
  participation, over their incentives and their keenness, since SF10's claim names
  participation and its arms set incentives.
- SF4 followed past its 24 months, since it reads spread on one day.
- SF7 as a curve of the shock's timing, since it compares two days.
- SF2 as a map of one budget: its budget divided between the levels in every way on a
  grid, at two weights of clinicians' incentive, since SF2 compares the equal split with
  the three corners only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .validation import Job, run_jobs
from .validation_analyses import COLOURS, ci, ci_over, fmt_ci, spearman


@functools.cache
def _fact(fact_id: str):
    """A fact's file (its arms, levers and windows), read once."""
    from .validation import load_facts

    return load_facts([fact_id])[0]


# -- SF10 against managers' participation -------------------------------------------------------

#: SF10 read as its claim states it ("the effect persists only above a threshold of
#: managerial participation"): over managers' own incentives (performance review and
#: recognition, each at these levels, the board's review link off as in SF10's arm without
#: them) and their keenness (``managers.bias`` times these factors), the lasting effect
#: against the participation that results, whatever brought it about.
PARTICIPATION_INCENTIVES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
PARTICIPATION_BIAS = (0.8, 1.0, 1.2)
PARTICIPATION_DAYS = 1095
PARTICIPATION_EFFECT = ("effect", (1005, 1095))  # months 34-36, as in SF10
#: Bins of participation (managers' mean QI priority after the facilitator leaves).
PARTICIPATION_BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass
class Participation:
    """One row per run: managers' incentive level, bias multiplier, participation, effect."""

    incentive: np.ndarray
    bias: np.ndarray
    participation: np.ndarray
    effect: np.ndarray
    window: tuple[int, int]  # days over which participation is measured
    replicates: int

    def bins(self) -> list[tuple[float, float, int, tuple[float, float, float] | None]]:
        """(low, high, runs, mean effect with its 95% CI or None) per bin of participation."""
        out = []
        edges = PARTICIPATION_BINS
        for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
            last = i == len(edges) - 2
            inside = (self.participation >= lo) & (
                (self.participation <= hi) if last else (self.participation < hi)
            )
            n = int(inside.sum())
            out.append((lo, hi, n, ci(self.effect[inside]) if n >= 2 else None))
        return out

    def rho(self) -> dict[str, float]:
        """Spearman's rho of the effect with participation, and with the incentive level."""
        return {
            "participation": spearman(self.participation, self.effect),
            "incentive": spearman(self.incentive, self.effect),
        }


def participation_jobs(replicates: int) -> list[Job]:
    """Every cell of managers' incentive level x bias multiplier on seeds 1..replicates (the
    same seeds in every cell), each run asking for participation after the facilitator
    leaves and the effect in months 34-36."""
    from .scenario import load_scenario

    base = load_scenario("aligned")
    bias, end = base["managers.bias"], int(base["facilitation.end_day"])
    needs = (("engagement_manager", (end, PARTICIPATION_DAYS)), PARTICIPATION_EFFECT)
    jobs = []
    for m in PARTICIPATION_BIAS:
        for x in PARTICIPATION_INCENTIVES:
            over = (
                f"incentives.manager.performance_review={x:g}",
                f"incentives.manager.recognition={x:g}",
                "actions.board.review_incentives=false",
                f"managers.bias={bias * m:.6g}",
                f"days={PARTICIPATION_DAYS}",
            )
            jobs += [("aligned", over, seed, needs) for seed in range(1, replicates + 1)]
    return jobs


def n_participation_runs(replicates: int) -> int:
    return len(PARTICIPATION_BIAS) * len(PARTICIPATION_INCENTIVES) * replicates


def participation(replicates: int, executor: Any = None, progress=None) -> Participation:
    """Run the grid of managers' incentives and keenness (seeds 1..replicates in each cell)."""
    jobs = participation_jobs(replicates)
    results = np.array(run_jobs(jobs, executor, progress), dtype=float)
    cells = [(m, x) for m in PARTICIPATION_BIAS for x in PARTICIPATION_INCENTIVES for _ in range(replicates)]
    return Participation(
        incentive=np.array([x for _, x in cells]),
        bias=np.array([m for m, _ in cells]),
        participation=results[:, 0],
        effect=results[:, 1],
        window=jobs[0][3][0][1],
        replicates=replicates,
    )


def participation_markdown(p: Participation) -> list[str]:
    lo, hi = p.window
    rho = p.rho()
    out = [
        "## SF10 against managers' participation (exploratory)",
        "",
        "SF10's claim is about managerial participation; its preregistered arms set managers' "
        "incentives. Here the incentives (performance review and recognition, each "
        f"{', '.join(f'{x:g}' for x in PARTICIPATION_INCENTIVES)}; the board's review link off, as in "
        "SF10's arm without them) and managers' keenness (`managers.bias` × "
        f"{', '.join(f'{m:g}' for m in PARTICIPATION_BIAS)}) vary on `aligned`, {p.replicates} seeds a "
        f"cell, {len(p.effect)} runs of {PARTICIPATION_DAYS} days. Participation is managers' mean QI "
        f"priority over days {lo}-{hi} (after the facilitator leaves); the effect is the relative "
        f"reduction of harm over days {PARTICIPATION_EFFECT[1][0]}-{PARTICIPATION_EFFECT[1][1]}, as in SF10. "
        "Not preregistered: a reading of the claim, reported whichever way it comes out.",
        "",
        "![participation](validation_participation.png)",
        "",
        "| participation | runs | effect, months 34-36 [95% CI] |",
        "|---|---|---|",
    ]
    for b_lo, b_hi, n, t in p.bins():
        out.append(f"| {b_lo:.1f}-{b_hi:.1f} | {n} | {fmt_ci(t) if t else '–'} |")
    out += [
        "",
        f"Spearman's rho of the effect with participation: {rho['participation']:.2f}; with the incentive "
        f"level: {rho['incentive']:.2f}. SF10's margin of no effect is ±0.05 and its lasting effect at "
        "least 0.1 (dashed lines in the figure).",
    ]
    return out


def participation_figure(p: Participation, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.subplots()
    for m, colour in zip(PARTICIPATION_BIAS, COLOURS * len(PARTICIPATION_BIAS), strict=False):
        sel = p.bias == m
        ax.scatter(
            p.participation[sel],
            p.effect[sel],
            s=14 + 40 * p.incentive[sel],
            color=colour,
            alpha=0.7,
            label=f"managers.bias ×{m:g}",
        )
    for y in (0.05, 0.1):
        ax.axhline(y, color="black", ls="--", lw=0.8)
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"managers' participation (mean QI priority, days {p.window[0]}-{p.window[1]})")
    ax.set_ylabel("relative reduction of harm, months 34-36")
    ax.legend(fontsize=8, title="size: managers' incentive", title_fontsize=8)
    ax.set_title("SF10: the lasting effect against managers' participation", fontsize=10)
    fig.savefig(path, dpi=110)


# -- SF4 followed past 24 months ----------------------------------------------------------------

#: SF4 measures spread on one day (days 700-730); here its three arms run to day 1095 and
#: the share of wards running the practice is read over the 30 days before each of these
#: days (exploratory: reported whichever way it comes out).
SPREAD_DAYS = 1095
SPREAD_ENDS = (180, 270, 365, 455, 545, 640, 730, 820, 910, 1000, 1095)


@dataclass
class SpreadOverTime:
    arms: tuple[str, ...]
    ends: tuple[int, ...]
    running: dict[str, np.ndarray]  # arm -> (seeds, len(ends)): share of wards running it
    facilitator_leaves: int
    measured: tuple[int, int]  # SF4's own window

    def mean_ci(self, arm: str) -> np.ndarray:
        """(len(ends), 3): mean and 95% CI over seeds at each day."""
        return ci_over(self.running[arm], 0)

    def difference(self, a: str, b: str) -> np.ndarray:
        """(len(ends), 3): paired difference a - b over seeds at each day, mean and 95% CI."""
        return ci_over(self.running[a] - self.running[b], 0)


def _sf4():
    """SF4's fact file (its arms and its window)."""
    return _fact("SF4")


def spread_jobs(replicates: int) -> tuple[list[Job], tuple[str, ...]]:
    """SF4's arms (from its fact file) on seeds 1..replicates, to day SPREAD_DAYS."""
    fact = _sf4()
    needs = tuple(("wards_running", (end - 30, end)) for end in SPREAD_ENDS)
    jobs = []
    for scenario, over in fact.arms.values():
        over = (*over, f"days={SPREAD_DAYS}")
        jobs += [(scenario, over, seed, needs) for seed in range(1, replicates + 1)]
    return jobs, tuple(fact.arms)


def n_spread_runs(replicates: int) -> int:
    return len(_sf4().arms) * replicates


def spread_over_time(replicates: int, executor: Any = None, progress=None) -> SpreadOverTime:
    from .scenario import load_scenario

    jobs, arms = spread_jobs(replicates)
    results = np.array(run_jobs(jobs, executor, progress), dtype=float).reshape(len(arms), replicates, -1)
    fact = _sf4()
    scenario, over = fact.arms[arms[0]]
    leaves = int(load_scenario(scenario, list(over))["facilitation.end_day"])
    window = next(t.window for h in fact.hypotheses for t in h.terms)
    return SpreadOverTime(arms, SPREAD_ENDS, dict(zip(arms, results, strict=True)), leaves, tuple(window))


def spread_markdown(s: SpreadOverTime) -> list[str]:
    top, bottom = "top_down", "bottom_up"
    diff = s.difference(top, bottom) if top in s.running and bottom in s.running else None
    reps = next(iter(s.running.values())).shape[0]
    out = [
        "## SF4 followed past 24 months (exploratory)",
        "",
        f"SF4's three arms run to day {SPREAD_DAYS} on seeds 1..{reps}; the share of wards running the "
        f"practice over the 30 days before each day. SF4 itself reads days {s.measured[0]}-{s.measured[1]}; "
        f"the hospital's QI team leaves on day {s.facilitator_leaves}. Not preregistered: reported "
        "whichever way it comes out.",
        "",
        "![spread over time](validation_spread.png)",
        "",
        "| day | "
        + " | ".join(s.arms)
        + (" | top-down − bottom-up [95% CI] |" if diff is not None else " |"),
        "|---" * (len(s.arms) + 1 + (diff is not None)) + "|",
    ]
    means = {a: s.mean_ci(a) for a in s.arms}
    for j, end in enumerate(s.ends):
        row = f"| {end} | " + " | ".join(f"{means[a][j, 0]:.2f}" for a in s.arms)
        if diff is not None:
            row += f" | {fmt_ci(tuple(diff[j]), True)}"
        out.append(row + " |")
    return out


def _curves_with_bands(ax, x, curves: dict[str, np.ndarray]) -> None:
    """One line (mean) with a shaded 95% CI per label; ``curves[label]`` is (len(x), 3)."""
    for (label, m), colour in zip(curves.items(), COLOURS * len(curves), strict=False):
        ax.plot(x, m[:, 0], marker="o", ms=3, color=colour, label=label)
        ax.fill_between(x, m[:, 1], m[:, 2], color=colour, alpha=0.2, lw=0)


def spread_figure(s: SpreadOverTime, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.subplots()
    _curves_with_bands(ax, s.ends, {arm.replace("_", "-"): s.mean_ci(arm) for arm in s.arms})
    ax.axvspan(*s.measured, color="grey", alpha=0.2, lw=0, label="SF4's window")
    ax.axvline(s.facilitator_leaves, color="black", ls=":", lw=1, label="QI team leaves")
    ax.set_ylim(0, 1)
    ax.set_xlabel("day")
    ax.set_ylabel("share of wards running the practice")
    ax.legend(fontsize=8)
    ax.set_title("SF4 followed past 24 months (mean and 95% CI over seeds)", fontsize=10)
    fig.savefig(path, dpi=110)


# -- SF7 as a curve of the shock's timing ---------------------------------------------------------

#: SF7 compares two days; here the merger of ``merger_shock`` (its own duration and
#: strength) starts on each of these days, and the lasting loss of adoption against no
#: merger is read over the 30 days from six months after its pressure ends (SF7's windows
#: for days 90 and 450), with clinicians' keenness (``clinicians.bias``) times each factor
#: (exploratory: reported whichever way it comes out).
SHOCK_DAYS = (30, 90, 150, 210, 270, 330, 390, 450)
SHOCK_BIAS = (0.8, 1.0, 1.2)
SHOCK_AFTER = 180  # days from the end of the merger's pressure to the window


@dataclass
class ShockTiming:
    days: tuple[int, ...]
    bias: tuple[float, ...]
    loss: np.ndarray  # (bias, days, seeds): adoption without the merger minus with it
    duration: int

    def mean_ci(self) -> np.ndarray:
        """(bias, days, 3): the mean loss and its 95% CI over seeds."""
        return ci_over(self.loss, 2)


def _shock_window(day: int, duration: int) -> tuple[int, int]:
    start = day + duration + SHOCK_AFTER
    return (start, start + 30)


def shock_jobs(replicates: int) -> tuple[list[Job], int]:
    """Per keenness factor: the run without the merger, then one per start day, each on
    seeds 1..replicates, every run reading every window (so each loss is paired by seed)."""
    from .scenario import load_scenario

    base = load_scenario("merger_shock")
    duration, bias = int(base.events[0]["duration"]), base["clinicians.bias"]
    windows = tuple(_shock_window(d, duration) for d in SHOCK_DAYS)
    days = windows[-1][1]
    needs = tuple(("adoption", w) for w in windows)
    jobs = []
    for m in SHOCK_BIAS:
        common = (f"clinicians.bias={bias * m:.6g}", f"days={days}")
        for over in [("events.0.strength=0.0",), *((f"events.0.day={d}",) for d in SHOCK_DAYS)]:
            jobs += [("merger_shock", (*over, *common), seed, needs) for seed in range(1, replicates + 1)]
    return jobs, duration


def n_shock_runs(replicates: int) -> int:
    return len(SHOCK_BIAS) * (1 + len(SHOCK_DAYS)) * replicates


def shock_timing(replicates: int, executor: Any = None, progress=None) -> ShockTiming:
    jobs, duration = shock_jobs(replicates)
    res = np.array(run_jobs(jobs, executor, progress), dtype=float)
    res = res.reshape(len(SHOCK_BIAS), 1 + len(SHOCK_DAYS), replicates, len(SHOCK_DAYS))
    no_shock, shocked = res[:, 0], res[:, 1:]  # (bias, seeds, windows), (bias, days, seeds, windows)
    # each start day's loss over its own window k: no merger minus the merger, per seed
    loss = np.stack([no_shock[:, :, k] - shocked[:, k, :, k] for k in range(len(SHOCK_DAYS))], axis=1)
    return ShockTiming(SHOCK_DAYS, SHOCK_BIAS, loss, duration)


def shock_markdown(s: ShockTiming) -> list[str]:
    m = s.mean_ci()
    reps = s.loss.shape[2]
    out = [
        "## SF7 as a curve of the shock's timing (exploratory)",
        "",
        f"The merger of `merger_shock` ({s.duration} days) starts on each day below; the lasting loss "
        f"is adoption without the merger minus with it, over the 30 days from {SHOCK_AFTER} days after its "
        "pressure ends (SF7's windows for its early and late mergers, days 90 and 450), paired by seed "
        f"(seeds 1..{reps}), with clinicians' keenness `clinicians.bias` × "
        f"{', '.join(f'{b:g}' for b in s.bias)}. Not preregistered: reported whichever way it comes out.",
        "",
        "![shock timing](validation_shock_timing.png)",
        "",
        "| merger starts on day | " + " | ".join(f"`clinicians.bias` ×{b:g}" for b in s.bias) + " |",
        "|---" * (len(s.bias) + 1) + "|",
    ]
    for j, day in enumerate(s.days):
        out.append(f"| {day} | " + " | ".join(fmt_ci(tuple(m[i, j])) for i in range(len(s.bias))) + " |")
    return out


def shock_figure(s: ShockTiming, path: Path) -> None:
    from matplotlib.figure import Figure

    m = s.mean_ci()
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.subplots()
    _curves_with_bands(ax, s.days, {f"clinicians.bias ×{b:g}": m[i] for i, b in enumerate(s.bias)})
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xlabel("day the merger starts")
    ax.set_ylabel(f"lasting loss of adoption ({SHOCK_AFTER}-{SHOCK_AFTER + 30} days after it ends)")
    ax.legend(fontsize=8)
    ax.set_title("SF7: lasting loss against the shock's timing (mean and 95% CI)", fontsize=10)
    fig.savefig(path, dpi=110)


# -- SF2 as a map of one budget's allocation ------------------------------------------------------

#: SF2 sets the same total incentive on one level or splits it equally; here its budget is
#: divided between the three levels in every way on a grid (each level's share in steps of
#: a sixth of the budget, split equally between the level's levers), on SF2's scenario,
#: horizon and outcome, once with clinicians' incentive weighing what it does and once as
#: much per unit as a manager's performance review (exploratory: reported whichever way it
#: comes out).
ALLOCATION_STEPS = 6
#: How the report names each incentive table's level.
LEVEL_NAMES = {"clinician": "clinicians", "manager": "managers", "board": "the board"}


@dataclass
class Allocation:
    levels: tuple[str, ...]  # the incentive tables, e.g. ("clinician", "manager", "board")
    shares: np.ndarray  # (allocations, levels): units of the budget given to each level
    weights: tuple[float, ...]  # clinicians.w_incentive of each map
    fidelity: np.ndarray  # (weights, allocations, seeds): SF2's outcome
    budget: float
    window: tuple[int, int]

    def mean(self) -> np.ndarray:
        """(weights, allocations): mean fidelity over seeds."""
        return self.fidelity.mean(axis=2)

    def equal(self) -> int:
        """The equal split (SF2's aligned arm)."""
        return int(np.argmin(np.ptp(self.shares, axis=1)))

    def corner(self, level: str) -> int:
        """The whole budget on one level (one of SF2's single-level arms)."""
        return int(np.argmax(self.shares[:, self.levels.index(level)]))

    def best(self, w: int) -> int:
        return int(np.argmax(self.mean()[w]))

    def against(self, w: int, a: int, b: int) -> tuple[float, float, float]:
        """Fidelity of allocation a minus b under weight w, paired by seed: mean and 95% CI."""
        return ci(self.fidelity[w, a] - self.fidelity[w, b])

    def label(self, a: int) -> str:
        return "/".join(f"{round(x, 2):g}" for x in self.shares[a])


def _sf2():
    """SF2's fact file (its arms, levers and window)."""
    return _fact("SF2")


def allocation_grid() -> tuple[tuple[str, ...], dict[str, list[str]], np.ndarray, float]:
    """SF2's levels and levers (from its equal-split arm) and every division of its budget
    on the grid: (levels, levers per level, shares (allocations, levels), budget)."""
    fact = _sf2()
    _, over = next(iter(fact.arms.values()))
    levers: dict[str, list[str]] = {}
    budget = 0.0
    for item in over:
        key, value = item.split("=")
        if key.startswith("incentives."):
            levers.setdefault(key.split(".")[1], []).append(key)
            budget += float(value)
    budget = round(budget, 2)
    levels = tuple(levers)
    n = ALLOCATION_STEPS
    grid = [(i, j, n - i - j) for i in range(n + 1) for j in range(n + 1 - i)]
    return levels, levers, np.array(grid, dtype=float) * budget / n, budget


def allocation_weights() -> tuple[float, float]:
    from .scenario import load_scenario

    base = load_scenario(next(iter(_sf2().arms.values()))[0])
    return (float(base["clinicians.w_incentive"]), float(base["managers.w_review"]))


def n_allocation_runs(replicates: int) -> int:
    return (ALLOCATION_STEPS + 1) * (ALLOCATION_STEPS + 2) // 2 * len(allocation_weights()) * replicates


def allocation(replicates: int, executor: Any = None, progress=None) -> Allocation:
    fact = _sf2()
    scenario = next(iter(fact.arms.values()))[0]
    levels, levers, shares, budget = allocation_grid()
    weights = allocation_weights()
    window = tuple(next(t.window for h in fact.hypotheses for t in h.terms if t.outcome == "fidelity"))
    needs = (("fidelity", window),)
    jobs = []
    for w in weights:
        for row in shares:
            over = tuple(
                f"{key}={units / len(levers[level]):.6g}"
                for level, units in zip(levels, row, strict=True)
                for key in levers[level]
            )
            over += (f"clinicians.w_incentive={w:g}", f"days={fact.days}")
            jobs += [(scenario, over, seed, needs) for seed in range(1, replicates + 1)]
    res = np.array(run_jobs(jobs, executor, progress), dtype=float)
    fidelity = res.reshape(len(weights), len(shares), replicates)
    return Allocation(levels, shares, weights, fidelity, budget, window)  # type: ignore[arg-type]


def _where(a: Allocation, i: int) -> str:
    given = int(np.count_nonzero(a.shares[i] > 1e-9))
    return {1: "a single level", 2: "two levels"}.get(given, "all three levels")


def allocation_markdown(a: Allocation) -> list[str]:
    reps = a.fidelity.shape[2]
    eq = a.equal()
    names = " / ".join(LEVEL_NAMES.get(lvl, lvl) for lvl in a.levels)
    out = [
        "## SF2 as a map of one budget's allocation (exploratory)",
        "",
        f"SF2's budget ({a.budget:g} units: its equal-split arm's levers) divided between the levels in "
        f"every way in steps of {a.budget / ALLOCATION_STEPS:.2g} unit, each level's share split equally "
        f"between its levers, on SF2's scenario and horizon, seeds 1..{reps}; the outcome is SF2's, fidelity "
        f"over days {a.window[0]}-{a.window[1]}. Twice: with clinicians' incentive weighing "
        f"`clinicians.w_incentive` = {a.weights[0]:g} logit per unit (its value), and "
        f"{a.weights[1]:g}, as much as a unit of managers' performance review (`managers.w_review`). "
        f"Allocations are written {names} (units). Not preregistered: reported whichever way it comes out.",
        "",
        "![allocation](validation_allocation.png)",
        "",
        "| `clinicians.w_incentive` | equal split | "
        + " | ".join(f"all to {LEVEL_NAMES.get(lvl, lvl)}" for lvl in a.levels)
        + " | best allocation | equal split − best [95% CI] | within 0.05 of the best |",
        "|---" * (len(a.levels) + 5) + "|",
    ]
    m = a.mean()
    for w, weight in enumerate(a.weights):
        best = a.best(w)
        close = int(np.count_nonzero(m[w] >= m[w, best] - 0.05))
        out.append(
            f"| {weight:g} | {m[w, eq]:.2f} | "
            + " | ".join(f"{m[w, a.corner(lvl)]:.2f}" for lvl in a.levels)
            + f" | {a.label(best)}: {m[w, best]:.2f} ({_where(a, best)}) | "
            f"{fmt_ci(a.against(w, eq, best), True)} | {close} of {len(a.shares)} |"
        )
    return out


def allocation_figure(a: Allocation, path: Path) -> None:
    from matplotlib.figure import Figure

    m = a.mean()
    frac = a.shares / a.budget
    x = frac[:, 2] + frac[:, 1] / 2  # barycentric: level 0 at (0, 0), level 2 at (1, 0), level 1 on top
    y = frac[:, 1] * np.sqrt(3) / 2
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    axes = fig.subplots(1, len(a.weights))
    lo, hi = float(m.min()), float(m.max())
    for w, ax in enumerate(np.atleast_1d(axes)):
        dots = ax.scatter(x, y, c=m[w], s=260, cmap="viridis", vmin=lo, vmax=hi, edgecolors="none")
        eq, best = a.equal(), a.best(w)
        ax.scatter(x[eq], y[eq], s=420, facecolors="none", edgecolors="black", lw=1.5, label="equal split")
        ax.scatter(x[best], y[best], s=160, marker="*", color="#d95f02", label="best")
        for (cx, cy), lvl in zip(((0, 0), (0.5, np.sqrt(3) / 2), (1, 0)), a.levels, strict=True):
            ax.annotate(
                f"all to {LEVEL_NAMES.get(lvl, lvl)}",
                (cx, cy),
                textcoords="offset points",
                xytext=(0, -16 if cy == 0 else 10),
                ha="center",
                fontsize=8,
            )
        ax.set_xlim(-0.12, 1.12)
        ax.set_ylim(-0.12, 1.0)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.legend(fontsize=8, loc="upper right")
        ax.set_title(f"clinicians.w_incentive = {a.weights[w]:g}", fontsize=10)
    fig.colorbar(dots, ax=axes, label=f"fidelity, days {a.window[0]}-{a.window[1]} (mean over seeds)")
    fig.suptitle(f"SF2: one budget of {a.budget:g} units divided between the levels", fontsize=11)
    fig.savefig(path, dpi=110)


# -- the readings, in the report's order ----------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """One exploratory reading: how the suite runs it and writes it up."""

    name: str  # the Suite's field, and the suite size "<name>_replicates"
    label: str  # of its progress bar
    n_runs: Callable[[int], int]
    run: Callable[..., Any]  # (replicates, executor, progress) -> its result
    markdown: Callable[[Any], list[str]]
    figure: Callable[[Any, Path], None]
    figure_file: str


READINGS = (
    Reading(
        "participation",
        "participation",
        n_participation_runs,
        participation,
        participation_markdown,
        participation_figure,
        "validation_participation.png",
    ),
    Reading(
        "spread",
        "SF4 over time",
        n_spread_runs,
        spread_over_time,
        spread_markdown,
        spread_figure,
        "validation_spread.png",
    ),
    Reading(
        "shock",
        "SF7 timing",
        n_shock_runs,
        shock_timing,
        shock_markdown,
        shock_figure,
        "validation_shock_timing.png",
    ),
    Reading(
        "allocation",
        "SF2 allocations",
        n_allocation_runs,
        allocation,
        allocation_markdown,
        allocation_figure,
        "validation_allocation.png",
    ),
)
