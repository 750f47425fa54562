"""The ``qisim`` command line: ``scenarios``, ``run`` and ``compare``, plus the commands
that the modules in :data:`COMMAND_MODULES` register.

Bad input of any kind ends with one line on standard error, ``qisim: error: ...``, and
exit status 2, before anything is written.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from tqdm import tqdm

from . import __version__, schema
from .console import check_stopped, signals_taken, stopped, stopped_by
from .model import QIModel
from .outputs import paired_differences, write_compare, write_run
from .scenario import Scenario, ScenarioError, load_scenario, preset_names, toml_text
from .schema import Param

#: Modules that add subcommands, each with ``register(subparsers)``; they import heavy
#: libraries inside their command functions, so that every command starts fast.
COMMAND_MODULES = ("sim.experiments.cli", "sim.app.cli", "sim.validation", "sim.trials.cli")


class UsageError(Exception):
    """Bad command-line input found by the command line itself (one line)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors become one line (via :class:`UsageError`)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qisim`` console script; returns the exit status. A SIGTERM
    takes the way out of a Ctrl-C (:func:`sim.console.signals_taken`)."""
    with signals_taken():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    try:
        given = list(sys.argv[1:] if argv is None else argv)
        args, extra = _build_parser().parse_known_args(given)
        if extra:  # named against the help that lists the options where it was given
            before = given.index(extra[0]) < given.index(args.command)
            where = "qisim" if before else f"qisim {args.command}"
            raise UsageError(f"unrecognized arguments: {' '.join(extra)} (see `{where} --help`)")
        check_stopped()  # (one an import swallowed)
        with _slow_bars_off_a_terminal():
            return args.func(args)
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    except (ScenarioError, UsageError) as err:
        return _fail(str(err))
    except BrokenPipeError:  # output piped into `head`: stop quietly (Python docs' recipe)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        return _fail(f"{where}{err.strerror or err}")
    except BaseException as err:  # a Ctrl-C or SIGTERM, or an error one caused (an import cut short)
        stop = stopped_by(err)
        if stop is None:
            raise
        return stopped(stop)


@contextlib.contextmanager
def _slow_bars_off_a_terminal():
    """Progress bars written to a file or a pipe (a log) redraw every 10 s, not ten times a
    second, so that the log does not fill with them; tqdm reads its default from
    ``TQDM_MININTERVAL`` (a value the user set is kept). Restored afterwards."""
    if sys.stderr.isatty() or "TQDM_MININTERVAL" in os.environ:
        yield
        return
    os.environ["TQDM_MININTERVAL"] = "10"
    try:
        yield
    finally:
        os.environ.pop("TQDM_MININTERVAL", None)


def _fail(message: str) -> int:
    print(f"qisim: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def _build_parser() -> _Parser:
    parser = _Parser(
        prog="qisim",
        description="Agent-based simulation of quality-improvement interventions in hospitals "
        "(the model of alignment).",
    )
    parser.add_argument("--version", action="version", version=f"qisim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "scenarios",
        help="list the preset scenarios, or describe one",
        description="List the preset scenarios with their titles; describe one "
        "preset; or list every scenario key with --keys.",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="a preset name or .toml file to describe")
    p.add_argument(
        "--keys",
        action="store_true",
        help="list every scenario key with its unit, default and allowed values",
    )
    p.add_argument("--quiet", action="store_true", help="accepted as by every command (no progress to hide)")
    p.set_defaults(func=cmd_scenarios)

    p = sub.add_parser(
        "run",
        help="run one scenario and write its outputs and figures",
        description="Run one scenario; write time series, detail, summary, narration and figures to --out.",
    )
    p.add_argument("scenario", metavar="SCENARIO", help="a preset name or a path to a .toml file")
    p.add_argument("--seed", type=int, help="random seed (default: the scenario's seed)")
    _common_options(p, "results/<scenario>-seed<N>")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "compare",
        help="run two scenarios on the same seeds and compare them",
        description="Run scenarios A and B on the same seeds (common random "
        "numbers); write per-replicate summaries, paired differences B - A with "
        "95% confidence intervals, comparison figures, and the first replicate's "
        "full outputs in A/ and B/.",
    )
    p.add_argument("scenario_a", metavar="SCENARIO_A", help="preset name or .toml file (A)")
    p.add_argument("scenario_b", metavar="SCENARIO_B", help="preset name or .toml file (B)")
    p.add_argument(
        "--replicates", type=int, default=10, metavar="N", help="seeds per scenario (default: 10, at least 2)"
    )
    p.add_argument("--seed", type=int, default=1, help="first seed; then seed+1, ... (default: 1)")
    _common_options(p, "results/<A>-vs-<B>", both=True)
    p.set_defaults(func=cmd_compare)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name in (name, name.rpartition(".")[0]):
                continue  # that part of qisim is not there
            raise
        module.register(sub)
    return parser


def _common_options(p: argparse.ArgumentParser, default_out: str, both: bool = False) -> None:
    """``--days``, ``--set``, ``--out`` and ``--quiet``; ``both``: the command runs two scenarios,
    and ``--days`` and ``--set`` apply to each."""
    each = ", in both scenarios" if both else ""
    p.add_argument("--days", type=int, metavar="N", help=f"days to simulate{each} (default: the scenario's)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help=f"override a scenario key by its dotted path{each}, e.g. managers.bias=-1 "
        "(repeatable; see `qisim scenarios --keys`)",
    )
    p.add_argument("--out", type=Path, metavar="DIR", help=f"output directory (default: {default_out})")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


# -- scenarios ---------------------------------------------------------------------------


def cmd_scenarios(args: argparse.Namespace) -> int:
    """List presets, describe one, or list the schema's keys."""
    if args.keys and args.name:
        raise UsageError("give either NAME or --keys, not both")
    if args.keys:
        print(keys_text())
    elif args.name:
        scenario = load_scenario(args.name)
        print(scenario["title"] or scenario.name)
        print()
        print(textwrap.dedent(scenario["description"]).strip() or "(no description)")
        print(f"\nRun it: qisim run {args.name}")
    else:
        names = preset_names()
        width = max(map(len, names), default=0)
        print("Preset scenarios (`qisim scenarios NAME` describes one, `qisim run NAME` runs it):")
        for name in names:
            print(f"  {name:<{width}}  {load_scenario(name)['title']}")
    return 0


