"""Trial files: which clusters, which design, what is measured, what is varied.

A trial file is TOML (``experiments/trials/heads_up.toml`` is an example)::

    title = "HEADS-UP: a stepped-wedge trial of the safety briefing"
    description = "What the trial asks."
    scenario = "heads_up_site"      # the base: a preset name or a .toml path (relative to this file)
    trials = 200                    # simulated trials per design point (`--trials N` overrides)
    seed = 2015                     # every trial's seed (model and randomisation) comes from it

    [set]                           # fixed changes to the base scenario, by dotted key
    "organisation.hospitals" = 2

    [clusters]
    unit = "ward"                   # ward | hospital
    count = 7                       # 0 = every ward (every hospital)

    [design]
    kind = "stepped_wedge"          # stepped_wedge | parallel | before_after
    steps = 7
    period_days = 71

    [measure]
    process = ["fidelity", "issues_raised"]   # adoption is always measured

    [factors]                       # a power study: trial keys and scenario keys, as lists
    "clusters.count" = [4, 7]
    "incentives.manager.performance_review" = [0.0, 1.0]

Every key is in :data:`TRIAL_PARAMS` (unit, default, range, meaning); every problem
raises :class:`~sim.scenario.ScenarioError` naming the file, the key and what is allowed.
"""

from __future__ import annotations

import difflib
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..experiments.experiment import Experiment, Factor, _base_scenario, _factor, _flatten
from ..model import WARD_COLUMNS
from ..scenario import Scenario, ScenarioError, check_value, read_toml
from ..schema import I, Param, S

KINDS = ("stepped_wedge", "parallel", "before_after")
UNITS = ("ward", "hospital")
CORRECTIONS = ("bias_reduced", "robust")
#: Process measures a trial may record per cluster and period (means over ward-days,
#: ``issues_raised`` a count).
PROCESS = ("adoption", "fidelity", "reported_compliance", "issues_raised", "alignment")
DEFAULT_PROCESS = ("adoption", "fidelity", "issues_raised")
assert set(PROCESS) <= set(WARD_COLUMNS)

#: Every key of a trial file other than the tables ``[set]``, ``[measure]`` and ``[factors]``.
TRIAL_PARAMS: list[Param] = [
    S("title", "", "One-line title."),
    S("description", "", "What the trial asks and what to notice."),
    S(
        "scenario",
        "",
        "Required: the base scenario, a preset name or a .toml file (relative to the trial file).",
    ),
    I("trials", 100, 1, 100_000, "trials", "Simulated trials per design point; `--trials N` overrides it."),
    I(
        "seed",
        1,
        0,
        2**63 - 1,
        "-",
        "Base seed: simulated trial r has the same seed (model and randomisation) at every design point.",
    ),
    S(
        "clusters.unit",
        "ward",
        "What is randomised: wards, or whole hospitals.",
        choices=UNITS,
    ),
    I(
        "clusters.count",
        0,
        0,
        50_000,
        "clusters",
        "Clusters in the trial (0 = every ward, or every hospital). Wards are taken in turn from "
        "each hospital (its first ward, then its second, ...); wards not taken run no intervention "
        "of their own but may take it up by spread.",
    ),
    S(
        "design.kind",
        "stepped_wedge",
        "stepped_wedge: groups of clusters switch one period apart; parallel: half the clusters "
        "switch, half never do; before_after: every cluster switches at once (no control).",
        choices=KINDS,
    ),
    I(
        "design.steps",
        4,
        1,
        100,
        "steps",
        "Stepped wedge: groups of clusters that switch, one period apart; periods = steps + 1.",
    ),
    I("design.period_days", 60, 7, 3650, "days", "Length of a measurement period."),
    I("design.start_day", 0, 0, 7300, "day", "First day measured; earlier days are a run-in."),
    I(
        "design.baseline_periods",
        1,
        1,
        100,
        "periods",
        "Parallel and before-after designs: periods before the switch.",
    ),
    I(
        "design.followup_periods",
        2,
        1,
        100,
        "periods",
        "Parallel and before-after designs: periods after the switch.",
    ),
    S(
        "analysis.correction",
        "bias_reduced",
        "Sandwich variance of the GEE: bias_reduced (Mancl and DeRouen, for few clusters) or robust.",
        choices=CORRECTIONS,
    ),
]
BY_KEY = {p.key: p for p in TRIAL_PARAMS}
TABLES = ("set", "measure", "factors")
#: Trial keys that may be factors of a power study.
FACTOR_KEYS = tuple(k for k in BY_KEY if k.startswith(("clusters.", "design.")) and k != "design.kind")
TOP = tuple(dict.fromkeys(k.split(".")[0] for k in BY_KEY)) + TABLES


