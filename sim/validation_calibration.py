"""Calibration of ``heads_up_site`` to the HEADS-UP trial's process measures
(``experiments/validation/calibration/heads_up.toml``): briefing frequency and issues
raised, per ward and month, as median and interquartile range across ward-months."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .scenario import ScenarioError, load_scenario
from .validation import check_keys, read_toml, run_jobs, validation_dir

KEYS = ("scenario", "months", "replicates", "check_replicates", "targets", "grid")
TARGET_KEYS = ("briefing_median", "briefing_q25", "briefing_q75", "issues_median")


@dataclass(frozen=True)
class Calibration:
    scenario: str
    months: tuple[int, int]
    replicates: int
    check_replicates: int
    targets: dict[str, float]
    grid: dict[str, list[Any]]


def load(path: Path | None = None) -> Calibration:
    path = path or validation_dir() / "calibration" / "heads_up.toml"
    source = str(path)
    raw = read_toml(path)
    check_keys(raw, KEYS, source)
    for k in KEYS:
        if k not in raw:
            raise ScenarioError(source, k, "is missing")
    check_keys(raw["targets"], TARGET_KEYS, source, "targets.")
    for k in TARGET_KEYS:
        if not isinstance(raw["targets"].get(k), int | float):
            raise ScenarioError(source, f"targets.{k}", "must be a number")
    m = raw["months"]
    if not (isinstance(m, list) and len(m) == 2 and all(isinstance(x, int) for x in m) and 0 <= m[0] < m[1]):
        raise ScenarioError(source, "months", "must be [start, end) days with 0 <= start < end")
    base = load_scenario(raw["scenario"])
    if m[1] > base["days"] or (m[1] - m[0]) < 30:
        raise ScenarioError(
            source, "months", f"must span at least 30 days within the run (0 to {base['days']})"
        )
    for key, values in raw["grid"].items():
        if not isinstance(values, list) or not values:
            raise ScenarioError(source, f"grid.{key}", "must be a non-empty list of values")
        for value in values:
            try:
                base.with_overrides({key: value}, source=source)
            except ScenarioError as err:
                raise ScenarioError(source, f"grid.{key}", err.message) from None
    for key in ("replicates", "check_replicates"):
        if not isinstance(raw[key], int) or raw[key] < 1:
            raise ScenarioError(source, key, "must be a positive integer")
    return Calibration(
        raw["scenario"],
        (m[0], m[1]),
        raw["replicates"],
        raw["check_replicates"],
        {k: float(v) for k, v in raw["targets"].items()},
        dict(raw["grid"]),
    )


def _jobs(cal: Calibration, overrides: tuple[str, ...], n: int) -> list:
    needs = (("ward_months_briefing", cal.months), ("ward_months_issues", cal.months))
    return [(cal.scenario, overrides, seed, needs) for seed in range(1, n + 1)]


def measures(results: list) -> dict[str, np.ndarray]:
    return {
        "briefing": np.concatenate([r[0] for r in results]),
        "issues": np.concatenate([r[1] for r in results]),
    }


def loss(cal: Calibration, m: dict[str, np.ndarray]) -> float:
    """Relative distance of the simulated quartiles from the published ones."""
    t = cal.targets
    b25, b50, b75 = np.percentile(m["briefing"], [25, 50, 75])
    i50 = float(np.median(m["issues"]))
    return float(
        abs(b50 - t["briefing_median"]) / t["briefing_median"]
        + 0.5 * abs(b25 - t["briefing_q25"]) / t["briefing_q25"]
        + 0.5 * abs(b75 - t["briefing_q75"]) / t["briefing_q75"]
        + abs(i50 - t["issues_median"]) / t["issues_median"]
    )


def search(cal: Calibration, executor: Any = None, progress=None) -> list[tuple[dict[str, Any], float, dict]]:
    """Every combination of the grid, with its loss and measures, best first."""
    keys = list(cal.grid)
    combos = [dict(zip(keys, values, strict=True)) for values in itertools.product(*cal.grid.values())]
    jobs, spans = [], []
    for combo in combos:
        js = _jobs(cal, tuple(f"{k}={v}" for k, v in combo.items()), cal.replicates)
        spans.append((len(jobs), len(js)))
        jobs += js
    results = run_jobs(jobs, executor, progress)
    out = []
    for combo, (start, n) in zip(combos, spans, strict=True):
        m = measures(results[start : start + n])
        out.append((combo, loss(cal, m), summary(m)))
    return sorted(out, key=lambda x: x[1])


def summary(m: dict[str, np.ndarray]) -> dict[str, float]:
    b = np.percentile(m["briefing"], [25, 50, 75])
    i = np.percentile(m["issues"], [25, 50, 75])
    return {
        "b25": b[0],
        "b50": b[1],
        "b75": b[2],
        "i25": i[0],
        "i50": i[1],
        "i75": i[2],
        "n": len(m["briefing"]),
    }


def check(
    cal: Calibration, executor: Any = None, progress=None
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """The preset as it is, on ``check_replicates`` seeds."""
    m = measures(run_jobs(_jobs(cal, (), cal.check_replicates), executor, progress))
    return summary(m), m


def markdown(cal: Calibration, s: dict[str, float]) -> list[str]:
    t = cal.targets
    return [
        "## Calibration to HEADS-UP",
        "",
        f"`{cal.scenario}` against the HEADS-UP trial's published process measures (Pannick et al.,",
        "BMJ Open 2017;7:e014333), across ward-months (30-day blocks from day "
        f"{cal.months[0]} to {cal.months[1]}, {cal.check_replicates} seeds, {int(s['n'])} ward-months). The",
        "searched parameters and the grid are in `experiments/validation/calibration/heads_up.toml`",
        "(`qisim validate --calibrate` runs the search).",
        "",
        "![calibration](validation_calibration.png)",
        "",
        "| measure | published median (IQR) | simulated median (IQR) |",
        "|---|---|---|",
        f"| briefing held, share of working days per ward-month | {t['briefing_median']:.0%} "
        f"({t['briefing_q25']:.0%}-{t['briefing_q75']:.0%}) | "
        f"{s['b50']:.0%} ({s['b25']:.0%}-{s['b75']:.0%}) |",
        f"| issues raised per ward per month | about {t['issues_median']:.0f} | {s['i50']:.0f} "
        f"({s['i25']:.0f}-{s['i75']:.0f}) |",
    ]


def figure(cal: Calibration, m: dict[str, np.ndarray], path: Path) -> None:
    from matplotlib.figure import Figure

    t = cal.targets
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    ax1.hist(m["briefing"] * 100, bins=np.linspace(0, 100, 21), color="#1b9e77", alpha=0.8)
    ax1.axvline(t["briefing_median"] * 100, color="black", lw=2, label="published median")
    ax1.axvspan(
        t["briefing_q25"] * 100, t["briefing_q75"] * 100, color="grey", alpha=0.25, label="published IQR"
    )
    ax1.set_xlabel("briefing held, % of working days (ward-months)")
    ax1.legend(fontsize=8)
    ax2.hist(m["issues"], bins=20, color="#7570b3", alpha=0.8)
    ax2.axvline(t["issues_median"], color="black", lw=2, label="published median")
    ax2.set_xlabel("issues raised per ward per month")
    ax2.legend(fontsize=8)
    fig.suptitle("Calibration: simulated ward-months against HEADS-UP's process measures")
    fig.savefig(path, dpi=110)
