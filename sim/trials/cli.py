"""``qisim trial``: simulated trials through the sweep runner, then their report.

Only light modules are imported at registration; the model, statsmodels, pyarrow and
matplotlib are imported when the command runs.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..experiments.cli import add_run_arguments


def register(sub) -> None:
    """Add the ``trial`` subcommand to ``qisim``'s subparsers."""
    p = sub.add_parser(
        "trial",
        help="virtual cluster trials (stepped-wedge, parallel, before-after) against the truth",
        description="Simulate a trial file's cluster trial many times: each simulated trial randomises "
        "the order of its clusters, runs the model, measures harms and bed-days per cluster and period, "
        "and estimates the effect as trialists do (a Poisson GEE with period effects, the same with "
        "effects by time since the switch, and the naive before-after estimate), with the true effect "
        "from the model's counterfactual beside it. "
        "Runs through the sweep runner (stored as they finish, --resume, local pool or Dask), then "
        "writes OUT/report/: bias, coverage, power per design point, as a table and figures.",
    )
    p.add_argument("trial", metavar="TRIAL", help="a trial .toml file, or the name of a shipped one")
    p.add_argument(
        "--trials", type=int, metavar="N", help="simulated trials per design point (default: the file's)"
    )
    add_run_arguments(p, "results/trials/<trial>")
    p.set_defaults(func=cmd_trial)


def cmd_trial(args: argparse.Namespace) -> int:
    """Simulate, store, report."""
    from ..cli import UsageError
    from ..console import stopped
    from ..experiments.cli import check_executor_args, exit_status, sweep
    from ..experiments.store import StoreError
    from .definition import load_trial, to_experiment
    from .report import write_report

    check_executor_args(args)
    trial = load_trial(args.trial, args.trials)
    exp = to_experiment(trial)
    name = re.sub(r"[^\w.-]+", "_", trial.name).strip("._") or "trial"
    out = args.out if args.out is not None else Path("results") / "trials" / name
    command = f"qisim trial {args.trial} --out {out}" + (f" --trials {args.trials}" if args.trials else "")
    report, text = sweep(exp, out, args, command)
    text = text.replace("one row per run, per day", "one row per simulated trial, per cluster and period")
    print("\n".join(line for line in text.splitlines() if not line.strip().startswith("next:")))
    if report.interrupted or not report.ok + report.stored_before:
        return exit_status(report) or 1
    try:
        result = write_report(out, trial.title)
    except StoreError as err:
        raise UsageError(str(err)) from None
    except KeyboardInterrupt as stop:  # a Ctrl-C, or a SIGTERM (sim.console.Terminated)
        stored = report.stored_before + report.ok
        return stopped(
            stop,
            f"the report was not written; the {stored} simulated trials are stored in {out}/ and kept: "
            f"`{command} --resume` writes the report",
        )
    print("\n".join(result.lines))
    print(f"\nWrote {result.out}/ (README.md lists every file):")
    for path in result.files:
        print(f"  {path}")
    return exit_status(report)
