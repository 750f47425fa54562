"""Where each stylised fact holds in the plane of two parameters: ``qisim validate --map``.

The robustness check (:mod:`sim.validation_robust`) moves the chosen parameters together
and counts the points where each fact holds. This maps two parameters on a grid instead,
every other parameter at its value: each is multiplied by ``steps`` factors from
1 - spread to 1 + spread (``spread`` from chosen.toml unless ``--map-spread`` says
otherwise; the defaults are the middle point), every arm of every fact runs on seeds
1..replicates at every point, and a fact holds at a point by the robustness check's rule.
The map shows which way each fact's region lies, and whether the regions of the facts
overlap anywhere but at the defaults.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .scenario import ScenarioError
from .validation import Fact, Hypothesis, write_together
from .validation_robust import check_movable, check_numeric_keys, on_passing_side, point_means

#: The files ``--map`` writes into the report folder.
FILES = ("FACT_MAP.md", "fact_map.png", "fact_map.csv")
#: Most points a side of the map: 21 x 21 points already run about 18 times the 5 x 5 map.
MAX_STEPS = 21


@dataclass
class FactMap:
    params: tuple[str, str]
    levels: np.ndarray  # (steps,): the multipliers of each parameter
    replicates: int
    #: fact id -> (steps, steps) bool: [i, j] the fact holds with the first parameter
    #: multiplied by levels[i] and the second by levels[j]
    held: dict[str, np.ndarray]
    #: (fact id, hypothesis name) -> (steps, steps): the hypothesis' mean statistic
    means: dict[tuple[str, str], np.ndarray]
    hypotheses: dict[tuple[str, str], Hypothesis]

    @property
    def steps(self) -> int:
        return len(self.levels)

    def anywhere(self) -> list[str]:
        """The facts that hold at some point of the grid."""
        return [f for f, h in self.held.items() if h.any()]

    def together(self) -> np.ndarray:
        """(steps, steps) bool: every fact that holds anywhere on the grid holds here."""
        facts = self.anywhere()
        if not facts:
            return np.zeros((self.steps, self.steps), dtype=bool)
        return np.logical_and.reduce([self.held[f] for f in facts])


def parse(text: str, steps: int, spread: float, facts: list[Fact]) -> tuple[tuple[str, str], np.ndarray]:
    """The two parameters of ``--map P1,P2`` and the grid's multipliers, checked: two
    different numeric scenario keys, neither set by a fact's arm, both in their ranges at
    every multiplier (one-line ScenarioError naming --map otherwise)."""
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if len(keys) != 2 or keys[0] == keys[1]:
        raise ScenarioError(
            "--map",
            None,
            f"give two different numeric scenario keys, e.g. clinicians.bias,managers.bias (got '{text}')",
        )
    if not 3 <= steps <= MAX_STEPS or steps % 2 == 0:
        raise ScenarioError(
            "--map-steps",
            None,
            f"must be an odd integer from 3 to {MAX_STEPS}, so that the defaults are the middle point "
            f"(got {steps})",
        )
    if not 0.0 < spread < 1.0:
        raise ScenarioError(
            "--map-spread",
            None,
            f"must be above 0 and below 1, so that every multiplier is positive (got {spread:g})",
        )
    check_numeric_keys(keys, "--map", None)
    levels = np.linspace(1.0 - spread, 1.0 + spread, steps)
    check_movable(keys, (float(levels[0]), float(levels[-1])), facts, "--map", None)
    return (keys[0], keys[1]), levels


def n_runs(facts: list[Fact], steps: int, replicates: int) -> int:
    return steps * steps * replicates * sum(len(f.arms) for f in facts)


def run(
    facts: list[Fact],
    params: tuple[str, str],
    levels: np.ndarray,
    replicates: int,
    executor: Any = None,
    progress=None,
) -> FactMap:
    """Every fact's arms at every point of the grid (all points' runs sent at once)."""
    steps = len(levels)
    mult = np.array([(a, b) for a in levels for b in levels])
    means, held = point_means(facts, params, mult, replicates, executor, progress)
    hyps = {(f.id, h.name): h for f in facts for h in f.hypotheses}
    return FactMap(
        params,
        levels,
        replicates,
        {k: v.reshape(steps, steps) for k, v in held.items()},
        {k: v.reshape(steps, steps) for k, v in means.items()},
        hyps,
    )


def _level(x: float) -> str:
    return f"×{x:g}"


def _where(fmap: FactMap, mask: np.ndarray) -> str:
    cells = [f"({_level(fmap.levels[i])}, {_level(fmap.levels[j])})" for i, j in np.argwhere(mask)]
    return ", ".join(cells)


def summary(fmap: FactMap) -> str:
    """One sentence: where the facts that hold anywhere on the grid hold together."""
    anywhere, n = fmap.anywhere(), fmap.steps**2
    never = [f for f in fmap.held if f not in anywhere]
    if not anywhere:
        return f"No fact holds at any of the {n} points."
    lead = "The facts"
    if never:
        lead = f"The facts but {', '.join(never)} (which hold{'s' if len(never) == 1 else ''} at no point)"
    together = fmap.together()
    k = int(together.sum())
    if k == 0:
        return f"{lead} each hold somewhere on the grid, but never all together: at none of the {n} points."
    if k == n:
        return f"{lead} hold together at every one of the {n} points."
    where = f": {_where(fmap, together)}" if k <= 6 else ""
    return f"{lead} hold together at {k} of the {n} points ({fmap.params[0]}, {fmap.params[1]}){where}."


def text_grid(fmap: FactMap, mask: np.ndarray) -> list[str]:
    """A grid for the terminal: rows the first parameter's multipliers, columns the second's."""
    head = " " * 8 + " ".join(f"{_level(x):>6}" for x in fmap.levels)
    rows = [
        f"{_level(x):>7} " + " ".join(f"{'holds' if m else '.':>6}" for m in row)
        for x, row in zip(fmap.levels, mask, strict=True)
    ]
    return [head, *rows]


def markdown(fmap: FactMap, facts: list[Fact], command: str) -> str:
    p1, p2 = fmap.params
    levels = ", ".join(f"{x:g}" for x in fmap.levels)
    lines = [
        f"# Where each fact holds: `{p1}` × `{p2}`",
        "",
        f"Regenerate with `{command}`.",
        "",
        f"Each of the two parameters is multiplied by {levels} of its value in every arm, every "
        f"other parameter at its value: {fmap.steps} × {fmap.steps} points, the defaults in the "
        f"middle. Every arm of every fact runs on seeds 1..{fmap.replicates} at every point (common "
        "random numbers). A fact holds at a point when every hypothesis' mean statistic is on the "
        "passing side of its threshold, the rule of the robustness check "
        "(experiments/validation/README.md); with a few seeds per point, a point near a threshold "
        "can fall either way.",
        "",
        "![fact map](fact_map.png)",
        "",
        summary(fmap),
        "",
        f"Rows: `{p1}`; columns: `{p2}`; ✓ the fact holds, · it fails. A multiplier above 1 "
        "moves a value away from zero: for a bias, which is negative, toward less keen.",
        "",
    ]
    for f in facts:
        held = fmap.held[f.id]
        lines += [f"**{f.id}**: {f.title} (holds at {int(held.sum())} of {fmap.steps**2} points)", ""]
        lines += [
            f"| `{p1}` \\ `{p2}` | " + " | ".join(_level(x) for x in fmap.levels) + " |",
            "|---" * (fmap.steps + 1) + "|",
        ]
        for x, row in zip(fmap.levels, held, strict=True):
            lines.append(f"| {_level(x)} | " + " | ".join("✓" if m else "·" for m in row) + " |")
        lines.append("")
    lines += [
        "The statistic of each hypothesis at every point, and whether it is on the passing side, "
        "are in `fact_map.csv`.",
        "",
    ]
    return "\n".join(lines)


def figure(fmap: FactMap, facts: list[Fact], path: Path) -> None:
    """One panel per fact (green where it holds, orange where it fails) and one for all the
    facts that hold somewhere; the defaults are outlined."""
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    panels = [(f.id, fmap.held[f.id]) for f in facts] + [("together", fmap.together())]
    ncols = min(4, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(2.3 * ncols + 0.6, 2.3 * nrows + 0.9), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    cmap = ListedColormap(["#d95f02", "#1b9e77"])
    ticks = range(fmap.steps)
    labels = [f"{x:g}" for x in fmap.levels]
    mid = fmap.steps // 2
    for ax, (name, held) in zip(axes.flat, panels, strict=False):
        ax.imshow(held.astype(float), cmap=cmap, vmin=0, vmax=1, origin="lower")
        ax.add_patch(Rectangle((mid - 0.5, mid - 0.5), 1, 1, fill=False, lw=2, ec="black"))
        ax.set_xticks(ticks, labels, fontsize=7)
        ax.set_yticks(ticks, labels, fontsize=7)
        ax.set_title(f"{name} ({int(held.sum())}/{fmap.steps**2})", fontsize=9)
    for ax in axes.flat[len(panels) :]:  # the empty panels of the last row
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel(f"{fmap.params[0]} ×", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel(f"{fmap.params[1]} ×", fontsize=8)
    fig.suptitle(
        f"Where each fact holds (green) and fails (orange); black square: the defaults "
        f"({fmap.replicates} seeds a point)",
        fontsize=10,
    )
    fig.savefig(path, dpi=110)


def write_csv(fmap: FactMap, path: Path) -> None:
    """Tidy: one row per point and hypothesis."""
    p1, p2 = fmap.params
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([p1, p2, "fact", "hypothesis", "mean", "passes", "fact_holds"])
        for (fact, hyp), means in fmap.means.items():
            h = fmap.hypotheses[(fact, hyp)]
            for i, a in enumerate(fmap.levels):
                for j, b in enumerate(fmap.levels):
                    m = float(means[i, j])
                    w.writerow(
                        [
                            f"{a:g}",
                            f"{b:g}",
                            fact,
                            hyp,
                            repr(m),
                            int(on_passing_side(h, m)),
                            int(fmap.held[fact][i, j]),
                        ]
                    )


def write(fmap: FactMap, facts: list[Fact], out: Path, command: str) -> Path:
    """Write FACT_MAP.md, fact_map.png and fact_map.csv into ``out``: all three, or none."""

    def files(tmp: Path) -> None:
        (tmp / "FACT_MAP.md").write_text(markdown(fmap, facts, command))
        figure(fmap, facts, tmp / "fact_map.png")
        write_csv(fmap, tmp / "fact_map.csv")

    write_together(out, files)
    return out / "FACT_MAP.md"
