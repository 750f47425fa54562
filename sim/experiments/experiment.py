"""Experiment files: what to vary, how to sample it, how often to repeat it, what to keep.

An experiment file is TOML::

    title = "Who needs an incentive?"
    description = "What the experiment asks."
    scenario = "clinician_only"     # the base: a preset name or a .toml path (relative to this file)
    horizon = 730                   # days per run (default: the base scenario's days)
    replicates = 10                 # runs per design point
    seed = 1                        # base seed from which every run's seed is derived
    seeds = "common"                # "common" (default): replicate r has the same seed at every
                                    # design point (common random numbers); "independent"

    [set]                           # fixed changes to the base, by dotted key
    "incentives.clinician.performance_management" = 0.0

    [design]
    method = "grid"                 # grid | latin | sobol | morris
    # samples = 64                  # latin: points; sobol: base samples N (a power of 2);
                                    # morris: trajectories
    # levels = 4                    # morris: levels of its grid
    # second_order = false          # sobol: also second-order indices (twice the runs)
    # seed = 1                      # the sampler's seed (default: seed)

    [factors]                       # any scenario key
    "incentives.clinician.recognition" = [0.0, 0.5, 1.0]                 # values
    "incentives.manager.performance_review" = { min = 0, max = 1, steps = 3 }  # a range

    [outputs]
    scalars = ["sustainment", "effect"]   # default: every scalar of summary.json
    timeseries = ["adoption"]             # default: none; true = every column of timeseries.csv
    every = 7                             # keep every 7th day of the series (default 1)

A grid takes the value lists (or ``steps`` evenly spaced values of a range) of every
factor in every combination.  The samplers draw a unit coordinate per factor and map it
to the factor: a range ``{min, max}`` linearly (integers rounded), a value list as equal
shares of the unit interval (so samplers can vary integer, boolean and text keys too).

Every problem raises :class:`~sim.scenario.ScenarioError` with one line that names the
file, the key and what is allowed, before anything runs.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import schema
from ..model import COLUMNS, QIModel
from ..scenario import (
    Scenario,
    ScenarioError,
    check_value,  # the scenario's own type and range check
    data_dir,
    load_scenario,
    read_toml,
    toml_text,
)
from ..schema import Param

METHODS = ("grid", "latin", "sobol", "morris")
SEED_POLICIES = ("common", "independent")
TOP_KEYS = (
    "title",
    "description",
    "scenario",
    "horizon",
    "replicates",
    "seed",
    "seeds",
    "set",
    "design",
    "factors",
    "outputs",
)
DESIGN_KEYS = ("method", "samples", "levels", "second_order", "seed")
OUTPUT_KEYS = ("scalars", "timeseries", "every")
FACTOR_KEYS = ("values", "min", "max", "steps")
#: Most runs an experiment may ask for (a typo guard, not a limit of the store).
MAX_RUNS = 10_000_000
#: Keys the experiment sets itself, per run.
RESERVED = {"seed": "each run's seed comes from the experiment's seed and replicates", "days": "use horizon"}


@dataclass(frozen=True)
class Factor:
    """One varied scenario key: discrete ``values``, or a range from ``low`` to ``high``."""

    key: str
    kind: type
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    steps: int | None = None

    @property
    def is_range(self) -> bool:
        return self.low is not None

    def levels(self) -> tuple[Any, ...]:
        """The values a grid takes (a range's ``steps`` evenly spaced values)."""
        if self.values:
            return self.values
        assert self.low is not None and self.high is not None and self.steps
        raw = np.linspace(self.low, self.high, self.steps)
        return tuple(dict.fromkeys(self._cast(x) for x in raw))

    def at(self, u: float) -> Any:
        """The factor's value at unit coordinate ``u`` in [0, 1] (samplers)."""
        u = min(max(float(u), 0.0), 1.0)
        if self.values:
            return self.values[min(int(u * len(self.values) + 1e-9), len(self.values) - 1)]
        assert self.low is not None and self.high is not None
        return self._cast(self.low + u * (self.high - self.low))

    def _cast(self, x: float) -> Any:
        if self.kind is int:
            return int(round(float(x)))
        return float(f"{float(x):.12g}")  # 0.30000000000000004 -> 0.3

    def describe(self) -> str:
        if self.values:
            return ", ".join(_text(v) for v in self.values)
        steps = f" in {self.steps} steps" if self.steps else ""
        return f"{_text(self.low)} to {_text(self.high)}{steps}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "kind": self.kind.__name__}
        if self.values:
            out["values"] = list(self.values)
        else:
            out.update({"min": self.low, "max": self.high, "steps": self.steps})
        return out


@dataclass(frozen=True)
class Experiment:
    """A validated experiment: its base scenario, factors, design, replicates and outputs."""

    name: str
    source: str
    text: str
    title: str
    description: str
    scenario_ref: str
    base: Scenario
    horizon: int
    factors: tuple[Factor, ...]
    method: str
    samples: int | None
    levels: int
    second_order: bool
    design_seed: int
    replicates: int
    seed: int
    seeds: str
    scalars: tuple[str, ...]
    scalar_kinds: Mapping[str, type] = field(repr=False)
    timeseries: tuple[str, ...]
    every: int
    #: What one run is, when not a model run's summary: a picklable callable
    #: ``runner(base, overrides, seed) -> (scalars, rows or None)`` with ``settings()`` (kept
    #: in the fingerprint) and ``check(base, overrides)`` (a design point's validation); the
    #: rows, long-format columns with a ``day``, are stored as the series (virtual trials).
    runner: Any = None

    def to_dict(self) -> dict[str, Any]:
        """Everything that decides the results (the fingerprint is a hash of it)."""
        base = self.base.to_nested()
        for k in ("title", "description"):
            base.pop(k, None)
        return {
            "base": base,
            "horizon": self.horizon,
            "factors": [f.to_dict() for f in self.factors],
            "design": {
                "method": self.method,
                "samples": self.samples,
                "levels": self.levels,
                "second_order": self.second_order,
                "seed": self.design_seed,
            },
            "replicates": self.replicates,
            "seed": self.seed,
            "seeds": self.seeds,
            "outputs": {
                "scalars": list(self.scalars),
                "timeseries": list(self.timeseries),
                "every": self.every,
            },
        } | ({"runner": self.runner.settings()} if self.runner is not None else {})

    def fingerprint(self) -> str:
        """A short hash of what decides the results: same fingerprint, same runs."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.factors)


def shipped_experiments() -> list[str]:
    """Names of the experiment files shipped with the package."""
    return sorted(p.stem for p in data_dir("experiments").glob("*.toml"))


def load_experiment(name_or_path: str | Path) -> Experiment:
    """Read and validate an experiment file, by path or by the name of a shipped one."""
    path, source, body, raw = read_toml(name_or_path, "experiments", "experiment")
    return parse_experiment(raw, source, name=path.stem, text=body, folder=path.parent)


def parse_experiment(
    raw: Mapping[str, Any],
    source: str = "<experiment>",
    *,
    name: str = "experiment",
    text: str = "",
    folder=None,
) -> Experiment:
    """Validate the tables of an experiment file (as read from TOML)."""
    _known(raw, TOP_KEYS, source, "")
    title = _get(raw, "title", str, name, source)
    description = textwrap.dedent(_get(raw, "description", str, "", source)).strip()
    if "scenario" not in raw:
        raise ScenarioError(source, "scenario", "missing; name the base scenario (a preset or a .toml file)")
    ref = _get(raw, "scenario", str, "", source)
    base = _base_scenario(ref, source, folder)

    fixed = dict(_flatten(_table(raw, "set", source), source, "set", factors=False))
    for key in fixed:
        if key in RESERVED:
            raise ScenarioError(source, f"set.{key}", f"cannot be set here: {RESERVED[key]}")
    horizon = _get(raw, "horizon", int, base["days"], source)
    try:
        base = base.with_overrides({**fixed, "days": horizon}, source=source)
    except ScenarioError as err:
        if err.key != "days":
            raise
        raise ScenarioError(source, "horizon", err.message) from None  # the file's key, not the scenario's

    design = _table(raw, "design", source)
    _known(design, DESIGN_KEYS, source, "design.")
    method = _get(design, "method", str, "grid", source, "design.method")
    if method not in METHODS:
        raise ScenarioError(
            source, "design.method", f"must be one of {', '.join(METHODS)} (got {toml_text(method)})"
        )
    replicates = _get(raw, "replicates", int, 10, source)
    if not 1 <= replicates <= 100_000:
        raise ScenarioError(
            source, "replicates", f"must be an integer from 1 to 100000 (got {toml_text(replicates)})"
        )
    seed = _get(raw, "seed", int, 1, source)
    if not 0 <= seed < 2**63:
        raise ScenarioError(
            source, "seed", f"must be an integer from 0 to {2**63 - 1} (got {toml_text(seed)})"
        )
    seeds = _get(raw, "seeds", str, "common", source)
    if seeds not in SEED_POLICIES:
        raise ScenarioError(
            source, "seeds", f"must be one of {', '.join(SEED_POLICIES)} (got {toml_text(seeds)})"
        )

    factors = tuple(
        _factor(key, spec, base, fixed, method, source)
        for key, spec in _flatten(_table(raw, "factors", source), source, "factors", factors=True)
    )
    samples, levels, second_order, design_seed = _design_options(design, method, factors, seed, source)

    outputs = _table(raw, "outputs", source)
    _known(outputs, OUTPUT_KEYS, source, "outputs.")
    kinds = scalar_kinds(base)
    scalars = _names(outputs, "scalars", tuple(kinds), "all", source)
    if not scalars:  # every table and figure of the analysis is of at least one
        raise ScenarioError(
            source, "outputs.scalars", f"needs at least one name (or true for all): {', '.join(kinds)}"
        )
    timeseries = _names(outputs, "timeseries", COLUMNS[1:], "none", source)
    every = _get(outputs, "every", int, 1, source, "outputs.every")
    if not 1 <= every <= horizon:
        raise ScenarioError(source, "outputs.every", f"must be an integer from 1 to horizon ({horizon})")

    exp = Experiment(
        name=name,
        source=source,
        text=text,
        title=title,
        description=description,
        scenario_ref=ref,
        base=base,
        horizon=horizon,
        factors=factors,
        method=method,
        samples=samples,
        levels=levels,
        second_order=second_order,
        design_seed=design_seed,
        replicates=replicates,
        seed=seed,
        seeds=seeds,
        scalars=scalars,
        scalar_kinds={k: kinds[k] for k in scalars},
        timeseries=timeseries,
        every=every,
    )
    runs = n_points(exp) * replicates
    if runs > MAX_RUNS:
        raise ScenarioError(
            source, "replicates", f"the experiment asks for {runs:,} runs; at most {MAX_RUNS:,}"
        )
    return exp


def n_points(exp: Experiment) -> int:
    """Number of design points."""
    d = len(exp.factors)
    if exp.method == "grid":
        return math.prod(len(f.levels()) for f in exp.factors)
    if exp.method == "latin":
        return int(exp.samples or 0)
    if exp.method == "sobol":
        return int(exp.samples or 0) * (2 * d + 2 if exp.second_order else d + 2)
    return int(exp.samples or 0) * (d + 1)  # morris


def scalar_kinds(base: Scenario) -> dict[str, type]:
    """The numeric scalars of ``summary.json`` (except ``seed``, a column of its own, and
    ``days``, the horizon), in order, with their types: found from a one-day run of the
    base scenario."""
    model = QIModel(base.with_overrides({"days": 1}, source="probe"), detail=False)
    model.run(1)
    out: dict[str, type] = {}
    for key, value in model.summary().items():
        if (
            key in ("seed", "days")
            or isinstance(value, bool)
            or not isinstance(value, int | float | np.number)
        ):
            continue
        out[key] = int if isinstance(value, int | np.integer) else float
    return out


def param_of(key: str) -> Param | None:
    """The schema entry of a dotted scenario key (``interventions.0.adaptation`` too)."""
    if key in schema.BY_KEY:
        return schema.BY_KEY[key]
    head, _, rest = key.partition(".")
    if head in schema.LIST_KEYS:
        index, _, leaf = rest.partition(".")
        if index.isdigit():
            return schema.LIST_KEYS[head].get(leaf)
    return None


# -- parts ---------------------------------------------------------------------------------


def _base_scenario(ref: str, source: str, folder) -> Scenario:
    target: str | Path = ref
    if folder is not None and (ref.endswith(".toml") or "/" in ref):
        candidate = Path(folder) / ref
        if candidate.is_file():
            target = candidate
    try:
        return load_scenario(target)
    except ScenarioError as err:
        if err.source:  # an error inside the scenario file names that file
            raise
        raise ScenarioError(source, "scenario", err.message) from None


def _factor(key: str, spec: Any, base: Scenario, fixed: Mapping, method: str, source: str) -> Factor:
    where = f"factors.{key}"
    if key in RESERVED:
        raise ScenarioError(source, where, f"cannot be a factor: {RESERVED[key]}")
    if key in fixed:
        raise ScenarioError(source, where, "is also in [set]; a key is either fixed or a factor")
    if isinstance(spec, list):
        spec = {"values": spec}
    elif not isinstance(spec, Mapping):
        raise ScenarioError(
            source,
            where,
            "must be a list of values or a range {min = ..., max = ...} (with steps for a grid)",
        )
    _known(spec, FACTOR_KEYS, source, where + ".")
    if key in schema.LIST_KEYS:
        raise ScenarioError(source, where, f"vary one field of one entry: {key}.N.FIELD")
    param = param_of(key)
    if param is None:  # the scenario's own error, with its suggestion
        base.with_overrides({key: 0}, source=source)
    assert param is not None
    if "values" in spec:
        if set(spec) - {"values"}:
            raise ScenarioError(source, where, "give either values or a range (min, max, steps), not both")
        values = spec["values"]
        if not isinstance(values, list) or not values:
            raise ScenarioError(source, where, "values must be a non-empty list")
        checked = tuple(_check_value(base, key, v, source) for v in values)
        if len(set(map(repr, checked))) < len(checked):
            raise ScenarioError(source, where, "values repeat; each value once")
        return Factor(key, param.kind, values=checked)
    if "min" not in spec or "max" not in spec:
        raise ScenarioError(source, where, "a range needs min and max")
    low, high = (_check_value(base, key, spec[k], source) for k in ("min", "max"))
    if param.kind not in (int, float):
        raise ScenarioError(source, where, "a range needs a numeric key; list the values instead")
    if not low < high:
        raise ScenarioError(source, where, f"min must be below max (got {_text(low)} and {_text(high)})")
    steps = spec.get("steps")
    if method == "grid":
        if steps is None:
            raise ScenarioError(source, where, "a grid needs values, or a range with steps (e.g. steps = 3)")
        if not isinstance(steps, int) or isinstance(steps, bool) or not 2 <= steps <= 1000:
            raise ScenarioError(
                source, f"{where}.steps", f"must be an integer from 2 to 1000 (got {toml_text(steps)})"
            )
    elif steps is not None:
        raise ScenarioError(
            source, f"{where}.steps", f"is for grid designs; a {method} design samples the range"
        )
    return Factor(key, param.kind, low=float(low), high=float(high), steps=steps)


def _check_value(base: Scenario, key: str, value: Any, source: str) -> Any:
    """The value as the scenario stores it, or the scenario's one-line error.  Only the
    value itself is checked here (type, range, list entry); checks that involve other
    keys are made on each whole design point (:func:`~sim.experiments.design.validate_points`)."""
    head, _, rest = key.partition(".")
    if head in schema.LIST_KEYS:
        index = rest.partition(".")[0]
        if not index.isdigit() or int(index) >= len(base[head]):
            base.with_overrides({key: value}, source=source)  # the scenario's own message
    param = param_of(key)
    assert param is not None
    return check_value(param, value, source, key)


def _design_options(design: Mapping, method: str, factors: tuple[Factor, ...], seed: int, source: str):
    samples = design.get("samples")
    levels = _get(design, "levels", int, 4, source, "design.levels")
    second_order = _get(design, "second_order", bool, False, source, "design.second_order")
    design_seed = _get(design, "seed", int, seed, source, "design.seed")
    if not 0 <= design_seed < 2**32:
        raise ScenarioError(source, "design.seed", f"must be an integer from 0 to {2**32 - 1}")
    if method == "grid":
        for key in ("samples", "levels", "second_order"):
            if key in design:
                raise ScenarioError(
                    source, f"design.{key}", "is for latin, sobol or morris designs, not a grid"
                )
        return None, levels, False, design_seed
    if not factors:
        raise ScenarioError(source, "factors", f"a {method} design needs at least one factor")
    what = {"latin": "design points", "sobol": "base samples N", "morris": "trajectories"}[method]
    if samples is None:
        raise ScenarioError(source, "design.samples", f"missing: the number of {what}")
    if not isinstance(samples, int) or isinstance(samples, bool) or not 1 <= samples <= 1_000_000:
        raise ScenarioError(
            source, "design.samples", f"must be an integer from 1 to 1000000 (got {toml_text(samples)})"
        )
    if method == "sobol" and (samples < 2 or samples & (samples - 1)):
        raise ScenarioError(
            source, "design.samples", f"must be a power of 2 for a Sobol sequence (got {samples}; try 64)"
        )
    if method == "morris":
        if samples < 2:
            raise ScenarioError(source, "design.samples", "a Morris design needs at least 2 trajectories")
        if not 2 <= levels <= 100 or levels % 2:
            raise ScenarioError(
                source, "design.levels", f"must be an even integer from 2 to 100 (got {toml_text(levels)})"
            )
    elif "levels" in design:
        raise ScenarioError(source, "design.levels", "is for morris designs")
    if method != "sobol" and "second_order" in design:
        raise ScenarioError(source, "design.second_order", "is for sobol designs")
    return samples, levels, second_order, design_seed


def _names(table: Mapping, key: str, allowed: tuple[str, ...], default: str, source: str) -> tuple[str, ...]:
    where = f"outputs.{key}"
    value = table.get(key, default == "all")
    if value is True or value == "all":
        return tuple(allowed)
    if value is False or value == "none":
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ScenarioError(source, where, f"must be a list of names, true or false (got {toml_text(value)})")
    for v in value:
        if v not in allowed:
            hint = difflib.get_close_matches(v, allowed, n=1)
            did = f"did you mean '{hint[0]}'? " if hint else ""
            raise ScenarioError(source, where, f"unknown name {v!r}; {did}allowed: {', '.join(allowed)}")
    if len(set(value)) < len(value):
        raise ScenarioError(source, where, "names repeat; each name once")
    return tuple(value)


def _flatten(table: Mapping, source: str, prefix: str, *, factors: bool):
    """Dotted keys from nested tables: ``a.b = 1`` and ``"a.b" = 1`` are the same key.  In
    ``[factors]`` a table with ``values``/``min``/``max``/``steps`` is a factor's spec."""
    for k, v in table.items():
        if isinstance(v, Mapping) and not (factors and set(v) & set(FACTOR_KEYS)):
            if not v:
                raise ScenarioError(source, f"{prefix}.{k}", "is an empty table")
            for sub, value in _flatten(v, source, prefix, factors=factors):
                yield f"{k}.{sub}", value
        else:
            yield k, v


def _table(raw: Mapping, key: str, source: str) -> Mapping:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise ScenarioError(source, key, f"must be a table ([{key}])")
    return value


def _known(table: Mapping, keys: tuple[str, ...], source: str, prefix: str) -> None:
    for k in table:
        if k not in keys:
            hint = difflib.get_close_matches(k, keys, n=1)
            did = f"did you mean '{prefix}{hint[0]}'? " if hint else ""
            raise ScenarioError(source, f"{prefix}{k}", f"unknown key; {did}allowed: {', '.join(keys)}")


def _get(table: Mapping, key: str, kind: type, default: Any, source: str, where: str | None = None) -> Any:
    value = table.get(key, default)
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        name = {str: "a string", int: "an integer", bool: "true or false"}[kind]
        raise ScenarioError(source, where or key, f"must be {name} (got {toml_text(value)})")
    return value


def _text(x: Any) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float) and x.is_integer():
        return str(int(x)) if abs(x) < 1e15 else repr(x)
    return str(x)
