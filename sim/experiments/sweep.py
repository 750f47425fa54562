"""A sweep: design -> execute -> store, with a progress bar and a closing summary.

:func:`prepare` reads and checks everything before anything is written (the experiment,
every design point, the output directory); :func:`run_sweep` then sends the runs that
are missing, chunk by chunk, to an executor, keeps a bounded number of chunks in flight
(so that memory does not grow with the size of the sweep) and stores each chunk as it
finishes.
"""

from __future__ import annotations

import concurrent.futures as cf
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..console import Terminated, check_stopped
from .design import Design, build_design, chunks, run_seed, validate_points
from .execute import Task, TaskResult, run_task
from .executors import ExecutorInfo
from .experiment import Experiment, n_points
from .store import MANIFEST, RUNS, SERIES, Store, make_manifest, read_manifest


class OutDirError(ValueError):
    """The output directory cannot take this sweep (one line)."""


@dataclass
class Plan:
    """A checked experiment, its design and manifest, and where it goes."""

    experiment: Experiment
    design: Design
    manifest: dict[str, Any]
    out: Path
    resume: bool
    existing: bool


@dataclass
class SweepReport:
    """What a sweep did."""

    name: str
    out: Path
    points: int
    replicates: int
    total: int
    stored_before: int
    ran: int = 0
    ok: int = 0
    failed: int = 0
    failures: list[tuple[int, int, str]] = field(default_factory=list)  # the first few
    wall: float = 0.0
    executor: str = ""
    interrupted: bool = False  # by a Ctrl-C, a SIGTERM or a broken executor
    terminated: bool = False  # by a SIGTERM
    stopped: str = ""
    files: list[Path] = field(default_factory=list)


def prepare(exp: Experiment, out: Path, resume: bool) -> Plan:
    """Build and validate the design and check ``out``; writes nothing."""
    design = build_design(exp)
    if len(design) != n_points(exp):  # SALib's sizes are as documented; say so if not
        raise OutDirError(f"{exp.source}: the design has {len(design)} points, expected {n_points(exp)}")
    validate_points(exp, design)
    manifest = make_manifest(exp)
    existing = check_out(out, manifest, resume, exp)
    return Plan(exp, design, manifest, out, resume, existing)


def check_out(out: Path, manifest: dict[str, Any], resume: bool, exp: Experiment) -> bool:
    """Whether ``out`` already holds this sweep; an error if it cannot take it."""
    from ..outputs import unwritable

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutDirError(f"--out: '{out}' exists and is not a directory")
    problem = unwritable(out)  # (a sweep writes its files and temporary files in it)
    if problem:
        raise OutDirError(f"--out: '{out}' cannot be written: {problem}")
    if not out.exists():
        return False
    old = read_manifest(out) if (out / MANIFEST).exists() else None
    if old is None:
        if any(p for p in out.iterdir() if not p.name.startswith(".")):
            raise OutDirError(
                f"--out: '{out}' exists and is not a sweep directory; choose a new or empty directory"
            )
        return False
    old_exp = old.get("experiment", {})
    if old_exp.get("fingerprint") != manifest["experiment"]["fingerprint"]:
        raise OutDirError(
            f"--out: '{out}' holds results of a different experiment ({old_exp.get('source', '?')}, "
            f"fingerprint {old_exp.get('fingerprint', '?')}; this one is "
            f"{manifest['experiment']['fingerprint']}); "
            "choose another --out"
        )
    old_v, new_v = old.get("versions", {}), manifest["versions"]
    for key, what in (("qisim", "qisim"), ("qisim_model_code", "model code")):
        if old_v.get(key) != new_v[key]:
            raise OutDirError(
                f"--out: '{out}' holds results of {what} {old_v.get(key)}; this is {what} {new_v[key]}, "
                "whose runs may differ; choose another --out"
            )
    if not resume:
        stored = int(Store.open(out).stored_ok().sum())
        raise OutDirError(
            f"--out: '{out}' already holds this experiment ({stored} of {manifest['runs']} runs stored); "
            "add --resume to run only what is missing, or choose another --out"
        )
    return True


def open_store(plan: Plan) -> Store:
    """The store of ``plan``: a new one, or the one in ``plan.out``, its part files checked
    (:meth:`Store.check_parts`) and its design written again if it is missing or damaged
    (:func:`check_out` found the manifest to be this experiment's)."""
    if not plan.existing:
        return Store.create(plan.out, plan.experiment, plan.design, plan.manifest)
    store = Store.open(plan.out)
    store.check_parts()
    store.repair_design(plan.design)
    store.parts.mkdir(exist_ok=True)
    return store