def keys_text() -> str:
    """Every scenario key with its default, unit, allowed values and meaning."""
    lines = ["Scenario keys: set them in a .toml file or with --set KEY=VALUE."]
    section = None
    for p in schema.PARAMS:
        prefix = p.key.rpartition(".")[0]
        if prefix != section:
            section = prefix
            lines += ["", schema.SECTIONS.get(prefix, prefix)]
        lines += _key_lines(p.key, p)
    for head, params, what in (
        ("interventions", schema.INTERVENTION, "intervention"),
        ("events", schema.EVENT, "timeline event"),
    ):
        lines += [
            "",
            f"{head.capitalize()}: one [[{head}]] table per {what} in a file, {head}.N.FIELD with --set",
        ]
        for p in params:
            lines += _key_lines(f"{head}.N.{p.key}", p, p.key in schema.REQUIRED_ITEM_KEYS.get(head, ()))
    return "\n".join(lines)


def _key_lines(key: str, p: Param, required: bool = False) -> list[str]:
    unit = f"  [{p.unit}]" if p.unit != "-" else ""
    given = "  (required)" if required else f" = {toml_text(p.default)}{unit}"
    return [f"  {key}{given}", f"      {p.allowed()}. {p.doc}"]


# -- run -----------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    """Run one scenario and write its outputs."""
    scenario = _load(args.scenario, args)
    _say_what_is_never_reached([scenario])
    seed = scenario["seed"] if args.seed is None else args.seed
    scenario = _with_seed(scenario, seed)
    out = _out_dir(args.out, f"{_slug(scenario.name)}-seed{seed}")
    model = QIModel(scenario, rng=seed)
    model.run(progress=not args.quiet)
    paths = write_run(model, out)
    print(run_report(model.summary(), scenario, model.primary))
    print(
        f"\nWrote {out}/ (timeseries.csv, wards.csv, interventions.csv, issues.csv, "
        "summary.json, events.log). Figures:"
    )
    for path in paths:
        print(f"  {path}")
    return 0


