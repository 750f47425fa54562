"""Design points and seeds.

A design is a table of points (one row per scenario variant: the factors' values) made
by a full factorial grid or by a sampler of SALib (Latin hypercube, Sobol/Saltelli,
Morris).  The samplers work in the unit hypercube, one coordinate per factor; the
coordinates are kept (``unit``) because Sobol and Morris analysis need the samples
exactly as drawn.

Runs are numbered point-major: run ``point * replicates + replicate``.  Each run's seed
is derived from the experiment's seed with :class:`numpy.random.SeedSequence`: under
common random numbers (the default) from the replicate index alone, so replicate r has
the same seed at every design point and differences between points are not blurred by
different random draws; with ``seeds = "independent"`` from the point and the replicate.
A seed depends on nothing else: not on the executor, the number of workers, or the
order in which runs finish.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..scenario import ScenarioError
from .experiment import Experiment


@dataclass(frozen=True)
class Design:
    """The design points of an experiment."""

    keys: tuple[str, ...]
    values: list[tuple[Any, ...]]
    unit: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.values)

    def overrides(self, point: int) -> dict[str, Any]:
        """The scenario keys set at one design point."""
        return dict(zip(self.keys, self.values[point], strict=True))

    def columns(self) -> dict[str, list]:
        """The design as columns: ``point``, each factor, and (for samplers) ``unit:KEY``."""
        out: dict[str, list] = {"point": list(range(len(self)))}
        for i, key in enumerate(self.keys):
            out[key] = [row[i] for row in self.values]
        if self.unit is not None:
            for i, key in enumerate(self.keys):
                out[f"unit:{key}"] = [float(x) for x in self.unit[:, i]]
        return out


def unit_problem(names: Sequence[str]) -> dict[str, Any]:
    """SALib's problem: one factor per name, each on the unit interval."""
    return {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}


def salib_problem(exp: Experiment) -> dict[str, Any]:
    """SALib's problem: every factor on the unit interval (mapped by :meth:`Factor.at`)."""
    return unit_problem(exp.keys)


def build_design(exp: Experiment) -> Design:
    """The design points of ``exp`` (deterministic: samplers use ``design.seed``)."""
    if exp.method == "grid":
        values = list(itertools.product(*(f.levels() for f in exp.factors)))
        return Design(exp.keys, values)
    unit = sample_unit(
        exp.method,
        exp.keys,
        exp.samples,
        levels=exp.levels,
        second_order=exp.second_order,
        seed=exp.design_seed,
    )
    values = [tuple(f.at(u) for f, u in zip(exp.factors, row, strict=True)) for row in unit]
    return Design(exp.keys, values, unit)


def sample_unit(
    method: str, names: Sequence[str], samples: int, *, levels: int = 4, second_order: bool = False, seed: int
) -> np.ndarray:
    """(points, names) coordinates in the unit hypercube drawn by SALib's ``latin``,
    ``sobol`` or ``morris`` sampler (deterministic for a seed)."""
    import warnings

    from SALib.sample import latin, morris, sobol  # SALib: the standard samplers for these analyses

    problem = unit_problem(names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SALib's advice on sample sizes; sizes are checked on reading
        if method == "latin":
            unit = latin.sample(problem, samples, seed=seed)
        elif method == "sobol":
            unit = sobol.sample(problem, samples, calc_second_order=second_order, scramble=True, seed=seed)
        else:
            unit = morris.sample(problem, samples, num_levels=levels, seed=seed)
    return np.asarray(unit, dtype=float).reshape(-1, len(names))


def validate_points(exp: Experiment, design: Design) -> None:
    """Apply every design point's overrides to the base scenario, so that a bad
    combination is reported (one line) before any run starts."""
    for point in range(len(design)):
        overrides = design.overrides(point)
        try:
            if exp.runner is not None:
                exp.runner.check(exp.base, overrides)
            else:
                exp.base.with_overrides(overrides, source=exp.source)
        except ScenarioError as err:
            if not overrides:  # a design of one point, the base itself: nothing to add
                raise
            where = ", ".join(f"{k} = {v!r}" for k, v in overrides.items())
            raise ScenarioError(
                err.source, err.key, f"{err.message} (at design point {point}: {where})"
            ) from None


def run_seed(exp: Experiment, point: int, replicate: int) -> int:
    """The seed of one run: from the experiment's seed and the replicate (and, unless
    seeds are common, the point); a 63-bit integer, as scenario seeds are."""
    key = (replicate,) if exp.seeds == "common" else (point, replicate)
    state = np.random.SeedSequence(exp.seed, spawn_key=key).generate_state(1, np.uint64)
    return int(state[0]) >> 1


def replicate_seeds(exp: Experiment) -> list[int] | None:
    """Under common random numbers, the seed of each replicate (at every point)."""
    if exp.seeds != "common":
        return None
    return [run_seed(exp, 0, r) for r in range(exp.replicates)]


def chunk_size(total_runs: int) -> int:
    """Runs per task and per part-file: about 64 tasks, at most 32 runs each, so that a
    task's overhead (and a worker's start-up) is shared by several runs while every
    worker still gets many tasks.  Depends on the size of the experiment only."""
    return max(1, min(32, -(-total_runs // 64)))


def chunks(total_runs: int, size: int) -> Iterator[range]:
    """Consecutive ranges of run numbers."""
    for start in range(0, total_runs, size):
        yield range(start, min(start + size, total_runs))