def tasks(exp: Experiment, design: Design, store: Store, todo: np.ndarray) -> Iterator[Task]:
    """One task per chunk that has runs to do, built when it is needed."""
    r = exp.replicates
    for c, span in enumerate(chunks(store.total, store.chunk_size)):
        runs = tuple(
            (run // r, run % r, run_seed(exp, run // r, run % r), design.overrides(run // r))
            for run in span
            if todo[run]
        )
        if runs:
            yield Task(c, exp.base, runs, exp.scalars, exp.timeseries, exp.every, exp.runner)


def run_sweep(plan: Plan, store: Store, info: ExecutorInfo, progress: bool = True) -> SweepReport:
    """Run what ``store`` lacks on ``info.executor``, storing each chunk as it finishes."""
    from tqdm import tqdm

    exp, design = plan.experiment, plan.design
    ok = store.stored_ok()
    report = SweepReport(
        exp.name, plan.out, len(design), exp.replicates, store.total, int(ok.sum()), executor=info.label
    )
    todo = ~ok
    if todo.any():
        store.clear_consolidated()
    start = time.perf_counter()
    window = max(2, 2 * info.slots)
    queue = tasks(exp, design, store, todo)
    pending: dict[cf.Future, Task] = {}
    bar = tqdm(
        total=store.total,
        initial=report.stored_before,
        desc=exp.name,
        unit="run",
        disable=not progress,
        leave=False,
        smoothing=0.1,
    )

    def fill() -> None:
        while len(pending) < window:
            task = next(queue, None)
            if task is None:
                return
            pending[info.executor.submit(run_task, task)] = task

    try:
        check_stopped()  # (one an import swallowed)
        fill()
        while pending:
            done, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
            check_stopped()
            for future in sorted(done, key=lambda f: pending[f].chunk):
                task = pending.pop(future)
                result = _result(future, task)
                _store(store, design, result, report, ok)
                bar.update(len(result.rows))
            fill()
        bar.close()
        report.files = store.consolidate()  # (cut short, the parts stay the record: --resume redoes it)
    except KeyboardInterrupt as stop:  # a Ctrl-C, or a SIGTERM (sim.console.Terminated)
        report.interrupted = True
        report.terminated = isinstance(stop, Terminated)
        for future in pending:
            future.cancel()
    except cf.BrokenExecutor as err:  # e.g. a pool worker was killed (out of memory?)
        report.interrupted = True
        report.stopped = f"the executor broke ({type(err).__name__}: {err})"
    finally:
        bar.close()
        report.wall = time.perf_counter() - start
    store.write_status(
        {
            "runs": store.total,
            "stored_ok": int(ok.sum()),
            "failed": report.failed,
            "ran": report.ran,
            "wall_seconds": round(report.wall, 3),
            "executor": info.label,
            "complete": bool(ok.all()),
            "interrupted": report.interrupted,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
    )
    return report


def _result(future: cf.Future, task: Task) -> TaskResult:
    """The chunk's result; if the task itself failed (a worker died, the cluster lost
    it), every run of the chunk is recorded as failed with that error."""
    try:
        return future.result()
    except Exception as err:
        error = f"the executor lost this chunk: {type(err).__name__}: {err}"
        rows = [
            {"point": p, "replicate": r, "seed": seed, "status": "failed", "error": error}
            for p, r, seed, _ in task.runs
        ]
        return TaskResult(task.chunk, rows, None)


def _store(store: Store, design: Design, result: TaskResult, report: SweepReport, ok: np.ndarray) -> None:
    r = report.replicates
    for row in result.rows:
        row.update(design.overrides(row["point"]))
        run = row["point"] * r + row["replicate"]
        ok[run] = row["status"] == "ok"
        report.ran += 1
        if ok[run]:
            report.ok += 1
        else:
            report.failed += 1
            if len(report.failures) < 10:
                report.failures.append((row["point"], row["replicate"], str(row.get("error"))))
    store.write_chunk(result.chunk, result.rows, result.series)


def summary_text(report: SweepReport, command: str) -> str:
    """The closing summary of ``qisim sweep``."""
    lines = [
        f"{report.name}: {report.total} runs ({_count(report.points, 'design point')} x "
        f"{_count(report.replicates, 'replicate')})",
    ]
    if report.stored_before:
        lines.append(f"  {report.stored_before} were already stored")
    if report.ran or not report.stored_before:
        lines.append(
            f"  ran {report.ran} in {_duration(report.wall)} {report.executor}: "
            f"{report.ok} ok, {report.failed} failed"
        )
    else:
        lines.append("  nothing was left to run")
    for point, replicate, error in report.failures[:3]:
        lines.append(f"    failed: point {point}, replicate {replicate}: {error}")
    if report.failed > 3:
        lines.append(f"    ... and {report.failed - 3} more (status 'failed' in {report.out / RUNS})")
    if report.interrupted:
        stored = report.stored_before + report.ok
        if report.stopped:
            lines.append(f"  stopped: {report.stopped}")
        how = "terminated" if report.terminated else "interrupted"
        lines.append(
            f"  {how}: {stored} of {report.total} runs are stored in {report.out}/ and kept; "
            f"run `{command} --resume` to do the rest"
        )
        return "\n".join(lines)
    if report.failed:
        lines.append(f"  `{command} --resume` runs the failed ones again")
    names = [p.name for p in report.files]
    what = " and ".join(names) or RUNS
    lines.append(
        f"  results: {report.out}/ ({what}; one row per run{', per day' if SERIES in names else ''})"
    )
    lines.append(f"  next: qisim analyse {report.out}")
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
