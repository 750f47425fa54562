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
- Replicates: how the 95% CI of each fact's statistic narrows as seeds are added.

The exploratory readings of single facts are in :mod:`sim.validation_readings`.
"""

from __future__ import annotations

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


def fmt_ci(t: tuple[float, float, float], pct: bool = False) -> str:
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
            f"| {name} | "
            + " | ".join(f"{fmt_ci(k.rho[name])} | {fmt_ci(k.r2[name])}" for k in claims)
            + " |"
        )
    out.append("")
    for k in claims:
        d1 = k.diffs["alignment - best single level (held out)"]
        d2 = k.diffs["alignment - weakest level (held out)"]
        best = k.best_single  # type: ignore[attr-defined]
        out += [
            f"With {_keys(k)}: alignment minus the best single level ({best}), difference of rho: "
            f"{fmt_ci(d1, True)}: "
            + answer(
                d1,
                "alignment predicts sustainment better than any single level.",
                f"alignment predicts sustainment worse than the {best}' engagement alone.",
                "no clear difference.",
            )
            + f" Alignment minus the weakest level: {fmt_ci(d2, True)}: "
            + answer(
                d2, "alignment predicts better.", "the weakest level predicts better.", "no clear difference."
            ),
            "",
        ]
    out += ["## Open questions", "", "![questions](validation_questions.png)", ""]
    q1s = "; ".join(
        f"{fmt_ci(k.diffs['Q1: weakest - average level'], True)} with {_keys(k)}: "
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
        f"{fmt_ci(k.diffs['Q2: resolved in 8 weeks - baseline engagement'], True)}: "
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
            f"| {label} | {fmt_ci(row['capacity'], True)} | {fmt_ci(row['no capacity'], True)} | "
            f"{fmt_ci(row['interaction'], True)} |"
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
            f"- {col}: {fmt_ci(t, True)}: "
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
