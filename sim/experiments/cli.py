"""``qisim sweep`` and ``qisim analyse``: registered by :func:`register`.

Only light modules are imported here; pyarrow, SALib, Dask and matplotlib are imported
when a command runs, so that ``qisim --help`` stays fast.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..cli import UsageError


def register(sub) -> None:
    """Add the ``sweep`` and ``analyse`` subcommands to ``qisim``'s subparsers."""
    p = sub.add_parser(
        "sweep",
        help="run an experiment: a design of scenario variants times replicates",
        description="Run an experiment file: every design point (a grid of factor values, or a "
        "Latin hypercube, Sobol or Morris sample) times the replicates, with common random numbers "
        "across points by default. Each finished chunk of runs is stored at once in --out (Parquet), "
        "so an interrupted sweep continues with --resume. Exit 1 when some runs failed (they are "
        "recorded, and --resume tries them again).",
    )
    p.add_argument(
        "experiment", metavar="EXPERIMENT", help="an experiment .toml file, or the name of a shipped one"
    )
    add_run_arguments(p, "results/<experiment>")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser(
        "analyse",
        aliases=["analyze"],
        help="tables and figures from a sweep's results",
        description="Analyse a sweep directory: per design point the mean and 95% confidence "
        "interval of each outcome, main effects and interactions, time-series envelopes (when series "
        "were kept), Sobol or Morris indices with confidence intervals, and a check of the number of "
        "replicates. Writes OUT/analysis/ (replacing an earlier analysis).",
    )
    p.add_argument("out", type=Path, metavar="OUT", help="the --out directory of `qisim sweep`")
    p.add_argument(
        "--outcomes",
        metavar="A,B",
        help="outcomes to draw, comma-separated (default: those of sustainment, adoption_final, "
        "effect and alignment_mean that the sweep stored)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_analyse)


def add_run_arguments(p: argparse.ArgumentParser, default_out: str) -> None:
    """The options of a command that runs a design through the sweep runner."""
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="local worker processes (default: the CPUs available; 1 runs in this process)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on a Dask distributed cluster, e.g. tcp://10.0.0.5:8786 (workers need qisim installed)",
    )
    p.add_argument("--out", type=Path, metavar="DIR", help=f"results directory (default: {default_out})")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the sweep stored in --out: run only the runs that are missing or failed",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run (or resume) an experiment and store its results."""
    from .experiment import load_experiment

    check_executor_args(args)
    exp = load_experiment(args.experiment)
    out = args.out if args.out is not None else Path("results") / _slug(exp.name)
    report, text = sweep(exp, out, args, f"qisim sweep {args.experiment} --out {out}")
    print(text)
    return exit_status(report)


#: Most local worker processes (--workers): more than a machine's cores only costs memory.
MAX_WORKERS = 1024


def check_workers(workers: int | None) -> None:
    """--workers, if given, is a number of processes a machine can start."""
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise UsageError(f"--workers: must be an integer from 1 to {MAX_WORKERS} (got {workers})")


def check_executor_args(args: argparse.Namespace) -> None:
    """--workers and --scheduler make sense, alone."""
    check_workers(args.workers)
    if args.workers is not None and args.scheduler:
        raise UsageError("give --workers (a local pool) or --scheduler (a Dask cluster), not both")
    if args.scheduler is not None and not args.scheduler.strip():
        raise UsageError("--scheduler: give an address such as tcp://127.0.0.1:8786")


def sweep(exp, out: Path, args: argparse.Namespace, command: str):
    """Check, then run (or resume) ``exp`` into ``out`` on the executor of ``args``; returns
    the sweep's report and its closing summary."""
    from .executors import open_executor
    from .store import StoreError
    from .sweep import OutDirError, open_store, prepare, run_sweep, summary_text

    try:
        plan = prepare(exp, out, args.resume)
        store = open_store(plan) if plan.existing else None  # (a damaged one is found now)
        with open_executor(args.workers, args.scheduler) as info:
            if not args.quiet:
                print(f"{exp.name}: {exp.title}; running {info.label}", file=sys.stderr)
            store = store or open_store(plan)
            report = run_sweep(plan, store, info, progress=not args.quiet)
    except (OutDirError, StoreError) as err:
        raise UsageError(str(err)) from None
    if args.scheduler:
        command += f" --scheduler {args.scheduler}"
    return report, summary_text(report, command)


def exit_status(report) -> int:
    """0 when every run is stored; 1 when some failed or the executor broke; 130 when
    interrupted (143 by a SIGTERM)."""
    if report.interrupted:
        return 1 if report.stopped else 143 if report.terminated else 130
    return 1 if report.failed else 0


def cmd_analyse(args: argparse.Namespace) -> int:
    """Tables and figures of a stored sweep."""
    out: Path = args.out
    if not out.is_dir():
        raise UsageError(f"OUT: '{out}' is not a directory; give the --out of `qisim sweep`")
    if not (out / "manifest.json").is_file():
        raise UsageError(
            f"OUT: '{out}' is not a sweep directory (no manifest.json); give the --out of `qisim sweep`"
        )
    from ..outputs import unwritable
    from .store import StoreError, read_manifest

    try:
        manifest = read_manifest(out) or {}
    except StoreError as err:
        raise UsageError(str(err)) from None
    # a trial's store is read by its own report, not as a sweep
    if "runner" in manifest.get("settings", {}):
        raise UsageError(
            f"OUT: '{out}' holds simulated trials, which `qisim analyse` cannot read as a sweep; "
            f"their analysis is {out / 'report'}/ (rewritten by `qisim trial TRIAL --out {out} --resume`)"
        )
    problem = unwritable(out)  # (the analysis is written in it, through a temporary folder)
    if problem:
        raise UsageError(f"OUT: '{out}' cannot be written, so its analysis/ cannot: {problem}")
    outcomes = [s.strip() for s in args.outcomes.split(",") if s.strip()] if args.outcomes else None
    from .analyse import analyse

    try:
        result = analyse(out, outcomes, progress=not args.quiet)
    except StoreError as err:
        raise UsageError(str(err)) from None
    print("\n".join(result.lines))
    for note in result.notes:
        print(f"  note: {note}")
    print(f"\nWrote {result.out}/ (README.md lists every file). Figures:")
    for path in result.files:
        if path.suffix == ".png":
            print(f"  {path}")
    return 0


def _slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "experiment"
