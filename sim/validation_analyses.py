"""The paper's central claim and the open questions of the model's design, as analyses
reported whichever way they come out, and how many replicates the suite needs.

- Central claim: over a Latin hypercube of the seven incentive keys (all three levels)
  around ``aligned``, one run per point, how well does the alignment index over the
  facilitated months predict sustainment at 12 months on held-out runs, against each
  single level's engagement and the weakest level's?  Spearman rank correlation and
  out-of-sample R^2 of a straight line fitted on the other half, with bootstrap 95% CIs;
  twice, with each key from 0 to 1 (generous: most runs sustain) and from 0 to 0.5
  (scarce: sustainment spreads over its range).
- Q1 weakest vs average level; Q2 issues resolved in the first 8 weeks vs baseline
  engagement (both over the same hypercubes); Q3 raising more issues with and without
  managers' capacity; Q4 regulator endorsement and the spread between wards.
- SF10 against participation (exploratory): the lasting effect against managers' measured
  participation, over their incentives and their keenness, since SF10's claim names
  participation and its arms set incentives; SF4 followed past its 24 months, since it
  reads spread on one day; SF7 as a curve of the shock's timing, since it compares two
  days (all three exploratory).
- SF2 as a map (exploratory): its budget divided between the levels in every way on a grid,
  since SF2 compares the equal split with the three corners only.
- Replicates: how the 95% CI of each fact's statistic narrows as seeds are added.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .stats import mean_ci
from .validation import HypothesisResult, Job, run_jobs

INCENTIVES = (
    "incentives.clinician.recognition",
    "incentives.clinician.career_credit",
    "incentives.clinician.performance_management",
    "incentives.manager.performance_review",
    "incentives.manager.recognition",
    "incentives.board.quality_metrics",
    "incentives.board.protected_quality_time",
)
#: Predictors, measured over the facilitated months (days 0-180), and the outcome.
EARLY = (0, 180)
PREDICTORS = {
    "alignment": ("alignment", EARLY),
    "clinicians": ("engagement_clinician", EARLY),
    "managers": ("engagement_manager", EARLY),
    "board": ("engagement_board", EARLY),
    "weakest level": ("engagement_min", EARLY),
    "average level": ("engagement_avg", EARLY),
    "resolved in 8 weeks": ("resolved_share", (0, 56)),
    "baseline engagement": ("engagement_avg", (0, 14)),
}
OUTCOME = ("sustainment", (275, 365))  # 12 months: adoption over months 10-12 / peak
HORIZON = 365
BOOTSTRAP = 1000
#: The central claim's two hypercubes: each incentive key from 0 to this value. With keys up
#: to 1 (on average 3.5 units in all, more than ``aligned``'s 3) most runs sustain and the
#: outcome sits near its ceiling; up to 0.5, sustainment spreads over most of its range.
INCENTIVE_TOPS = (1.0, 0.5)
#: Colours of the curves of a figure, in order.
COLOURS = ("#1b9e77", "#7570b3", "#d95f02", "#666666")


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    def ranks(a: np.ndarray) -> np.ndarray:
        order = np.argsort(a, kind="stable")
        r = np.empty(len(a))
        _, first, counts = np.unique(a[order], return_index=True, return_counts=True)
        r[order] = np.repeat(first + (counts - 1) / 2.0, counts)
        return r

    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


def r2_out_of_sample(x_train, y_train, x_test, y_test) -> float:
    slope, intercept = np.polyfit(x_train, y_train, 1) if np.ptp(x_train) > 0 else (0.0, y_train.mean())
    resid = y_test - (slope * x_test + intercept)
    total = ((y_test - y_test.mean()) ** 2).sum()
    return float(1.0 - (resid**2).sum() / total) if total > 0 else 0.0


def boot_ci(stat, n: int, seed: int = 7) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    vals = [stat(rng.integers(0, n, n)) for _ in range(BOOTSTRAP)]
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


# -- the hypercube of incentives --------------------------------------------------------------


def lhs_jobs(points: int, seed: int = 716, top: float = 1.0) -> list[Job]:
    """One run per point of a Latin hypercube over the incentive keys, each from 0 to
    ``top`` (SALib through sim.experiments), each on its own seed."""
    from .experiments.design import build_design
    from .experiments.experiment import parse_experiment

    raw = {
        "scenario": "aligned",
        "horizon": HORIZON,
        "replicates": 1,
        "design": {"method": "latin", "samples": points, "seed": seed},
        "factors": {k: {"min": 0.0, "max": top} for k in INCENTIVES},
    }
    exp = parse_experiment(raw, "central claim")
    design = build_design(exp)
    needs = tuple(dict.fromkeys([*PREDICTORS.values(), OUTCOME]))
    jobs = []
    for p in range(len(design)):
        over = tuple(f"{k}={v}" for k, v in design.overrides(p).items()) + (f"days={HORIZON}",)
        jobs.append(("aligned", over, 1000 + p, needs))
    return jobs


@dataclass
class Claim:
    top: float  # each incentive key ran from 0 to this
    n: int
    y: np.ndarray
    x: dict[str, np.ndarray]
    test: np.ndarray  # held-out runs (odd points)
    rho: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    r2: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    diffs: dict[str, tuple[float, float, float]] = field(default_factory=dict)


def central_claim(jobs: list[Job], results: list, top: float = 1.0) -> Claim:
    needs = jobs[0][3]
    vals = [dict(zip(needs, r, strict=True)) for r in results]
    y = np.array([v[OUTCOME] for v in vals])
    x = {name: np.array([v[need] for v in vals]) for name, need in PREDICTORS.items()}
    idx = np.arange(len(y))
    train, test = idx[idx % 2 == 0], idx[idx % 2 == 1]
    c = Claim(top, len(y), y, x, test)
    yt = y[test]
    for name, xs in x.items():
        xt = xs[test]
        est = spearman(xt, yt)
        c.rho[name] = (est, *boot_ci(lambda i, xt=xt: spearman(xt[i], yt[i]), len(test)))
        fit = r2_out_of_sample(xs[train], y[train], xt, yt)
        slope, icpt = np.polyfit(xs[train], y[train], 1) if np.ptp(xs[train]) > 0 else (0.0, y[train].mean())

        def r2_of(i, xt=xt, slope=slope, icpt=icpt):
            resid = yt[i] - (slope * xt[i] + icpt)
            total = ((yt[i] - yt[i].mean()) ** 2).sum()
            return 1.0 - (resid**2).sum() / total if total > 0 else 0.0

        c.r2[name] = (fit, *boot_ci(r2_of, len(test)))

    def diff(a: str, b: str, where: np.ndarray) -> tuple[float, float, float]:
        xa, xb, yy = x[a][where], x[b][where], y[where]
        est = spearman(xa, yy) - spearman(xb, yy)
        return (est, *boot_ci(lambda i: spearman(xa[i], yy[i]) - spearman(xb[i], yy[i]), len(where)))

    best_single = max(("clinicians", "managers", "board"), key=lambda k: c.rho[k][0])
    c.diffs["alignment - best single level (held out)"] = diff("alignment", best_single, test)
    c.diffs["alignment - weakest level (held out)"] = diff("alignment", "weakest level", test)
    c.diffs["Q1: weakest - average level"] = diff("weakest level", "average level", idx)
    c.diffs["Q2: resolved in 8 weeks - baseline engagement"] = diff(
        "resolved in 8 weeks", "baseline engagement", idx
    )
    c.best_single = best_single  # type: ignore[attr-defined]
    return c


# -- Q3, Q4: paired arms -------------------------------------------------------------------------

Q3_ARMS = {
    (cap, raise_): (
        "aligned",
        (f"managers.operational_demand={d}", f"interventions.0.issues_per_session={ips}", "days=545"),
    )
    for cap, d in (("capacity", 1.0), ("no capacity", 3.5))
    for raise_, ips in (("few issues", 1.5), ("many issues", 6.0))
}
Q3_NEEDS = (("sustainment", (455, 545)), ("abandon_day", (0, 545)))
Q4_ARMS = {
    "endorsed": ("regulator_endorsement", ("days=600",)),
    "not endorsed": ("regulator_endorsement", ("events.0.strength=0.0", "days=600")),
}
Q4_NEEDS = (
    ("ward_sd:engagement_manager", (180, 240)),
    ("ward_sd:engagement_manager", (360, 600)),
    ("ward_sd:adoption", (180, 240)),
    ("ward_sd:adoption", (360, 600)),
)


def arm_jobs(arms: dict, needs: tuple, replicates: int) -> tuple[list[Job], list]:
    jobs, keys = [], []
    for name, (scenario, over) in arms.items():
        for seed in range(1, replicates + 1):
            jobs.append((scenario, over, seed, needs))
            keys.append((name, seed))
    return jobs, keys


def paired(results: list, keys: list, needs: tuple) -> dict:
    out: dict = {}
    for (name, _seed), r in zip(keys, results, strict=True):
        for need, value in zip(needs, r, strict=True):
            out.setdefault((name, need), []).append(value)
    return {k: np.array(v) for k, v in out.items()}


def ci(x: np.ndarray) -> tuple[float, float, float]:
    return tuple(float(v) for v in mean_ci(x))  # type: ignore[return-value]


def ci_over(x: np.ndarray, axis: int) -> np.ndarray:
    """:func:`ci` of every slice of ``x`` along ``axis`` (the seeds): that axis replaced
    by a last one of (mean, low, high)."""
    return np.moveaxis(np.apply_along_axis(ci, axis, x), axis, -1)


def q3(values: dict) -> dict[str, dict[str, tuple[float, float, float]]]:
    out = {}
    for need in Q3_NEEDS:
        row = {}
        for cap in ("capacity", "no capacity"):
            row[cap] = ci(values[((cap, "many issues"), need)] - values[((cap, "few issues"), need)])
        row["interaction"] = ci(
            (values[(("capacity", "many issues"), need)] - values[(("capacity", "few issues"), need)])
            - (values[(("no capacity", "many issues"), need)] - values[(("no capacity", "few issues"), need)])
        )
        out[need[0]] = row
    return out


def q4(values: dict) -> dict[str, tuple[float, float, float]]:
    out = {}
    for col in ("engagement_manager", "adoption"):
        before, after = (f"ward_sd:{col}", (180, 240)), (f"ward_sd:{col}", (360, 600))
        change = {a: values[(a, after)] - values[(a, before)] for a in Q4_ARMS}
        out[col] = ci(change["endorsed"] - change["not endorsed"])
    return out


# -- replicates -----------------------------------------------------------------------------------


def replicate_curves(results: list[HypothesisResult]) -> tuple[np.ndarray, dict[str, np.ndarray], dict]:
    """Half-width of each hypothesis' 95% CI with the first n seeds, scaled by its
    threshold (min_effect or margin, or 1 if neither), and how often the verdict with n
    seeds agrees with the verdict with all of them."""
    n_max = min(len(r.values) for r in results)
    ns = np.arange(3, n_max + 1)
    curves, agree = {}, {}
    for r in results:
        h = r.hypothesis
        scale = max(h.min_effect, h.margin) or 1.0
        widths = []
        for n in ns:
            m, lo, hi = mean_ci(r.values[:n])
            widths.append((hi - lo) / 2 / scale)
        curves[f"{r.fact} {h.name}"] = np.array(widths)
    for n in ns:
        same = 0
        for r in results:
            m, lo, hi = mean_ci(r.values[:n])
            same += r.hypothesis.verdict(float(m), float(lo), float(hi)) == r.passed
        agree[int(n)] = same / len(results)
    return ns, curves, agree


def replicates_markdown(ns, curves, agree, default: int) -> list[str]:
    if not len(ns):
        return [
            "## How many replicates",
            "",
            "Too few seeds to show how the intervals settle (3 or more needed).",
        ]
    at = {int(n): np.median([c[i] for c in curves.values()]) for i, n in enumerate(ns)}
    rows = [n for n in (3, 5, 10, 15, 20, 30) if n in at]
    out = [
        "## How many replicates",
        "",
        "Each fact's statistic recomputed with its first n seeds: the half-width of its 95% CI",
        "(scaled by the hypothesis' threshold: its minimum effect or margin) and the share of",
        f"hypotheses whose verdict with n seeds is the verdict with all {int(ns[-1])}.",
        "",
        "![replicates](validation_replicates.png)",
        "",
        "| seeds | median CI half-width / threshold | verdicts as with all seeds |",
        "|---|---|---|",
    ]
    out += [f"| {n} | {at[n]:.2f} | {agree[n]:.0%} |" for n in rows]
    total = int(ns[-1])
    stable = next((n for n in sorted(agree) if all(agree[m] == 1.0 for m in agree if m >= n)), None)
    if stable is not None and stable < total:
        text = (
            f"From {stable} seeds on, every verdict is the one reached with all {total}; beyond that, "
            "more seeds narrow the intervals (about as 1/sqrt(n)) without changing a verdict, and cost "
            "time linearly"
            + (
                f". The default of {default} leaves a margin above {stable}, so that a fact near its "
                "threshold is not decided by the last few seeds."
                if default > stable
                else f". The default of {default} is no more than that: raise the facts' replicates."
            )
        )
    else:  # the verdicts agree only once every seed is in: some are decided by the last seeds
        last = max((n for n in agree if n < total), default=None)
        text = (
            "Some verdicts change until the last seeds"
            + (f" (with {last}, {agree[last]:.0%} are as with all {total})" if last is not None else "")
            + ": the facts concerned sit near their thresholds, and more seeds would settle them "
            "(the intervals narrow about as 1/sqrt(n), and the time grows linearly)."
        )
    out += ["", f"The suite's default is {default} seeds per arm (each fact file's `replicates`). " + text]
    return out


def replicates_figure(ns, curves, agree, path: Path) -> None:
    from matplotlib.figure import Figure

    if not len(ns):
        return

    fig = Figure(figsize=(10, 4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for c in curves.values():
        ax1.plot(ns, c, lw=1, alpha=0.7)
    ax1.plot(ns, np.median(np.array(list(curves.values())), axis=0), color="black", lw=2.5, label="median")
    ax1.axhline(1.0, color="grey", ls="--", lw=1)
    ax1.set_yscale("log")
    ax1.set_xlabel("seeds per arm")
    ax1.set_ylabel("95% CI half-width / threshold")
    ax1.legend()
    ax2.plot(list(agree), list(agree.values()), "o-", color="#1b9e77")
    ax2.set_ylim(0, 1.05)
    ax2.set_xlabel("seeds per arm")
    ax2.set_ylabel("verdicts as with all seeds")
    fig.suptitle("How the facts' confidence intervals settle as replicates grow")
    fig.savefig(path, dpi=110)


# -- report ----------------------------------------------------------------------------------------


def _fmt(t: tuple[float, float, float], pct: bool = False) -> str:
    if pct:
        return f"{t[0]:+.2f} [{t[1]:+.2f}, {t[2]:+.2f}]"
    return f"{t[0]:.2f} [{t[1]:.2f}, {t[2]:.2f}]"


def answer(t: tuple[float, float, float], yes: str, no: str, unclear: str) -> str:
    if t[1] > 0:
        return yes
    if t[2] < 0:
        return no
    return unclear


def _keys(c: Claim) -> str:
    return f"keys 0-{c.top:g}"


def _spread_of(c: Claim) -> str:
    q = np.percentile(c.y[c.test], [25, 50, 75])
    return f"median {q[1]:.2f} (IQR {q[0]:.2f}-{q[2]:.2f}) with {_keys(c)}"


def markdown(claims: list[Claim], q3r: dict, q4r: dict, q_reps: int) -> list[str]:
    c = claims[0]
    tops = " and ".join(f"0 to {k.top:g}" for k in claims)
    out = [
        "## The central claim: does alignment predict sustainment?",
        "",
        f"Latin hypercubes of {c.n} points over the seven incentive keys of all three levels around",
        f"`aligned`, each key from {tops} (the same design scaled, on the same seeds), one run of",
        f"{HORIZON} days per point. Predictors are measured over the facilitated months (days",
        f"{EARLY[0]}-{EARLY[1]}); the outcome is sustainment at 12 months (mean adoption over days",
        "275-365 / peak). Spearman's rho and R^2 of a straight line are computed on held-out runs",
        f"(the {len(c.test)} odd points; the line is fitted on the even ones), with bootstrap 95% CIs",
        f"({BOOTSTRAP} resamples). Sustainment over the held-out runs: "
        + "; ".join(_spread_of(k) for k in claims)
        + ". Where most runs sit at the ceiling, R^2 of a line says little and rho ranks small differences.",
        "",
        "![central claim](validation_central_claim.png)",
        "",
        "| predictor (days 0-180) | "
        + " | ".join(f"rho, {_keys(k)} [95% CI] | R^2, {_keys(k)} [95% CI]" for k in claims)
        + " |",
        "|---|" + "---|---|" * len(claims),
    ]
    for name in ("alignment", "clinicians", "managers", "board", "weakest level", "average level"):
        out.append(
            f"| {name} | " + " | ".join(f"{_fmt(k.rho[name])} | {_fmt(k.r2[name])}" for k in claims) + " |"
        )
    out.append("")
    for k in claims:
        d1 = k.diffs["alignment - best single level (held out)"]
        d2 = k.diffs["alignment - weakest level (held out)"]
        best = k.best_single  # type: ignore[attr-defined]
        out += [
            f"With {_keys(k)}: alignment minus the best single level ({best}), difference of rho: "
            f"{_fmt(d1, True)}: "
            + answer(
                d1,
                "alignment predicts sustainment better than any single level.",
                f"alignment predicts sustainment worse than the {best}' engagement alone.",
                "no clear difference.",
            )
            + f" Alignment minus the weakest level: {_fmt(d2, True)}: "
            + answer(
                d2, "alignment predicts better.", "the weakest level predicts better.", "no clear difference."
            ),
            "",
        ]
    out += ["## Open questions", "", "![questions](validation_questions.png)", ""]
    q1s = "; ".join(
        f"{_fmt(k.diffs['Q1: weakest - average level'], True)} with {_keys(k)}: "
        + answer(
            k.diffs["Q1: weakest - average level"],
            "yes, the weakest level tracks it more",
            "no, the average tracks it more",
            "no clear difference",
        )
        for k in claims
    )
    q2s = "; ".join(
        f"rho = {k.rho['resolved in 8 weeks'][0]:.2f} against {k.rho['baseline engagement'][0]:.2f} "
        f"(held out) with {_keys(k)}, over all runs a difference of "
        f"{_fmt(k.diffs['Q2: resolved in 8 weeks - baseline engagement'], True)}: "
        + answer(
            k.diffs["Q2: resolved in 8 weeks - baseline engagement"],
            "yes",
            "no, baseline engagement predicts better",
            "no clear difference",
        )
        for k in claims
    )
    out += [
        "**Does sustainment track the weakest level's engagement more than the average?** Over all "
        f"{c.n} runs of each hypercube, rho(weakest) - rho(average) = {q1s}.",
        "",
        "**Does the share of issues resolved in the first 8 weeks predict 12-month sustainment better than "
        f"baseline engagement (days 0-14)?** {q2s}.",
        "",
        "**Does raising more issues help when managers have capacity and hasten abandonment when they do "
        "not?** `aligned`, 1.5 against 6 issues per session, with managers' operational demand 1.0 "
        "(capacity) or 3.5 "
        f"(none), {q_reps} paired seeds, 545 days. Many minus few issues:",
        "",
        "| outcome | with capacity | without capacity | interaction (with - without) |",
        "|---|---|---|---|",
    ]
    for name, row in q3r.items():
        label = (
            "sustainment, days 455-545" if name == "sustainment" else "day adoption falls below half its peak"
        )
        out.append(
            f"| {label} | {_fmt(row['capacity'], True)} | {_fmt(row['no capacity'], True)} | "
            f"{_fmt(row['interaction'], True)} |"
        )
    s, a = q3r["sustainment"], q3r["abandon_day"]
    out += [
        "",
        "Sustainment: more issues "
        + answer(s["capacity"], "help", "hurt", "make no clear difference")
        + f" when managers have capacity ({s['capacity'][0]:+.2f}) and "
        + answer(s["no capacity"], "help", "hurt", "make no clear difference")
        + f" when they do not ({s['no capacity'][0]:+.2f}); without capacity, adoption falls below half "
        "its peak "
        + answer(a["no capacity"], "later", "sooner", "neither sooner nor later (no clear difference)")
        + " with more issues"
        + (
            ", so raising more issues does not hasten abandonment here."
            if a["no capacity"][1] >= 0 or a["no capacity"][2] >= 0
            else ": raising more issues hastens abandonment."
        ),
        "",
        "**Does regulator endorsement widen differences between wards?** `regulator_endorsement` with and "
        f"without the endorsement (day 240), {q_reps} paired seeds: change of the standard deviation across "
        "wards from days 180-240 to days 360-600, endorsed minus not endorsed:",
        "",
    ]
    for col, t in q4r.items():
        out.append(
            f"- {col}: {_fmt(t, True)}: "
            + answer(
                t, "endorsement widens the differences.", "endorsement narrows them.", "no clear difference."
            )
        )
    return out


#: Marker of each of the central claim's hypercubes, in the order of ``INCENTIVE_TOPS``.
MARKERS = ("o", "^")


def figures(claims: list[Claim], q3r: dict, q4r: dict, claim_path: Path, questions_path: Path) -> None:
    from matplotlib.figure import Figure

    names = ["alignment", "clinicians", "managers", "board", "weakest level", "average level"]
    fig = Figure(figsize=(14, 4.2), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    width = 0.3 / max(1, len(claims) - 1)
    for ax, what, label in ((ax1, "rho", "Spearman rho"), (ax2, "r2", "R^2 of a line")):
        for j, (c, colour) in enumerate(zip(claims, COLOURS, strict=False)):
            for i, n in enumerate(names):
                m, lo, hi = getattr(c, what)[n]
                ax.errorbar(
                    [i - 0.15 + j * width],
                    [m],
                    yerr=[[m - max(lo, -1.0)], [hi - m]] if m >= -1.0 else [[0], [0]],
                    fmt=MARKERS[j % len(MARKERS)],
                    color=colour,
                    label=_keys(c) if i == 0 else None,
                )
        ax.set_xticks(range(len(names)), names, rotation=20)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_ylim(-1.0, 1.05)
        ax.set_title(
            f"Held-out {label} with sustainment at 12 months\n(95% bootstrap CIs, cut at -1)", fontsize=9
        )
        ax.legend(fontsize=8)
    for j, (c, colour) in enumerate(zip(claims, COLOURS, strict=False)):
        ax3.scatter(
            c.x["alignment"][c.test],
            c.y[c.test],
            s=14,
            color=colour,
            marker=MARKERS[j % len(MARKERS)],
            label=_keys(c),
        )
    ax3.set_xlabel("alignment, mean over days 0-180")
    ax3.set_ylabel("sustainment at 12 months")
    ax3.legend(fontsize=8)
    ax3.set_title("Held-out runs", fontsize=9)
    fig.savefig(claim_path, dpi=110)

    fig = Figure(figsize=(11, 7), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    for j, c in enumerate(claims):
        mk = MARKERS[j % len(MARKERS)]
        axes[0].scatter(
            c.x["weakest level"], c.y, s=10, color="#d95f02", marker=mk, label=f"weakest, {_keys(c)}"
        )
        axes[0].scatter(
            c.x["average level"], c.y, s=10, color="#7570b3", marker=mk, label=f"average, {_keys(c)}"
        )
        axes[1].scatter(c.x["resolved in 8 weeks"], c.y, s=10, color=COLOURS[j], marker=mk, label=_keys(c))
    axes[0].set_title(
        "Q1 weakest vs average (rho "
        + "; ".join(
            f"{_keys(k)}: {k.rho['weakest level'][0]:.2f} vs {k.rho['average level'][0]:.2f}" for k in claims
        )
        + ")",
        fontsize=9,
    )
    axes[0].set_xlabel("engagement, days 0-180")
    axes[0].set_ylabel("sustainment at 12 months")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    axes[1].set_xlabel("share of issues resolved in the first 8 weeks")
    axes[1].set_ylabel("sustainment at 12 months")
    axes[1].set_title(
        "Q2 (rho "
        + "; ".join(
            f"{_keys(k)}: {k.rho['resolved in 8 weeks'][0]:.2f} vs baseline "
            f"{k.rho['baseline engagement'][0]:.2f}"
            for k in claims
        )
        + ")",
        fontsize=9,
    )
    for k, (cap, colour) in enumerate((("capacity", "#1b9e77"), ("no capacity", "#d95f02"))):
        m, lo, hi = q3r["sustainment"][cap]
        axes[2].errorbar([k], [m], yerr=[[m - lo], [hi - m]], fmt="o", color=colour, capsize=4)
    axes[2].set_xticks([0, 1], ["managers with capacity", "without"])
    axes[2].set_xlim(-0.5, 1.5)
    axes[2].axhline(0, color="grey", lw=0.8)
    axes[2].set_title("Q3 many minus few issues: sustainment (95% CI)", fontsize=9)
    for k, t in enumerate(q4r.values()):
        axes[3].errorbar(
            [k], [t[0]], yerr=[[t[0] - t[1]], [t[2] - t[0]]], fmt="o", color="#7570b3", capsize=4
        )
    axes[3].set_xticks(range(len(q4r)), [f"SD across wards of\n{col}" for col in q4r])
    axes[3].set_xlim(-0.5, len(q4r) - 0.5)
    axes[3].axhline(0, color="grey", lw=0.8)
    axes[3].set_title("Q4 endorsement: change in spread between wards, endorsed - not (95% CI)", fontsize=9)
    fig.savefig(questions_path, dpi=110)


def run(points: int, q_reps: int, executor: Any = None, progress=None) -> tuple[list[Claim], dict, dict]:
    """The central claim over each hypercube of ``INCENTIVE_TOPS`` (the same design, scaled:
    point p of each runs on seed 1000 + p), and the open questions Q3 and Q4."""
    claim_jobs = [lhs_jobs(points, top=top) for top in INCENTIVE_TOPS]
    j3, k3 = arm_jobs(Q3_ARMS, Q3_NEEDS, q_reps)
    j4, k4 = arm_jobs(Q4_ARMS, Q4_NEEDS, q_reps)
    results = run_jobs([j for jobs in claim_jobs for j in jobs] + j3 + j4, executor, progress)
    claims = [
        central_claim(jobs, results[i * points : (i + 1) * points], top)
        for i, (jobs, top) in enumerate(zip(claim_jobs, INCENTIVE_TOPS, strict=True))
    ]
    a = points * len(INCENTIVE_TOPS)
    b = a + len(j3)
    return claims, q3(paired(results[a:b], k3, Q3_NEEDS)), q4(paired(results[b:], k4, Q4_NEEDS))


def n_runs(points: int, q_reps: int) -> int:
    return points * len(INCENTIVE_TOPS) + q_reps * (len(Q3_ARMS) + len(Q4_ARMS))


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
        out.append(f"| {b_lo:.1f}-{b_hi:.1f} | {n} | {_fmt(t) if t else '–'} |")
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


@functools.cache
def _sf4():
    """SF4's fact file (its arms and its window), read once."""
    from .validation import load_facts

    return load_facts(["SF4"])[0]


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
            row += f" | {_fmt(tuple(diff[j]), True)}"
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
        out.append(f"| {day} | " + " | ".join(_fmt(tuple(m[i, j])) for i in range(len(s.bias))) + " |")
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


@functools.cache
def _sf2():
    """SF2's fact file (its arms, levers and window), read once."""
    from .validation import load_facts

    return load_facts(["SF2"])[0]


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

    base = load_scenario(_sf2().arms[next(iter(_sf2().arms))][0])
    return (float(base["clinicians.w_incentive"]), float(base["managers.w_review"]))


def n_allocation_runs(replicates: int) -> int:
    return (ALLOCATION_STEPS + 1) * (ALLOCATION_STEPS + 2) // 2 * len(allocation_weights()) * replicates


def allocation(replicates: int, executor: Any = None, progress=None) -> Allocation:
    fact = _sf2()
    scenario = fact.arms[next(iter(fact.arms))][0]
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
            f"{_fmt(a.against(w, eq, best), True)} | {close} of {len(a.shares)} |"
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
