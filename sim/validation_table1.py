"""Table 1 of the paper reproduced: four QI programmes, configured from what the paper says
about their managerial collaboration (``experiments/validation/table1/*.toml``).

Each file is a fact file (arms, hypotheses with directional pass rules) with, in
addition, ``[[published]]`` entries: a measure reported by the programme's study, before
and after, beside which the suite puts the simulated relative change of the harm rate
of one arm over a window.  Units differ (% of patients, per 1,000 catheter-days, per
1,000 bed-days), so only relative changes are compared: ``after / before - 1``.  The
simulated rates are the expected harm rates (the model's risk per 1,000 bed-days before
harms are drawn, so that the day-to-day draw does not hide a change of a few per cent).
The simulated "before" is the counterfactual rate over the first 90 days (the wards
without the intervention); the simulated "after" is the arm's rate over the entry's
window, and beside it the counterfactual's own change over the same window (the secular
trend alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .scenario import ScenarioError
from .stats import mean_ci
from .validation import (
    Fact,
    HypothesisResult,
    Job,
    check_keys,
    fact_passed,
    load_fact,
    read_toml,
    rule_text,
    run_jobs,
    score,
    validation_dir,
)

PUBLISHED_KEYS = ("arm", "measure", "unit", "before", "after", "window", "source", "note")
#: The simulated "before": the counterfactual harm rate over the first 90 days.
BASELINE = ("harm_rate_expected_counterfactual", (0, 90))


@dataclass(frozen=True)
class Published:
    arm: str
    measure: str
    unit: str
    before: float
    after: float
    window: tuple[int, int]
    source: str
    note: str = ""

    @property
    def change(self) -> float:
        return self.after / self.before - 1.0


@dataclass(frozen=True)
class Programme:
    fact: Fact
    published: tuple[Published, ...]


@dataclass
class Comparison:
    published: Published
    change: tuple[float, float, float]  # simulated relative change of the arm: mean, low, high
    trend: tuple[float, float, float]  # the counterfactual's relative change (secular trend)


def table1_dir() -> Path:
    return validation_dir() / "table1"


def load_programme(path: str | Path) -> Programme:
    source = str(path)
    raw = read_toml(path)
    fact = load_fact(path, raw, extra_keys=("published",))
    entries = []
    for i, e in enumerate(raw.get("published", [])):
        where = f"published.{i}."
        if not isinstance(e, dict):
            raise ScenarioError(source, f"published.{i}", "must be a table ([[published]])")
        check_keys(e, PUBLISHED_KEYS, source, where)
        for key in ("arm", "measure", "unit", "before", "after", "window", "source"):
            if key not in e:
                raise ScenarioError(source, where + key, "is missing")
        if e["arm"] not in fact.arms:
            raise ScenarioError(source, where + "arm", f"must be one of the arms {', '.join(fact.arms)}")
        for key in ("before", "after"):
            if not isinstance(e[key], int | float) or isinstance(e[key], bool) or e[key] <= 0:
                raise ScenarioError(source, where + key, "must be a positive number")
        w = e["window"]
        if not (
            isinstance(w, list)
            and len(w) == 2
            and all(isinstance(x, int) for x in w)
            and 90 <= w[0] < w[1] <= fact.days
        ):
            raise ScenarioError(
                source, where + "window", f"must be [start, end) with 90 <= start < end <= {fact.days}"
            )
        entries.append(
            Published(
                e["arm"],
                e["measure"],
                e["unit"],
                float(e["before"]),
                float(e["after"]),
                (w[0], w[1]),
                e["source"],
                e.get("note", ""),
            )
        )
    return Programme(fact, tuple(entries))


def load_programmes() -> list[Programme]:
    return [load_programme(p) for p in sorted(table1_dir().glob("*.toml"))]


def _needs(prog: Programme, arm: str) -> tuple:
    needs = list(prog.fact.needs()[arm])
    for p in prog.published:
        if p.arm == arm:
            for need in (
                BASELINE,
                ("harm_rate_expected", p.window),
                ("harm_rate_expected_counterfactual", p.window),
            ):
                if need not in needs:
                    needs.append(need)
    return tuple(needs)


def jobs(programmes: list[Programme], replicates: int | None) -> tuple[list[Job], list]:
    out, keys = [], []
    for prog in programmes:
        n = replicates or prog.fact.replicates
        for arm, (scenario, overrides) in prog.fact.arms.items():
            for seed in range(1, n + 1):
                out.append((scenario, overrides, seed, _needs(prog, arm)))
                keys.append((prog.fact.id, arm, seed))
    return out, keys


@dataclass
class Table1Result:
    programmes: list[Programme]
    hypotheses: list[HypothesisResult]
    comparisons: list[tuple[str, Comparison]]

    def passed(self, prog: Programme) -> bool:
        return fact_passed(self.hypotheses, prog.fact.id)


def evaluate(
    programmes: list[Programme], replicates: int | None, executor: Any = None, progress=None
) -> Table1Result:
    job_list, keys = jobs(programmes, replicates)
    results = run_jobs(job_list, executor, progress)
    facts = [p.fact for p in programmes]
    hyps = score(facts, replicates, keys, job_list, results)
    values = {k: dict(zip(j[3], r, strict=True)) for k, j, r in zip(keys, job_list, results, strict=True)}
    comps = []
    for prog in programmes:
        n = replicates or prog.fact.replicates
        for p in prog.published:
            runs = [values[(prog.fact.id, p.arm, s)] for s in range(1, n + 1)]
            base = np.array([r[BASELINE] for r in runs])
            after = np.array([r[("harm_rate_expected", p.window)] for r in runs])
            cf = np.array([r[("harm_rate_expected_counterfactual", p.window)] for r in runs])
            change = tuple(float(x) for x in mean_ci(after / base - 1.0))
            trend = tuple(float(x) for x in mean_ci(cf / base - 1.0))
            comps.append((prog.fact.id, Comparison(p, change, trend)))  # type: ignore[arg-type]
    return Table1Result(programmes, hyps, comps)


def text_table(res: Table1Result) -> str:
    lines = [
        f"{'programme':26} {'arm':18} {'measure':38} {'published':>9} {'simulated [95% CI]':>24} {'trend':>7}"
    ]
    for fid, c in res.comparisons:
        p = c.published
        lines.append(
            f"{fid[:26]:26} {p.arm[:18]:18} {p.measure[:38]:38} {p.change:+9.0%} "
            f"{c.change[0]:+7.0%} [{c.change[1]:+6.0%}, {c.change[2]:+6.0%}] {c.trend[0]:+7.0%}"
        )
    for prog in res.programmes:
        lines.append(f"{prog.fact.id:26} direction as published: {'yes' if res.passed(prog) else 'NO'}")
    return "\n".join(lines)


def markdown(res: Table1Result, replicates: int | None) -> list[str]:
    out = [
        "## Table 1 of the paper reproduced",
        "",
        "Four programmes, each configured from what the paper says about its managerial",
        "collaboration (`experiments/validation/table1/`; every override is justified there).",
        "Relative change of the harm rate: simulated (the arm's expected harm rate over the window",
        "against the counterfactual's over the first 90 days; mean and 95% CI over seeds) beside",
        "the published change; 'trend' is the counterfactual's own change (the secular trend).",
        "",
        "![Table 1](validation_table1.png)",
        "",
        "| programme | arm | published measure | published | simulated [95% CI] | trend | study |",
        "|---|---|---|---|---|---|---|",
    ]
    for fid, c in res.comparisons:
        p = c.published
        note = f" ({p.note})" if p.note else ""
        out.append(
            f"| {fid} | {p.arm} | {p.measure}, {p.before:g} to {p.after:g} {p.unit} | {p.change:+.0%} | "
            f"{c.change[0]:+.1%} [{c.change[1]:+.1%}, {c.change[2]:+.1%}] | {c.trend[0]:+.1%} | "
            f"{p.source}{note} |"
        )
    out += ["", "Directional pass rules (stated in each file before its results):", ""]
    out += ["| programme | hypothesis | test | mean | 95% CI | result |", "|---|---|---|---|---|---|"]
    for prog in res.programmes:
        for r in (r for r in res.hypotheses if r.fact == prog.fact.id):
            h = r.hypothesis
            out.append(
                f"| {prog.fact.id} | {h.name} — {h.statement} | {rule_text(h)} | {r.mean:.3f} | "
                f"[{r.low:.3f}, {r.high:.3f}] | {'pass' if r.passed else '**fail**'} |"
            )
    out.append("")
    for prog in res.programmes:
        n = replicates or prog.fact.replicates
        verdict = (
            "matches the published direction"
            if res.passed(prog)
            else "**does not match** the published direction"
        )
        out.append(f"- **{prog.fact.id}** ({n} seeds, {prog.fact.days} days): {verdict}. {prog.fact.claim}")
    return out


def figure(res: Table1Result, path: Path) -> None:
    from matplotlib.figure import Figure

    comps = res.comparisons
    fig = Figure(figsize=(8.5, 0.55 * max(len(comps), 1) + 1.6), layout="constrained")
    ax = fig.subplots()
    for i, (_fid, c) in enumerate(comps):
        y = len(comps) - 1 - i
        ax.plot(
            [c.published.change * 100], [y + 0.15], "s", color="black", label="published" if i == 0 else None
        )
        ax.plot([c.change[1] * 100, c.change[2] * 100], [y - 0.1] * 2, color="#1b9e77", lw=3)
        ax.plot(
            [c.change[0] * 100],
            [y - 0.1],
            "o",
            color="#1b9e77",
            label="simulated (95% CI)" if i == 0 else None,
        )
        ax.plot(
            [c.trend[0] * 100],
            [y - 0.1],
            "|",
            color="#7570b3",
            ms=12,
            mew=2,
            label="simulated secular trend" if i == 0 else None,
        )
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(
        range(len(comps)), [f"{c.published.arm}: {c.published.measure}" for _, c in reversed(comps)]
    )
    ax.set_xlabel("relative change of the harm measure, %")
    ax.set_title("Table 1: published vs simulated relative change")
    if comps:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=8, frameon=False)
    fig.savefig(path, dpi=110)