@dataclass(frozen=True)
class Settings:
    """A trial's clusters, design, measures and analysis (one design point's values)."""

    unit: str = "ward"
    count: int = 0
    kind: str = "stepped_wedge"
    steps: int = 4
    period_days: int = 60
    start_day: int = 0
    baseline_periods: int = 1
    followup_periods: int = 2
    correction: str = "bias_reduced"
    process: tuple[str, ...] = DEFAULT_PROCESS

    @property
    def periods(self) -> int:
        if self.kind == "stepped_wedge":
            return self.steps + 1
        return self.baseline_periods + self.followup_periods

    @property
    def horizon(self) -> int:
        return self.start_day + self.periods * self.period_days

    def with_keys(self, values: Mapping[str, Any]) -> Settings:
        """These settings with trial keys (``design.steps``) changed."""
        return replace(self, **{_FIELD[k]: v for k, v in values.items()})

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__} | {"process": list(self.process)}


_FIELD = {
    "clusters.unit": "unit",
    "clusters.count": "count",
    "design.kind": "kind",
    "design.steps": "steps",
    "design.period_days": "period_days",
    "design.start_day": "start_day",
    "design.baseline_periods": "baseline_periods",
    "design.followup_periods": "followup_periods",
    "analysis.correction": "correction",
}


@dataclass(frozen=True)
class Trial:
    """A validated trial file: the base scenario, the settings, the factors."""

    name: str
    source: str
    text: str
    title: str
    description: str
    scenario_ref: str
    base: Scenario
    settings: Settings
    trials: int
    seed: int
    factors: tuple[Factor, ...]


def load_trial(name_or_path: str | Path, trials: int | None = None) -> Trial:
    """Read and validate a trial file, by path or by the name of a shipped one."""
    path, source, body, raw = read_toml(name_or_path, "experiments/trials", "trial")
    return parse_trial(raw, source, name=path.stem, text=body, folder=path.parent, trials=trials)


def parse_trial(
    raw: Mapping[str, Any],
    source: str = "<trial>",
    *,
    name: str = "trial",
    text: str = "",
    folder=None,
    trials: int | None = None,
) -> Trial:
    """Validate the tables of a trial file (as read from TOML)."""
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in TOP:
            raise _unknown(source, key, TOP)
        if key in TABLES:
            if not isinstance(value, Mapping):
                raise ScenarioError(source, key, f"must be a table ([{key}])")
        elif key in BY_KEY:
            values[key] = check_value(BY_KEY[key], value, source, key)
        elif not isinstance(value, Mapping):
            raise ScenarioError(source, key, f"must be a table ([{key}])")
        else:
            for sub, v in value.items():
                full = f"{key}.{sub}"
                if full not in BY_KEY:
                    raise _unknown(source, full, [k for k in BY_KEY if k.startswith(key + ".")])
                values[full] = check_value(BY_KEY[full], v, source, full)
    if "scenario" not in values:
        raise ScenarioError(source, "scenario", "missing; name the base scenario (a preset or a .toml file)")
    if trials is not None:
        values["trials"] = check_value(BY_KEY["trials"], trials, "--trials", "trials")
    settings = Settings().with_keys({k: v for k, v in values.items() if k in _FIELD})
    settings = replace(settings, process=_process(raw.get("measure", {}), source))

    base = _base_scenario(values["scenario"], source, folder)
    fixed = dict(_flatten(raw.get("set", {}), source, "set", factors=False))
    for key in ("seed", "days"):
        if key in fixed:
            raise ScenarioError(source, f"set.{key}", "cannot be set here: the trial decides it")
    base = base.with_overrides(fixed, source=source)
    if not base.interventions:
        raise ScenarioError(source, "scenario", "the base scenario has no intervention to trial")
    if base.interventions[0]["scale_up_day"] >= 0:
        raise ScenarioError(
            source,
            "set.interventions.0.scale_up_day",
            "must be -1: the trial decides when each cluster starts the intervention",
        )
    factors = []
    for key, spec in _flatten(raw.get("factors", {}), source, "factors", factors=True):
        if key in BY_KEY:
            factors.append(_trial_factor(key, spec, source))
        else:
            factors.append(_factor(key, spec, base, fixed, "grid", source))
    trial = Trial(
        name=name,
        source=source,
        text=text,
        title=values.get("title", name),
        description=textwrap.dedent(values.get("description", "")).strip(),
        scenario_ref=values["scenario"],
        base=base,
        settings=settings,
        trials=values.get("trials", BY_KEY["trials"].default),
        seed=values.get("seed", BY_KEY["seed"].default),
        factors=tuple(factors),
    )
    return trial


