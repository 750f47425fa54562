"""Robust, not tuned: each fact must also hold when the most influential mechanism
parameters move together by +/-20% around their values.

1. Screening (``experiments/validation/robustness/screening.toml``): a Morris design run
   by :mod:`sim.experiments` (sweep, Parquet store, SALib's Morris analysis).  The
   parameters with the largest mu*, normalised by the largest mu* of each outcome and
   averaged over outcomes, are chosen; the choice is kept in ``chosen.toml`` beside it
   (``qisim validate --screen`` recomputes it and rewrites that file).
2. Latin hypercube: ``points`` points over the chosen parameters, each a multiplier
   between 1 - spread and 1 + spread of the parameter's value in each arm (so an arm's
   own settings are kept), drawn by SALib through :func:`sim.experiments.design.build_design`.
   Every fact's arms run at every point on seeds 1..replicates.
3. Rule (experiments/validation/README.md): at a point a fact *holds* when every
   hypothesis' mean statistic is on the passing side of its threshold; a fact is
   *robust* when it holds at no less than ``threshold`` of the points, and *fragile*
   otherwise.  Fragile counts as failed.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .scenario import ScenarioError, load_scenario
from .validation import (
    Fact,
    HypothesisResult,
    check_keys,
    fact_jobs,
    read_toml,
    run_jobs,
    score,
    validation_dir,
)

CHOSEN_KEYS = ("parameters", "score", "points", "replicates", "spread", "seed", "threshold", "screened")


def robustness_dir() -> Path:
    return validation_dir() / "robustness"


@dataclass(frozen=True)
class Settings:
    parameters: tuple[str, ...]
    score: dict[str, float]
    points: int
    replicates: int
    spread: float
    seed: int
    threshold: float
    screened: str


def load_settings(path: Path | None = None) -> Settings:
    path = path or robustness_dir() / "chosen.toml"
    source = str(path)
    raw = read_toml(path)
    check_keys(raw, CHOSEN_KEYS, source)
    for key in ("parameters", "points", "replicates", "spread", "seed", "threshold"):
        if key not in raw:
            raise ScenarioError(source, key, "is missing")
    params = raw["parameters"]
    if not isinstance(params, list) or not params or not all(isinstance(p, str) for p in params):
        raise ScenarioError(source, "parameters", "must be a non-empty list of scenario keys")
    base = load_scenario("aligned")
    for p in params:
        if p not in base or not isinstance(base[p], float):
            raise ScenarioError(source, "parameters", f"'{p}' is not a numeric scenario key")
    if not isinstance(raw["points"], int) or raw["points"] < 2:
        raise ScenarioError(source, "points", "must be an integer of at least 2")
    if not isinstance(raw["replicates"], int) or raw["replicates"] < 2:
        raise ScenarioError(source, "replicates", "must be an integer of at least 2")
    if not isinstance(raw["spread"], float) or not 0 < raw["spread"] < 1:
        raise ScenarioError(source, "spread", "must be a number between 0 and 1")
    if not isinstance(raw["threshold"], float) or not 0 < raw["threshold"] <= 1:
        raise ScenarioError(source, "threshold", "must be a number in (0, 1]")
    return Settings(
        tuple(params),
        {k: float(v) for k, v in raw.get("score", {}).items()},
        raw["points"],
        raw["replicates"],
        raw["spread"],
        int(raw["seed"]),
        raw["threshold"],
        str(raw.get("screened", "")),
    )


# -- screening ----------------------------------------------------------------------------


def screen(executor_info: Any, top: int = 5, progress: bool = False) -> dict[str, float]:
    """Run the Morris screening through sim.experiments and return each parameter's score
    (mu* normalised per outcome, averaged over outcomes), highest first."""
    import csv

    from .experiments import load_experiment
    from .experiments.analyse import analyse
    from .experiments.sweep import open_store, prepare, run_sweep

    exp = load_experiment(robustness_dir() / "screening.toml")
    with tempfile.TemporaryDirectory(prefix="qisim-screen-") as tmp:
        out = Path(tmp) / "sweep"
        plan = prepare(exp, out, resume=False)
        store = open_store(plan)
        report = run_sweep(plan, store, executor_info, progress=progress)
        if report.failed or report.interrupted:
            raise RuntimeError(f"the screening sweep did not complete ({report.failed} runs failed)")
        analyse(out, list(exp.scalars))
        with open(out / "analysis" / "morris_indices.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
    by_outcome: dict[str, dict[str, float]] = {}
    for row in rows:
        by_outcome.setdefault(row["outcome"], {})[row["factor"]] = float(row["mu_star"])
    scores = dict.fromkeys(exp.keys, 0.0)
    for values in by_outcome.values():
        top_mu = max(values.values()) or 1.0
        for k, v in values.items():
            scores[k] += v / top_mu / len(by_outcome)
    return dict(sorted(scores.items(), key=lambda kv: -kv[1]))


def write_chosen(scores: dict[str, float], top: int, old: Settings, path: Path | None = None) -> Path:
    """Rewrite chosen.toml with the ``top`` parameters (atomically)."""
    import datetime

    path = path or robustness_dir() / "chosen.toml"
    chosen = list(scores)[:top]
    lines = [
        "# The parameters the robustness check moves together, chosen by the Morris screening of",
        "# screening.toml (mu* normalised per outcome, averaged over outcomes; the highest scores).",
        "# Recompute with: qisim validate --screen   (rewrites this file)",
        f"parameters = [{', '.join(repr(p).replace(chr(39), chr(34)) for p in chosen)}]",
        f'screened = "{datetime.date.today().isoformat()}"',
        "",
        "# The Latin hypercube around each arm's values, and the fragility rule",
        "# (experiments/validation/README.md).",
        f"points = {old.points}",
        f"replicates = {old.replicates}",
        f"spread = {old.spread}",
        f"seed = {old.seed}",
        f"threshold = {old.threshold}",
        "",
        "[score]   # every screened parameter's score, highest first",
    ]
    lines += [f'"{k}" = {v:.4f}' for k, v in scores.items()]
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    return path


# -- the Latin hypercube --------------------------------------------------------------------


def multipliers(settings: Settings) -> np.ndarray:
    """(points, parameters) multipliers in [1 - spread, 1 + spread]: a Latin hypercube
    drawn by SALib through :func:`sim.experiments.design.build_design` (its unit
    coordinates, which do not depend on the factors' ranges)."""
    from .experiments.design import build_design
    from .experiments.experiment import parse_experiment
    from .schema import BY_KEY

    factors = {}
    for key in settings.parameters:
        p = BY_KEY[key]
        lo, hi = (p.lo if p.lo is not None else -1e9), (p.hi if p.hi is not None else 1e9)
        v = float(p.default) or 1.0
        a, b = sorted((v * (1 - settings.spread), v * (1 + settings.spread)))
        factors[key] = {"min": max(a, lo), "max": min(b, hi)}
    raw = {
        "scenario": "aligned",
        "replicates": 1,
        "design": {"method": "latin", "samples": settings.points, "seed": settings.seed},
        "factors": factors,
    }
    exp = parse_experiment(raw, "robustness")
    unit = build_design(exp).unit
    assert unit is not None
    return 1.0 - settings.spread + 2.0 * settings.spread * unit


def shifted(fact: Fact, arm: str, params: tuple[str, ...], mult: np.ndarray) -> tuple[str, ...]:
    """The overrides that multiply each parameter's value in this arm (clipped to its range)."""
    from .schema import BY_KEY

    scenario, overrides = fact.arms[arm]
    resolved = load_scenario(scenario, overrides)
    out = []
    for key, m in zip(params, mult, strict=True):
        p = BY_KEY[key]
        value = float(resolved[key]) * float(m)
        if p.lo is not None:
            value = max(value, p.lo)
        if p.hi is not None:
            value = min(value, p.hi)
        out.append(f"{key}={value:.6g}")
    return tuple(out)


def holds(results: list[HypothesisResult], fact_id: str) -> bool:
    """At one point: every hypothesis' mean on the passing side of its threshold."""
    for r in results:
        if r.fact != fact_id:
            continue
        h = r.hypothesis
        if not math.isfinite(r.mean):
            return False
        if h.test == "greater" and not r.mean >= h.min_effect:
            return False
        if h.test == "less" and not r.mean <= -h.min_effect:
            return False
        if h.test == "equivalent" and not abs(r.mean) <= h.margin:
            return False
        if h.test == "noninferior" and not r.mean > -h.margin:
            return False
    return True


@dataclass
class Robustness:
    settings: Settings
    mult: np.ndarray  # (points, parameters)
    held: dict[str, np.ndarray]  # fact id -> (points,) bool
    points: int
    replicates: int

    def share(self, fact_id: str) -> float:
        return float(self.held[fact_id].mean())

    def robust(self, fact_id: str) -> bool:
        return self.share(fact_id) >= self.settings.threshold


def evaluate(
    facts: list[Fact],
    settings: Settings,
    executor: Any = None,
    progress=None,
    points: int | None = None,
    replicates: int | None = None,
) -> Robustness:
    """Every fact at every point of the hypercube (all points' runs sent at once)."""
    mult = multipliers(settings)
    if points:
        mult = mult[:points]
    reps = replicates or settings.replicates
    all_jobs, spans = [], []
    for row in mult:
        jobs, keys = fact_jobs(facts, reps, lambda f, a, row=row: shifted(f, a, settings.parameters, row))
        spans.append((len(all_jobs), jobs, keys))
        all_jobs += jobs
    results = run_jobs(all_jobs, executor, progress)
    held = {f.id: np.zeros(len(mult), dtype=bool) for f in facts}
    for i, (start, jobs, keys) in enumerate(spans):
        res = score(facts, reps, keys, jobs, results[start : start + len(jobs)])
        for f in facts:
            held[f.id][i] = holds(res, f.id)
    return Robustness(settings, mult, held, len(mult), reps)


def n_runs(facts: list[Fact], settings: Settings, points: int | None, replicates: int | None) -> int:
    return (points or settings.points) * (replicates or settings.replicates) * sum(len(f.arms) for f in facts)


def markdown(rob: Robustness, facts: list[Fact], passed: dict[str, bool]) -> list[str]:
    s = rob.settings
    out = [
        "## Robustness: the facts around the defaults",
        "",
        f"The {len(s.parameters)} parameters with the largest Morris mu* in the screening "
        "(`experiments/validation/robustness/screening.toml`, run with sim.experiments; choice in "
        f"`chosen.toml`{', screened ' + s.screened if s.screened else ''}) move together over a Latin "
        f"hypercube of {rob.points} points, each parameter multiplied by a factor between "
        f"{1 - s.spread:g} and {1 + s.spread:g} of its value in each arm; every arm runs on "
        f"{rob.replicates} seeds per point. A fact *holds* at a point when every hypothesis' mean is "
        f"on the passing side of its threshold; it is *fragile* when it holds at fewer than "
        f"{s.threshold:.0%} of the points, and fragile counts as failed.",
        "",
        "| parameter | screening score (mu*, normalised) |",
        "|---|---|",
    ]
    out += [f"| `{p}` | {s.score.get(p, float('nan')):.3f} |" for p in s.parameters]
    out += [
        "",
        "![robustness](validation_robustness.png)",
        "",
        "| fact | passes at the defaults | holds at share of points | verdict |",
        "|---|---|---|---|",
    ]
    for f in facts:
        share = rob.share(f.id)
        verdict = "robust" if rob.robust(f.id) else "**fragile**"
        if not passed[f.id]:
            verdict += " (fails at the defaults)"
        out.append(f"| {f.id} | {'yes' if passed[f.id] else 'no'} | {share:.0%} | {verdict} |")
    return out


def figure(rob: Robustness, facts: list[Fact], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 0.4 * len(facts) + 2.2), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1, 2])
    shares = [rob.share(f.id) for f in facts]
    y = np.arange(len(facts))[::-1]
    ax1.barh(y, shares, color=["#1b9e77" if s >= rob.settings.threshold else "#d95f02" for s in shares])
    ax1.axvline(rob.settings.threshold, color="black", ls="--", lw=1)
    ax1.set_yticks(y, [f.id for f in facts])
    ax1.set_xlim(0, 1)
    ax1.set_xlabel("share of hypercube points where the fact holds")
    grid = np.array([rob.held[f.id] for f in facts], dtype=float)
    ax2.imshow(grid, aspect="auto", cmap="RdYlGn", vmin=0, vmax=1)
    ax2.set_yticks(range(len(facts)), [f.id for f in facts])
    ax2.set_xlabel("hypercube point (green: holds)")
    fig.suptitle(
        f"Robustness: {len(rob.settings.parameters)} parameters x [{1 - rob.settings.spread:g}, "
        f"{1 + rob.settings.spread:g}] of their values"
    )
    fig.savefig(path, dpi=110)
