"""Running chunks of runs: the unit of work every executor runs (sim.experiments.executors).

The unit of work is a :class:`Task`: a chunk of consecutive runs, each a design point's
overrides and a seed on top of the base scenario.  :func:`run_task` runs one chunk and
returns plain rows and arrays; a run that raises becomes a ``failed`` row with its error,
and the chunk goes on.  Chunks share one task's overhead (pickling, scheduling) among
several runs, and a worker imports qisim once, at its first task, whatever the number
of runs it then does.

Results do not depend on the executor: every run's inputs (scenario and seed) are fixed
before it is sent, and the store orders rows by design point and replicate. This module
is part of the model code (:data:`MODEL_MODULES`); how the tasks are sent is not.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..model import QIModel
from ..scenario import Scenario


@dataclass(frozen=True)
class Task:
    """A chunk of runs: ``runs`` holds (point, replicate, seed, overrides) per run."""

    chunk: int
    base: Scenario
    runs: tuple[tuple[int, int, int, Mapping[str, Any]], ...]
    scalars: tuple[str, ...]
    timeseries: tuple[str, ...]
    every: int
    runner: Any = None  # Experiment.runner: what one run is, when not a model run's summary


@dataclass
class TaskResult:
    """What a chunk gives back: one row per run (``point, replicate, seed, status,
    error`` and the scalars), and the kept time series as columns (``point, replicate,
    day`` and the series) for the runs that finished."""

    chunk: int
    rows: list[dict[str, Any]]
    series: dict[str, np.ndarray] | None


def simulate(scenario: Scenario, seed: int) -> QIModel:
    """One run, as ``qisim run`` does it, without the per-ward detail."""
    model = QIModel(scenario, rng=seed, detail=False)
    model.run()
    return model


def run_task(task: Task) -> TaskResult:
    """Run a chunk; never raises for a run that fails (its row says why)."""
    rows: list[dict[str, Any]] = []
    series: list[dict[str, np.ndarray]] = []
    for point, replicate, seed, overrides in task.runs:
        row: dict[str, Any] = {"point": point, "replicate": replicate, "seed": seed}
        try:
            run = task.runner if task.runner is not None else partial(model_run, task)
            scalars, kept = run(task.base, overrides, seed)
            row.update({k: scalars[k] for k in task.scalars})
            row.update(status="ok", error=None)
            if task.timeseries and kept is not None:
                n = len(kept["day"])
                cols = {"point": np.full(n, point), "replicate": np.full(n, replicate)}
                series.append(cols | {c: kept[c] for c in ("day", *task.timeseries)})
        except Exception as err:  # a failed run is recorded, and the chunk goes on
            last = traceback.extract_tb(err.__traceback__)[-1:] if err.__traceback__ else []
            where = f" ({os.path.basename(last[0].filename)}:{last[0].lineno})" if last else ""
            row.update(status="failed", error=f"{type(err).__name__}: {err}{where}")
        rows.append(row)
    joined = None
    if series:
        joined = {k: np.concatenate([s[k] for s in series]) for k in series[0]}
    return TaskResult(task.chunk, rows, joined)


def model_run(task: Task, base: Scenario, overrides: Mapping[str, Any], seed: int):
    """One model run of a sweep: its summary, and its kept daily series (every k-th day)."""
    model = simulate(base.with_overrides({**overrides, "seed": seed}, source="experiment"), seed)
    if not task.timeseries:
        return model.summary(), None
    ts = model.timeseries()
    keep = slice(None, None, task.every)
    return model.summary(), {"day": ts["day"][keep].astype(np.int64)} | {
        c: ts[c][keep] for c in task.timeseries
    }


#: The modules whose code decides what a run gives (see :func:`model_code`).
MODEL_MODULES = (
    "agents",
    "events",
    "mechanisms",
    "model",
    "scenario",
    "schema",
    "state",
    "experiments/execute",
)


def model_code() -> str:
    """A short hash of the source of the modules that decide a run's results: the
    version number alone does not change with every edit of the model, and results of
    different model code must not be mixed (on --resume, or across Dask workers)."""
    import hashlib

    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for name in MODEL_MODULES:
        digest.update(name.encode() + b"\0" + (root / f"{name}.py").read_bytes() + b"\0")
    return digest.hexdigest()[:12]