def _process(table: Any, source: str) -> tuple[str, ...]:
    if not isinstance(table, Mapping):
        raise ScenarioError(source, "measure", "must be a table ([measure])")
    for k in table:
        if k != "process":
            raise _unknown(source, f"measure.{k}", ["measure.process"])
    value = table.get("process", list(DEFAULT_PROCESS))
    allowed = ", ".join(PROCESS)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ScenarioError(source, "measure.process", f"must be a list of names from: {allowed}")
    for v in value:
        if v not in PROCESS:
            raise ScenarioError(source, "measure.process", f"unknown measure {v!r}; allowed: {allowed}")
    if len(set(value)) < len(value):
        raise ScenarioError(source, "measure.process", "names repeat; each name once")
    return tuple(dict.fromkeys(("adoption", *value)))  # adoption always: the report's exposure needs it


def _trial_factor(key: str, spec: Any, source: str) -> Factor:
    where = f"factors.{key}"
    if key not in FACTOR_KEYS:
        raise ScenarioError(
            source, where, f"cannot be a factor; trial keys that can: {', '.join(FACTOR_KEYS)}"
        )
    if not isinstance(spec, list) or not spec:
        raise ScenarioError(source, where, "must be a non-empty list of values")
    param = BY_KEY[key]
    values = tuple(check_value(param, v, source, where) for v in spec)
    if len(set(values)) < len(values):
        raise ScenarioError(source, where, "values repeat; each value once")
    return Factor(key, param.kind, values=values)


def _unknown(source: str, key: str, allowed) -> ScenarioError:
    allowed = list(allowed)
    hint = difflib.get_close_matches(key, allowed, n=1)
    did = f"did you mean '{hint[0]}'? " if hint else ""
    return ScenarioError(source, key, f"unknown key; {did}allowed: {', '.join(allowed)}")


def to_experiment(trial: Trial) -> Experiment:
    """The trial as an experiment of the sweep runner: design points are the factors'
    combinations, replicates are simulated trials, and a run is one simulated trial."""
    from .run import CLUSTER_PERIOD_COLUMNS, SCALARS, TrialRunner

    runner = TrialRunner(trial.settings, trial.source)
    horizon = trial.settings.horizon
    return Experiment(
        name=trial.name,
        source=trial.source,
        text=trial.text,
        title=trial.title,
        description=trial.description,
        scenario_ref=trial.scenario_ref,
        base=trial.base,
        horizon=horizon,
        factors=trial.factors,
        method="grid",
        samples=None,
        levels=4,
        second_order=False,
        design_seed=trial.seed % 2**32,
        replicates=trial.trials,
        seed=trial.seed,
        seeds="common",
        scalars=tuple(SCALARS),
        scalar_kinds=dict(SCALARS),
        timeseries=CLUSTER_PERIOD_COLUMNS + trial.settings.process,
        every=1,
        runner=runner,
    )