def run_report(s: dict[str, Any], scenario: Scenario, primary: str) -> str:
    """A few lines on the outcome of one run."""
    effect = s["effect"]
    change = f"{abs(effect):.1%} {'fewer' if effect >= 0 else 'more'} harms"
    window = min(90, s["days"])
    return "\n".join(
        [
            f"{scenario.name}: {primary}, seed {s['seed']}, {s['days']} days "
            f"({_count(scenario['organisation.hospitals'], 'hospital')} of "
            f"{_count(scenario['organisation.wards_per_hospital'], 'ward')})",
            f"  adoption             peak {s['adoption_peak']:.2f}, final {s['adoption_final']:.2f} "
            "(share of clinicians using it)",
            f"  sustainment          {s['sustainment']:.2f} (mean adoption over the last {window} "
            "days / peak)",
            f"  effect               {change} than the counterfactual (last {window} days)",
            f"  reported compliance  {s['reported_compliance_final']:.2f} against true fidelity "
            f"{s['fidelity_final']:.2f}",
            f"  issues               {s['issues_raised']} raised, {s['issues_resolved']} resolved",
        ]
    )


# -- compare -------------------------------------------------------------------------------


def cmd_compare(args: argparse.Namespace) -> int:
    """Run A and B on the same seeds and compare them."""
    if args.replicates < 2:
        raise UsageError(
            f"--replicates: must be an integer >= 2 (got {args.replicates}); "
            "a confidence interval needs two replicates at least"
        )
    sides = [_load(name, args) for name in (args.scenario_a, args.scenario_b)]
    if sides[0]["days"] != sides[1]["days"]:  # paired outcomes over different final windows
        raise UsageError(
            f"{args.scenario_a} runs {sides[0]['days']} days and {args.scenario_b} {sides[1]['days']}: "
            "a paired comparison needs the same length; give both --days N"
        )
    seeds = range(args.seed, args.seed + args.replicates)
    _with_seed(sides[0], seeds[0])
    try:
        _with_seed(sides[0], seeds[-1])
    except ScenarioError:
        raise UsageError(
            f"--seed: {args.replicates} replicates from seed {args.seed} run past the largest seed, "
            f"{2**63 - 1}: give a smaller --seed"
        ) from None
    _say_what_is_never_reached(sides)
    labels = [s.name for s in sides]
    if labels[0] == labels[1]:
        labels = [f"{labels[0]} (A)", f"{labels[1]} (B)"]
    out = _out_dir(args.out, f"{_slug(labels[0])}-vs-{_slug(labels[1])}")
    first, summaries, series = _replicates(sides, seeds, " vs ".join(labels), args.quiet)
    paths = write_compare(out, labels, sides, first, summaries, series)
    print(compare_report(labels, summaries, seeds))
    print(f"\nWrote {out}/ (summaries.csv, differences.csv; first replicate in A/ and B/). Figures:")
    for path in paths:
        print(f"  {path}")
    return 0


def _replicates(sides: Sequence[Scenario], seeds: range, desc: str, quiet: bool):
    """Run every side on every seed: the first replicates' models (kept with detail), and
    per side the summaries and daily series of all replicates."""
    first: list[QIModel] = []
    summaries: list[list[dict]] = [[] for _ in sides]
    series: list[list[dict]] = [[] for _ in sides]
    with tqdm(total=len(sides) * len(seeds), desc=desc, unit="run", disable=quiet, leave=False) as bar:
        for i, seed in enumerate(seeds):
            for side, scenario in enumerate(sides):
                model = QIModel(_with_seed(scenario, seed), rng=seed, detail=i == 0)
                model.run()
                summaries[side].append(model.summary())
                series[side].append(model.timeseries())
                if i == 0:
                    first.append(model)
                bar.update()
    return first, summaries, series


