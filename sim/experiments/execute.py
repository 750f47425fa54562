"""Running chunks of runs on an executor.

The unit of work is a :class:`Task`: a chunk of consecutive runs, each a design point's
overrides and a seed on top of the base scenario.  :func:`run_task` runs one chunk and
returns plain rows and arrays; a run that raises becomes a ``failed`` row with its error,
and the chunk goes on.  Chunks share one task's overhead (pickling, scheduling) among
several runs, and a worker imports qisim once, at its first task, whatever the number
of runs it then does.

Any :class:`concurrent.futures.Executor` can run the tasks (:func:`open_executor`):

- :class:`SequentialExecutor`: in this process, one task at a time (``--workers 1``);
- a local :class:`~concurrent.futures.ProcessPoolExecutor` (``--workers N``, the
  default), whose workers are forked from a server process that has already imported
  qisim, so a worker's start-up costs milliseconds, once;
- a Dask distributed cluster (``--scheduler tcp://HOST:PORT``), through
  ``distributed.Client.get_executor()``, Dask's own ``concurrent.futures`` interface.

Results do not depend on the executor: every run's inputs (scenario and seed) are fixed
before it is sent, and the store orders rows by design point and replicate.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import re
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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


# -- executors -------------------------------------------------------------------------------


class SequentialExecutor(cf.Executor):
    """Runs each task in this process when it is submitted: no start-up, no pickling."""

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        future: cf.Future = cf.Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # the caller sees it through the future
            future.set_exception(err)
        return future


@dataclass
class ExecutorInfo:
    """An open executor, how many tasks it runs at once, and how to describe it."""

    executor: cf.Executor
    slots: int
    label: str


def default_workers() -> int:
    """The CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _warm_up() -> None:
    """Initialiser of a pool worker: import the model once per worker."""
    import sim.model  # noqa: F401


def _context():
    """Fork from a server that has imported qisim (Linux, macOS); spawn elsewhere."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["sim.experiments.execute"])
        return ctx
    return multiprocessing.get_context("spawn")


@contextmanager
def open_executor(workers: int | None = None, scheduler: str | None = None) -> Iterator[ExecutorInfo]:
    """The executor for ``--workers`` / ``--scheduler``; closed (tasks cancelled) on exit."""
    if scheduler:
        with _dask_executor(scheduler) as info:
            yield info
        return
    n = default_workers() if workers is None else workers
    if n <= 1:
        yield ExecutorInfo(SequentialExecutor(), 1, "in this process")
        return
    pool = cf.ProcessPoolExecutor(max_workers=n, mp_context=_context(), initializer=_warm_up)
    try:
        yield ExecutorInfo(pool, n, f"on a local pool of {n} worker processes")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


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


def worker_version() -> str:
    """The qisim version and model code a (Dask) worker runs."""
    from sim import __version__

    return f"{__version__} (model code {model_code()})"


@contextmanager
def _dask_executor(address: str, wait_seconds: float = 60.0) -> Iterator[ExecutorInfo]:
    """A Dask cluster's ``concurrent.futures`` executor, once the workers are known to
    run this version of qisim."""
    from distributed import Client  # Dask distributed: runs tasks on a cluster of workers

    from sim.cli import UsageError

    if not re.fullmatch(r"((tcp|tls|ws|wss|ucx)://)?(\[[0-9a-fA-F:.]+\]|[^\s/:\[\]]+):\d{1,5}", address):
        raise UsageError(f"--scheduler: expected an address such as tcp://HOST:PORT (got {address!r})")
    try:
        client = Client(address, timeout="10s", set_as_default=False)
    except Exception as err:  # OSError, TimeoutError, ValueError for a bad address
        raise UsageError(
            f"--scheduler: cannot connect to {address!r} ({' '.join(str(err).split())})"
        ) from None
    try:
        try:
            client.wait_for_workers(1, timeout=wait_seconds)
        except Exception:
            raise UsageError(
                f"--scheduler: no worker joined {address} within {wait_seconds:.0f} s; "
                f"start workers with `dask worker {address}`"
            ) from None
        try:
            versions = client.run(worker_version)
        except Exception as err:
            raise UsageError(
                f"--scheduler: a worker of {address} cannot import qisim ({type(err).__name__}: {err}); "
                "install qisim on every worker"
            ) from None
        here = worker_version()
        wrong = {w: v for w, v in versions.items() if v != here}
        if wrong:
            w, v = next(iter(wrong.items()))
            raise UsageError(
                f"--scheduler: worker {w} runs qisim {v}, this is qisim {here}; "
                "install the same qisim everywhere"
            )
        slots = max(1, sum(client.nthreads().values()))
        executor = client.get_executor(pure=False)
        workers = f"{len(versions)} worker{'s' if len(versions) != 1 else ''}"
        try:
            yield ExecutorInfo(
                executor,
                slots,
                f"on the Dask cluster at {address} ({workers})",
            )
        finally:
            executor.shutdown(wait=False)
    finally:
        client.close()