def compare_report(labels: Sequence[str], summaries, seeds: range) -> str:
    """The table of paired differences B - A."""
    rows = paired_differences(*summaries)
    head = (
        f"A = {labels[0]}, B = {labels[1]}: {len(seeds)} replicates on seeds "
        f"{seeds[0]}-{seeds[-1]}, {summaries[0][0]['days']} days"
    )
    width = max(len(r["outcome"]) for r in rows)
    lines = [head, "", f"  {'outcome':<{width}}  {'mean A':>9}  {'mean B':>9}  {'B - A':>9}  95% CI of B - A"]
    for r in rows:
        lines.append(
            f"  {r['outcome']:<{width}}  {_num(r['mean_a']):>9}  {_num(r['mean_b']):>9}  "
            f"{_num(r['difference'], sign=True):>9}  "
            f"[{_num(r['ci_low'], sign=True)}, {_num(r['ci_high'], sign=True)}]"
        )
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _num(x: float, sign: bool = False) -> str:
    plus = "+" if sign else ""
    return f"{x:{plus}.1f}" if abs(x) >= 100 else f"{x:{plus}.3f}"


# -- shared --------------------------------------------------------------------------------


def _load(name: str, args: argparse.Namespace) -> Scenario:
    """A scenario with --set and --days applied and validated."""
    try:
        scenario = load_scenario(name, args.overrides)
        if args.days is not None:
            scenario = scenario.with_overrides({"days": args.days}, source="--days")
    except ScenarioError as err:
        if not err.source.startswith("--"):
            raise
        raise ScenarioError(f"{err.source} (scenario {name})", err.key, err.message) from None
    return scenario


def _say_what_is_never_reached(scenarios: Sequence[Scenario]) -> None:
    """One line on standard error per scenario (once for two alike) that dates something
    on or after its last day."""
    said = set()
    for scenario in scenarios:
        late = after_the_end(scenario)
        if not late:
            continue
        line = (
            f"qisim: note: {scenario.name} runs {scenario['days']} days (days 0 to {scenario['days'] - 1}), "
            f"so these never happen: {'; '.join(late)}"
        )
        if line not in said:
            print(line, file=sys.stderr)
            said.add(line)


def after_the_end(scenario: Scenario) -> list[str]:
    """What a scenario dates on or after its last day, which a run of it never reaches (a
    preset run with a short ``--days``, say): a launch, a scale-up, an event, the
    facilitator's arrival."""
    days = scenario["days"]
    late = []
    for i, iv in enumerate(scenario.interventions):
        for key in ("launch_day", "scale_up_day"):
            if iv[key] >= days:
                late.append(f"interventions.{i}.{key} = {iv[key]} ({iv['name']})")
    for i, ev in enumerate(scenario.events):
        if ev["day"] >= days:
            late.append(f"events.{i} ({ev['kind']}) on day {ev['day']}")
    if scenario["facilitation.enabled"] and scenario["facilitation.start_day"] >= days:
        late.append(f"facilitation.start_day = {scenario['facilitation.start_day']}")
    return late


def _with_seed(scenario: Scenario, seed: int) -> Scenario:
    """The scenario with its ``seed`` key set to the seed of the run (validated)."""
    return scenario.with_overrides({"seed": seed}, source="--seed")


def _out_dir(out: Path | None, default_name: str) -> Path:
    out = Path("results") / default_name if out is None else out
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: '{out}' exists and is not a directory")
    from .outputs import unwritable

    problem = unwritable(out)
    if problem:
        raise UsageError(f"--out: '{out}' cannot be written: {problem}")
    return out


def _slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "scenario"


if __name__ == "__main__":  # python -m sim.cli
    sys.exit(main())
