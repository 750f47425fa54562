"""Robust, not tuned: each fact must also hold when the most influential mechanism
parameters move together by +/-20% around their values.

1. Screening (``experiments/validation/robustness/screening.toml``): a Morris design
   (SALib's trajectories, drawn through :func:`sim.experiments.design.sample_unit`) over
   each candidate's multiplier, from 0.5 to 2 on a log scale (grid levels equally spaced
   in log2 of the multiplier, so the default sits in the middle).  At each point every
   fact's arms run with the candidates' values multiplied, on the same seeds at every
   point; the outcomes are the facts' own hypothesis statistics (each one's mean over the
   seeds).  Each candidate's mu* per hypothesis (the mean absolute elementary effect over
   the trajectories, as SALib's Morris analysis gives it), normalised by the largest of
   that hypothesis, averaged over a fact's hypotheses and then over the facts, is the
   candidate's score.  The ``top`` highest are kept in ``chosen.toml`` beside it, with
   each score's 95% interval and how often each candidate is among the ``top`` over
   bootstrap resamples of the trajectories; the raw results (every hypothesis' mean at
   every point) in ``screening_points.csv``.  ``qisim validate --screen`` reruns it and
   rewrites both files; ``qisim validate --rescore`` recomputes ``chosen.toml`` from the CSV.
2. Latin hypercube: ``points`` points over the chosen parameters, each a multiplier
   between 1 - spread and 1 + spread of the parameter's value in each arm (so an arm's
   own settings are kept), drawn by SALib through :func:`sim.experiments.design.sample_unit`.
   Every fact's arms run at every point on seeds 1..replicates.
3. Rule (experiments/validation/README.md): at a point a fact *holds* when every
   hypothesis' mean statistic is on the passing side of its threshold; a fact is
   *robust* when it holds at no less than ``threshold`` of the points, and *fragile*
   otherwise.  Fragile counts as failed.
4. Diagnosis: for a fact that fails at some points, which parameter's multiplier goes
   with the failure (Spearman rank correlation with the statistic of the hypothesis that
   fails most often, and the mean multiplier where the fact holds and where it fails).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .scenario import ScenarioError, load_scenario
from .validation import (
    Fact,
    Hypothesis,
    HypothesisResult,
    check_keys,
    fact_jobs,
    read_toml,
    run_jobs,
    score,
    validation_dir,
)

CHOSEN_KEYS = (
    "parameters",
    "score",
    "points",
    "replicates",
    "spread",
    "seed",
    "threshold",
    "screened",
    "resamples",
    "same_set",
    "score_low",
    "score_high",
    "selected",
)
#: The keys that record how stable the screening's choice is (all or none of them).
STABILITY_KEYS = ("resamples", "same_set", "score_low", "score_high", "selected")
#: Bootstrap resamples of the screening's trajectories.
RESAMPLES = 1000


def robustness_dir() -> Path:
    return validation_dir() / "robustness"


@dataclass(frozen=True)
class Stability:
    """How firm the screening's choice is over bootstrap resamples of its Morris
    trajectories (each resample's scores recomputed from its trajectories' effects)."""

    resamples: int
    low: dict[str, float]  # parameter -> 2.5th percentile of its score over the resamples
    high: dict[str, float]  # parameter -> 97.5th percentile
    selected: dict[str, float]  # parameter -> share of the resamples in which it is among the top
    same_set: float  # share of the resamples whose top set is the chosen set


@dataclass(frozen=True)
class Settings:
    parameters: tuple[str, ...]
    score: dict[str, float]
    points: int
    replicates: int
    spread: float
    seed: int
    threshold: float
    screened: str
    stability: Stability | None = None


def load_settings(path: Path | None = None) -> Settings:
    path = path or robustness_dir() / "chosen.toml"
    source = str(path)
    raw = read_toml(path)
    check_keys(raw, CHOSEN_KEYS, source)
    for key in ("parameters", "points", "replicates", "spread", "seed", "threshold"):
        if key not in raw:
            raise ScenarioError(source, key, "is missing")
    params = raw["parameters"]
    if not isinstance(params, list) or not params or not all(isinstance(p, str) for p in params):
        raise ScenarioError(source, "parameters", "must be a non-empty list of scenario keys")
    check_numeric_keys(params, source, "parameters")
    score = _score_table(raw, "score", source)
    if not isinstance(raw["points"], int) or raw["points"] < 2:
        raise ScenarioError(source, "points", "must be an integer of at least 2")
    if not isinstance(raw["replicates"], int) or raw["replicates"] < 2:
        raise ScenarioError(source, "replicates", "must be an integer of at least 2")
    if not isinstance(raw["spread"], float) or not 0 < raw["spread"] < 1:
        raise ScenarioError(source, "spread", "must be a number between 0 and 1")
    if not isinstance(raw["threshold"], float) or not 0 < raw["threshold"] <= 1:
        raise ScenarioError(source, "threshold", "must be a number in (0, 1]")
    return Settings(
        tuple(params),
        score,
        raw["points"],
        raw["replicates"],
        raw["spread"],
        int(raw["seed"]),
        raw["threshold"],
        str(raw.get("screened", "")),
        _load_stability(raw, score, source),
    )


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _score_table(raw: dict, key: str, source: str, unit: bool = False) -> dict[str, float]:
    """A table of numbers (in [0, 1] with ``unit``) keyed by numeric scenario keys."""
    table = raw.get(key, {})
    if not isinstance(table, dict):
        raise ScenarioError(source, key, "must be a table of scenario keys and numbers")
    check_numeric_keys(list(table), source, key)
    for k, v in table.items():
        if not _is_number(v) or (unit and not 0 <= v <= 1):
            raise ScenarioError(source, f"{key}.{k}", f"must be a number{' from 0 to 1' if unit else ''}")
    return {k: float(v) for k, v in table.items()}


def _load_stability(raw: dict, score: dict[str, float], source: str) -> Stability | None:
    """The bootstrap's record in chosen.toml (None when the file has none): the same
    parameters as ``[score]`` in each table, each low end at most its high end."""
    present = [k for k in STABILITY_KEYS if k in raw]
    if not present:
        return None
    for key in STABILITY_KEYS:
        if key not in raw:
            raise ScenarioError(source, key, f"is missing (it goes with '{present[0]}')")
    if not isinstance(raw["resamples"], int) or isinstance(raw["resamples"], bool) or raw["resamples"] < 1:
        raise ScenarioError(source, "resamples", "must be a positive integer")
    if not _is_number(raw["same_set"]) or not 0 <= raw["same_set"] <= 1:
        raise ScenarioError(source, "same_set", "must be a number from 0 to 1")
    low, high = _score_table(raw, "score_low", source), _score_table(raw, "score_high", source)
    selected = _score_table(raw, "selected", source, unit=True)
    for key, table in (("score_low", low), ("score_high", high), ("selected", selected)):
        if set(table) != set(score):
            raise ScenarioError(source, key, "must name the same parameters as [score]")
    for p in score:
        if low[p] > high[p]:
            raise ScenarioError(source, f"score_low.{p}", f"must be at most score_high's {high[p]}")
    return Stability(raw["resamples"], low, high, selected, float(raw["same_set"]))


# -- screening ----------------------------------------------------------------------------

SCREEN_KEYS = (
    "title",
    "description",
    "candidates",
    "box",
    "trajectories",
    "levels",
    "replicates",
    "seed",
    "top",
)


@dataclass(frozen=True)
class Screening:
    """The Morris screening of screening.toml: which parameters, over which box of
    multipliers, with how many trajectories, grid levels and seeds per point."""

    candidates: tuple[str, ...]
    box: tuple[float, float]  # the smallest and largest multiplier (their product is 1)
    trajectories: int
    levels: int
    replicates: int
    seed: int
    top: int

    @property
    def points(self) -> int:
        return self.trajectories * (len(self.candidates) + 1)


def check_numeric_keys(params: list, source: str, key: str | None) -> None:
    """Every entry is a numeric scenario key (one-line error naming the first that is not)."""
    base = load_scenario("aligned")
    for p in params:
        if p not in base or not isinstance(base[p], float):
            raise ScenarioError(source, key, f"'{p}' is not a numeric scenario key")


def load_screening(path: Path | None = None, facts: list[Fact] | None = None) -> Screening:
    """Read and check screening.toml; with ``facts``, also that no candidate is set by a
    fact's arm and that the whole box stays inside every candidate's range in every arm."""
    path = path or robustness_dir() / "screening.toml"
    source = str(path)
    raw = read_toml(path)
    check_keys(raw, SCREEN_KEYS, source)
    for key in SCREEN_KEYS[2:]:
        if key not in raw:
            raise ScenarioError(source, key, "is missing")
    cands = raw["candidates"]
    if not isinstance(cands, list) or not cands or not all(isinstance(c, str) for c in cands):
        raise ScenarioError(source, "candidates", "must be a non-empty list of scenario keys")
    twice = sorted({c for c in cands if cands.count(c) > 1})
    if twice:
        raise ScenarioError(source, "candidates", f"lists '{twice[0]}' twice")
    check_numeric_keys(cands, source, "candidates")
    box = raw["box"]
    if (
        not isinstance(box, list)
        or len(box) != 2
        or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in box)
        or not 0 < box[0] < 1 < box[1]
        or not math.isclose(box[0] * box[1], 1.0)
    ):
        raise ScenarioError(source, "box", "must be [1/m, m] with m > 1 (the default in the middle)")
    ints = {k: raw[k] for k in ("trajectories", "levels", "replicates", "seed", "top")}
    for k, val in ints.items():
        if not isinstance(val, int) or isinstance(val, bool) or val < 0:
            raise ScenarioError(source, k, "must be a non-negative integer")
    if ints["trajectories"] < 2:
        raise ScenarioError(source, "trajectories", "a Morris design needs at least 2 trajectories")
    if not 2 <= ints["levels"] <= 100 or ints["levels"] % 2:
        raise ScenarioError(source, "levels", f"must be an even integer from 2 to 100 (got {ints['levels']})")
    if ints["replicates"] < 2:
        raise ScenarioError(source, "replicates", "must be at least 2")
    if not 1 <= ints["top"] <= len(cands):
        raise ScenarioError(source, "top", f"must be from 1 to the number of candidates ({len(cands)})")
    screening = Screening(tuple(cands), (float(box[0]), float(box[1])), **ints)
    if facts is not None:
        check_candidates(screening, facts, source)
    return screening


def check_candidates(screening: Screening, facts: list[Fact], source: str) -> None:
    """No candidate is a key that a fact's arm sets (the fact's own contrast), and every
    multiplier of the box keeps each candidate's value in its schema range in every arm."""
    check_movable(screening.candidates, screening.box, facts, source, "candidates")


def check_movable(
    keys: Iterable[str], box: tuple[float, float], facts: list[Fact], source: str, key: str | None
) -> None:
    """Each of ``keys`` may be multiplied by ``box[0]``-``box[1]`` in every fact's arms: it
    is not a key the arm sets, and stays in its schema range (one-line ScenarioError
    naming ``source`` and ``key`` otherwise)."""
    from .schema import BY_KEY

    for fact in facts:
        for arm, (_scenario, overrides) in fact.arms.items():
            set_here = {o.split("=", 1)[0].strip() for o in overrides}
            values = _resolved(fact, arm)
            for name in keys:
                if name in set_here:
                    raise ScenarioError(
                        source,
                        key,
                        f"'{name}' is set by {fact.id}'s arm '{arm}'; a fact's own settings are not moved",
                    )
                p, value = BY_KEY[name], float(values[name])
                ends = [value * m for m in box]
                if (p.lo is not None and min(ends) < p.lo) or (p.hi is not None and max(ends) > p.hi):
                    raise ScenarioError(
                        source,
                        key,
                        f"'{name}' is {value:g} in {fact.id}'s arm '{arm}': multiplied by "
                        f"{box[0]:g}-{box[1]:g} it leaves its range [{p.lo}, {p.hi}]",
                    )


def morris_design(screening: Screening) -> tuple[np.ndarray, np.ndarray]:
    """The Morris design (SALib's trajectories, through :func:`sim.experiments.design.sample_unit`):
    its unit coordinates and each point's multipliers, 2 ** x with x on the grid's levels,
    equally spaced over [log2 of the smallest multiplier, log2 of the largest]."""
    from .experiments.design import sample_unit

    unit = sample_unit(
        "morris", screening.candidates, screening.trajectories, levels=screening.levels, seed=screening.seed
    )
    lo, hi = (math.log2(b) for b in screening.box)
    return unit, 2.0 ** (lo + (hi - lo) * unit)


def n_screen_runs(facts: list[Fact], screening: Screening) -> int:
    return screening.points * screening.replicates * sum(len(f.arms) for f in facts)


@dataclass(frozen=True)
class ScreenedPoints:
    """The raw results of a screening: each design point's multipliers and every
    hypothesis' mean statistic there (what screening_points.csv holds)."""

    mult: np.ndarray  # (points, candidates), rows in trajectory order
    means: dict[tuple[str, str], np.ndarray]  # (fact id, hypothesis name) -> (points,)


def screen(facts: list[Fact], screening: Screening, executor: Any = None, progress=None) -> ScreenedPoints:
    """Run every fact's arms at every point of the Morris design (the same seeds at every
    point): each point's multipliers and every hypothesis' mean statistic there."""
    _, mult = morris_design(screening)
    means, _ = point_means(facts, screening.candidates, mult, screening.replicates, executor, progress)
    return ScreenedPoints(mult, means)


def elementary_effects(unit: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(trajectories, parameters) each Morris trajectory's elementary effect of each
    parameter: the change of ``y`` over the step in which that parameter alone moves,
    divided by the step in unit coordinates (SALib's effects: the mean of their absolute
    values over the trajectories is SALib's mu*).  ``unit`` holds the trajectories' points
    one after another, each trajectory a start and one step per parameter."""
    k = unit.shape[1]
    x = unit.reshape(-1, k + 1, k)
    dx = np.diff(x, axis=1)  # (trajectories, steps, parameters)
    dy = np.diff(np.asarray(y, dtype=float).reshape(-1, k + 1), axis=1)
    moved = dx != 0
    if not (moved.sum(axis=2) == 1).all():
        raise ValueError("not a Morris design: a step must move exactly one parameter")
    which = moved.argmax(axis=2)  # the parameter that each step moves
    t, step = np.indices(which.shape)
    ee = np.full((x.shape[0], k), np.nan)
    ee[t, which] = dy / dx[t, step, which]
    return ee


def composite_scores(mu_star: dict[tuple[str, str], np.ndarray]) -> np.ndarray:
    """Each parameter's score from every hypothesis' mu* (arrays of shape (..., parameters),
    one score per leading index): per hypothesis its mu* divided by the largest of that
    hypothesis (hypotheses whose mu* are all 0, or not all finite, are left out), averaged
    over a fact's hypotheses, then over the facts (a fact with none left is left out; with
    no fact left, every score is 0)."""
    sums: dict[str, Any] = {}
    counts: dict[str, Any] = {}
    for (fact, _), mu in mu_star.items():
        mu = np.asarray(mu, dtype=float)
        largest = mu.max(axis=-1, keepdims=True)
        ok = np.isfinite(mu).all(axis=-1, keepdims=True) & (largest > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            norm = np.where(ok, mu / np.where(ok, largest, 1.0), 0.0)
        sums[fact] = sums.get(fact, 0.0) + norm
        counts[fact] = counts.get(fact, 0) + ok
    total, facts = 0.0, 0
    for fact, n in counts.items():
        total = total + np.where(n > 0, sums[fact] / np.maximum(n, 1), 0.0)
        facts = facts + (n > 0)
    return np.where(np.asarray(facts) > 0, total / np.maximum(facts, 1), 0.0)


def screening_scores(mu_star: dict[tuple[str, str], np.ndarray], params: tuple[str, ...]) -> dict[str, float]:
    """Each parameter's score, highest first: per hypothesis its mu* divided by the
    largest mu* of that hypothesis (hypotheses whose mu* are all 0, or not finite, are
    left out), averaged over the hypotheses of a fact, then over the facts, so that a
    fact weighs the same however many hypotheses it states (:func:`composite_scores`)."""
    total = composite_scores(mu_star) if mu_star else np.zeros(len(params))
    scores = dict(zip(params, map(float, np.broadcast_to(total, len(params))), strict=True))
    return dict(sorted(scores.items(), key=lambda kv: -kv[1]))


def bootstrap(
    effects: dict[tuple[str, str], np.ndarray],
    params: tuple[str, ...],
    chosen: Iterable[str],
    top: int,
    resamples: int,
    seed: int,
) -> Stability:
    """The scores over ``resamples`` bootstrap resamples of the trajectories (drawn with
    replacement, the same draws for every hypothesis): ``effects`` holds each hypothesis'
    (trajectories, parameters) absolute elementary effects, and a resample's mu* is the
    mean of its trajectories' rows.  Per parameter, the 2.5th and 97.5th percentiles of
    its score and the share of resamples in which it is among the ``top`` highest (ties
    go to the earlier parameter); and the share of resamples whose top set is ``chosen``."""
    n = next(iter(effects.values())).shape[0]
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    scores = composite_scores({key: e[draws].mean(axis=1) for key, e in effects.items()})
    scores = np.broadcast_to(scores, (resamples, len(params)))
    ranked = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    in_top = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(in_top, ranked, True, axis=1)
    picked = [params.index(p) for p in chosen]
    low, high = np.percentile(scores, [2.5, 97.5], axis=0)
    return Stability(
        resamples,
        dict(zip(params, map(float, low), strict=True)),
        dict(zip(params, map(float, high), strict=True)),
        dict(zip(params, map(float, in_top.mean(axis=0)), strict=True)),
        float(in_top[:, picked].all(axis=1).mean()),
    )


def unit_coordinates(mult: np.ndarray, box: tuple[float, float]) -> np.ndarray:
    """The design's unit coordinates of multipliers (log2 of the multiplier, rescaled from
    the box's ends to 0 and 1): the inverse of :func:`morris_design`'s mapping."""
    lo, hi = (math.log2(b) for b in box)
    return (np.log2(mult) - lo) / (hi - lo)


def rescore(points: ScreenedPoints, screening: Screening) -> tuple[dict[str, float], Stability]:
    """From a screening's raw results: each candidate's score, highest first (mu* of each
    hypothesis' mean statistic: the mean absolute :func:`elementary_effects`, then
    :func:`screening_scores`), and their stability over :data:`RESAMPLES` bootstrap
    resamples of the trajectories (:func:`bootstrap`, seeded by the screening's seed)."""
    unit = unit_coordinates(points.mult, screening.box)
    effects = {key: np.abs(elementary_effects(unit, y)) for key, y in points.means.items()}
    scores = screening_scores({key: e.mean(axis=0) for key, e in effects.items()}, screening.candidates)
    chosen = list(scores)[: screening.top]
    return scores, bootstrap(effects, screening.candidates, chosen, screening.top, RESAMPLES, screening.seed)


def write_points(points: ScreenedPoints, screening: Screening, path: Path | None = None) -> Path:
    """Write screening_points.csv (atomically): one row per design point and hypothesis,
    with the point's index, its trajectory's index, each candidate's multiplier, the fact
    id, the hypothesis name and the hypothesis' mean statistic at that point."""
    from .outputs import write_csv

    path = path or robustness_dir() / "screening_points.csv"
    keys = list(points.means)
    n = len(points.mult)
    point = np.repeat(np.arange(n), len(keys))
    which = np.tile(np.arange(len(keys)), n)
    columns: dict[str, Any] = {"point": point, "trajectory": point // (len(screening.candidates) + 1)}
    columns |= {c: points.mult[point, j] for j, c in enumerate(screening.candidates)}
    columns["fact"] = np.array([k[0] for k in keys], dtype=object)[which]
    columns["hypothesis"] = np.array([k[1] for k in keys], dtype=object)[which]
    columns["mean"] = np.array([points.means[k] for k in keys], dtype=float)[which, point]
    _write_atomically(path, lambda tmp: write_csv(tmp, columns))
    return path


def _write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """``write`` a temporary file beside ``path``, then put it in its place: a reader sees
    the old file or the new one, never half of one, and a failed write leaves no file."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def read_points(screening: Screening, path: Path | None = None) -> ScreenedPoints:
    """Read and check screening_points.csv against screening.toml (the same candidates,
    trajectories and box, a Morris design: each step moves one multiplier); every problem
    is a one-line :class:`ScenarioError` naming the file and the column."""
    import pandas as pd

    path = path or robustness_dir() / "screening_points.csv"
    source = str(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise ScenarioError(source, None, "file not found (qisim validate --screen writes it)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ScenarioError(source, None, f"not a CSV table ({first})") from None
    cands = screening.candidates
    expected = ["point", "trajectory", *cands, "fact", "hypothesis", "mean"]
    for col in frame.columns:
        if col not in expected:
            name = col if col.isprintable() else ascii(col)
            raise ScenarioError(source, name, f"unknown column; expected: {', '.join(expected)}")
    for col in expected:
        if col not in frame.columns:
            what = "a candidate of screening.toml" if col in cands else "a column of the screening's results"
            raise ScenarioError(source, col, f"missing column ({what})")
    k = len(cands)
    n = screening.points
    point, traj = (_column(frame, c, source, integer=True) for c in ("point", "trajectory"))
    if len(frame) == 0 or point.min() < 0 or point.max() >= n:
        raise ScenarioError(
            source, "point", f"must run from 0 to {n - 1} ({screening.trajectories} trajectories)"
        )
    if (traj != point // (k + 1)).any():
        row = int(np.argmax(traj != point // (k + 1)))
        raise ScenarioError(source, "trajectory", f"line {row + 2}: must be point // {k + 1}")
    mult = np.full((n, k), np.nan)
    for j, c in enumerate(cands):
        m = _column(frame, c, source)
        if not ((m >= screening.box[0] * (1 - 1e-9)) & (m <= screening.box[1] * (1 + 1e-9))).all():
            raise ScenarioError(source, c, f"a multiplier outside screening.toml's box {list(screening.box)}")
        mult[point, j] = m
        if (mult[point, j] != m).any():
            raise ScenarioError(source, c, "differs between rows of the same point")
    if np.isnan(mult).any():
        missing = int(np.isnan(mult).any(axis=1).argmax())
        raise ScenarioError(source, "point", f"point {missing} has no row")
    mean = _column(frame, "mean", source, blank=True)
    means: dict[tuple[str, str], np.ndarray] = {}
    for (fact, hyp), rows in frame.groupby(["fact", "hypothesis"], sort=False).indices.items():
        if not fact or not hyp:
            raise ScenarioError(source, "fact" if not fact else "hypothesis", "must not be empty")
        if len(rows) != n or len(set(point[rows])) != n:
            raise ScenarioError(source, "hypothesis", f"{fact} '{hyp}' must have one row per point ({n})")
        means[(fact, hyp)] = np.empty(n)
        means[(fact, hyp)][point[rows]] = mean[rows]
    try:
        elementary_effects(unit_coordinates(mult, screening.box), np.zeros(n))
    except ValueError as err:
        raise ScenarioError(source, "point", str(err)) from None
    return ScreenedPoints(mult, means)


def _column(frame, col: str, source: str, integer: bool = False, blank: bool = False) -> np.ndarray:
    """A column as numbers (integers with ``integer``; an empty field is NaN with ``blank``),
    or a one-line error naming its first bad row."""
    import pandas as pd

    text = frame[col]
    values = pd.to_numeric(text.where(text != "", None) if blank else text, errors="coerce")
    bad = values.isna() & ~(blank & (text == ""))
    if integer:
        bad |= values.notna() & (values != values.round())
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        what = "an integer" if integer else "a number"
        raise ScenarioError(source, col, f"line {row + 2}: '{text.iloc[row]}' is not {what}")
    values = values.to_numpy(dtype=float)
    return values.astype(int) if integer else values


def rescore_file(points_path: Path | None = None, chosen_path: Path | None = None) -> Path:
    """Recompute chosen.toml (the choice, every candidate's score and their stability)
    from screening_points.csv and screening.toml, running nothing."""
    screening = load_screening()
    settings = load_settings(chosen_path)
    scores, stability = rescore(read_points(screening, points_path), screening)
    return write_chosen(scores, screening.top, settings, chosen_path, stability, settings.screened)


def choice_text(settings: Settings) -> str:
    """One sentence: the chosen parameters and how often the bootstrap picks exactly them."""
    text = f"chose {', '.join(settings.parameters)}"
    st = settings.stability
    if st is not None:
        text += (
            f"; they are exactly the top {len(settings.parameters)} in {st.same_set:.0%} of "
            f"{st.resamples} bootstrap resamples of the trajectories"
        )
    return text


def write_chosen(
    scores: dict[str, float],
    top: int,
    old: Settings,
    path: Path | None = None,
    stability: Stability | None = None,
    screened: str | None = None,
) -> Path:
    """Rewrite chosen.toml with the ``top`` parameters, every candidate's score and, with
    ``stability``, the bootstrap's intervals and selection shares (atomically); the date
    screened is ``screened``, or today's."""
    import datetime

    path = path or robustness_dir() / "chosen.toml"
    chosen = list(scores)[:top]
    lines = [
        "# The parameters the robustness check moves together, chosen by the Morris screening of",
        "# screening.toml over the facts' own statistics (mu* normalised per hypothesis, averaged",
        "# over each fact's hypotheses, then over the facts; the highest scores).",
        "# Recompute with: qisim validate --screen   (reruns it, rewrites this file and",
        "# screening_points.csv, its raw results), or from that file: qisim validate --rescore",
        f"parameters = [{', '.join(repr(p).replace(chr(39), chr(34)) for p in chosen)}]",
        f'screened = "{screened or datetime.date.today().isoformat()}"',
        "",
    ]
    if stability is not None:
        lines += [
            "# How firm the choice is: the screening's trajectories resampled with replacement",
            "# (seeded by screening.toml's seed), every score recomputed from each resample.",
            f"resamples = {stability.resamples}",
            f"same_set = {stability.same_set:.3f}   # share of the resamples whose top {top} is `parameters`",
            "",
        ]
    lines += [
        "# The Latin hypercube around each arm's values, and the fragility rule",
        "# (experiments/validation/README.md).",
        f"points = {old.points}",
        f"replicates = {old.replicates}",
        f"spread = {old.spread}",
        f"seed = {old.seed}",
        f"threshold = {old.threshold}",
        "",
        "[score]   # every screened parameter's score, highest first",
    ]
    lines += [f'"{k}" = {v:.4f}' for k, v in scores.items()]
    if stability is not None:
        for table, values, fmt, what in (
            ("selected", stability.selected, ".3f", f"share of resamples where it is in the top {top}"),
            ("score_low", stability.low, ".4f", "2.5th percentile of its score over the resamples"),
            ("score_high", stability.high, ".4f", "97.5th percentile of its score over the resamples"),
        ):
            lines += ["", f"[{table}]   # {what}"]
            lines += [f'"{k}" = {values[k]:{fmt}}' for k in scores]
    _write_atomically(path, lambda tmp: tmp.write_text("\n".join(lines) + "\n"))
    return path


# -- the Latin hypercube --------------------------------------------------------------------


def multipliers(settings: Settings) -> np.ndarray:
    """(points, parameters) multipliers in [1 - spread, 1 + spread]: a Latin hypercube.
    It is drawn over the parameters in alphabetical order, so that each parameter's
    multipliers depend on which parameters were chosen, not on their order in the screening
    (a rescreening that swaps two ranks moves the same points)."""
    from .experiments.design import sample_unit

    drawn = sorted(settings.parameters)
    unit = sample_unit("latin", tuple(drawn), settings.points, seed=settings.seed)
    unit = unit[:, [drawn.index(p) for p in settings.parameters]]
    return 1.0 - settings.spread + 2.0 * settings.spread * unit


def shifted(fact: Fact, arm: str, params: tuple[str, ...], mult: np.ndarray) -> tuple[str, ...]:
    """The overrides that multiply each parameter's value in this arm (clipped to its range)."""
    from .schema import BY_KEY

    resolved = _resolved(fact, arm)
    out = []
    for key, m in zip(params, mult, strict=True):
        p = BY_KEY[key]
        value = float(resolved[key]) * float(m)
        if p.lo is not None:
            value = max(value, p.lo)
        if p.hi is not None:
            value = min(value, p.hi)
        out.append(f"{key}={value:.6g}")
    return tuple(out)


def on_passing_side(h: Hypothesis, mean: float) -> bool:
    """One hypothesis' mean statistic on the passing side of its threshold."""
    if not math.isfinite(mean):
        return False
    if h.test == "greater":
        return mean >= h.min_effect
    if h.test == "less":
        return mean <= -h.min_effect
    if h.test == "equivalent":
        return abs(mean) <= h.margin
    return mean > -h.margin  # noninferior


def passing_range(h: Hypothesis) -> tuple[float, float]:
    """The interval of means on the passing side (its bounds are the thresholds)."""
    return {
        "greater": (h.min_effect, math.inf),
        "less": (-math.inf, -h.min_effect),
        "equivalent": (-h.margin, h.margin),
    }.get(h.test, (-h.margin, math.inf))


def passing_text(h: Hypothesis) -> str:
    lo, hi = passing_range(h)
    if h.test == "equivalent":
        return f"within ±{hi:g}"
    if math.isinf(hi):
        return f"{'>' if h.test == 'noninferior' else '≥'} {lo:g}"
    return f"≤ {hi:g}"


def holds(results: list[HypothesisResult], fact_id: str) -> bool:
    """At one point: every hypothesis' mean on the passing side of its threshold."""
    return all(on_passing_side(r.hypothesis, r.mean) for r in results if r.fact == fact_id)


@dataclass
class Robustness:
    settings: Settings
    mult: np.ndarray  # (points, parameters)
    held: dict[str, np.ndarray]  # fact id -> (points,) bool
    points: int
    replicates: int
    #: (fact id, hypothesis name) -> (points,) the hypothesis' mean statistic at each point
    means: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    #: (fact id, hypothesis name) -> the hypothesis (its test and threshold: the passing side)
    hypotheses: dict[tuple[str, str], Hypothesis] = field(default_factory=dict)

    def passes(self, key: tuple[str, str]) -> np.ndarray:
        """(points,) bool: the hypothesis' mean on the passing side at each point."""
        return np.array([on_passing_side(self.hypotheses[key], m) for m in self.means[key]], dtype=bool)

    def share(self, fact_id: str) -> float:
        return float(self.held[fact_id].mean())

    def robust(self, fact_id: str) -> bool:
        return self.share(fact_id) >= self.settings.threshold

    def together(self, fact_ids: Iterable[str]) -> int:
        """How many points every one of ``fact_ids`` holds at (the facts as one pattern)."""
        ids = list(fact_ids)
        if not ids:
            return self.points
        return int(np.logical_and.reduce([self.held[f] for f in ids]).sum())


def evaluate(
    facts: list[Fact],
    settings: Settings,
    executor: Any = None,
    progress=None,
    points: int | None = None,
    replicates: int | None = None,
) -> Robustness:
    """Every fact at every point of the hypercube (all points' runs sent at once)."""
    mult = multipliers(settings)
    if points:
        mult = mult[:points]
    reps = replicates or settings.replicates
    means, held = point_means(facts, settings.parameters, mult, reps, executor, progress)
    hyps = {(f.id, h.name): h for f in facts for h in f.hypotheses}
    return Robustness(settings, mult, held, len(mult), reps, means, hyps)


def point_means(
    facts: list[Fact],
    params: tuple[str, ...],
    mult: np.ndarray,
    replicates: int,
    executor: Any = None,
    progress=None,
) -> tuple[dict[tuple[str, str], np.ndarray], dict[str, np.ndarray]]:
    """Every fact's arms at every row of multipliers (on seeds 1..replicates at each, all
    rows' runs sent at once): per (fact id, hypothesis name) its mean statistic at each
    row, and per fact whether it holds at each row."""
    all_jobs, spans = [], []
    for row in mult:
        jobs, keys = fact_jobs(facts, replicates, lambda f, a, row=row: shifted(f, a, params, row))
        spans.append((len(all_jobs), jobs, keys))
        all_jobs += jobs
    results = run_jobs(all_jobs, executor, progress)
    held = {f.id: np.zeros(len(mult), dtype=bool) for f in facts}
    means = {(f.id, h.name): np.full(len(mult), np.nan) for f in facts for h in f.hypotheses}
    for i, (start, jobs, keys) in enumerate(spans):
        res = score(facts, replicates, keys, jobs, results[start : start + len(jobs)])
        for f in facts:
            held[f.id][i] = holds(res, f.id)
        for r in res:
            means[(r.fact, r.hypothesis.name)][i] = r.mean
    return means, held


def n_runs(facts: list[Fact], settings: Settings, points: int | None, replicates: int | None) -> int:
    return (points or settings.points) * (replicates or settings.replicates) * sum(len(f.arms) for f in facts)


@dataclass(frozen=True)
class Diagnosis:
    """Which parameter goes with a fact's failures over the hypercube."""

    fact: str
    hypothesis: str  # the hypothesis that fails at most points
    fails: int  # points where the hypothesis fails
    rho: dict[str, float]  # parameter -> Spearman rho (multiplier, the hypothesis' mean)
    toward_pass: dict[str, float]  # parameter -> Spearman rho (multiplier, distance past the threshold)
    mean_held: dict[str, float]  # parameter -> mean multiplier where the fact holds (nan: nowhere)
    mean_failed: dict[str, float]  # parameter -> mean multiplier where the fact fails
    culprit: str | None  # the parameter most associated with failure (None: none is)

    @property
    def direction(self) -> str:
        """Where the culprit's multiplier goes with failure: "high" or "low"."""
        return "high" if self.culprit is not None and self.toward_pass[self.culprit] < 0 else "low"


def diagnose(rob: Robustness, fact_id: str) -> Diagnosis | None:
    """None when the fact holds at every point (or its statistics were not kept)."""
    from .validation_analyses import spearman

    held = rob.held[fact_id]
    keys = [k for k in rob.means if k[0] == fact_id]
    if held.all() or not keys:
        return None
    key = max(keys, key=lambda k: int((~rob.passes(k)).sum()))  # the first of the most failing
    stat = rob.means[key]
    lo, hi = passing_range(rob.hypotheses[key])
    past = np.minimum(stat - lo, hi - stat)  # how far past the nearest threshold (< 0: fails)
    ok = np.isfinite(stat)

    def rank(y: np.ndarray) -> dict[str, float]:
        return {
            p: spearman(rob.mult[ok, j], y[ok]) if ok.sum() >= 3 else math.nan
            for j, p in enumerate(rob.settings.parameters)
        }

    def mean_where(mask: np.ndarray) -> dict[str, float]:
        cols = rob.mult[mask].mean(axis=0) if mask.any() else np.full(len(rob.settings.parameters), np.nan)
        return dict(zip(rob.settings.parameters, map(float, cols), strict=True))

    toward = rank(past)
    strength = {p: abs(r) for p, r in toward.items() if math.isfinite(r) and r != 0}
    return Diagnosis(
        fact_id,
        key[1],
        int((~rob.passes(key)).sum()),
        rank(stat),
        toward,
        mean_where(held),
        mean_where(~held),
        max(strength, key=strength.__getitem__) if strength else None,
    )


def _value_side(side: str, values: Iterable[float]) -> str:
    """Where a parameter's value is when its multiplier is ``side`` ("high" or "low"), given
    its values in the fact's arms: a high multiplier of a negative value (a bias) makes the
    value lower; where the arms' values differ in sign, only its magnitude can be named."""
    values = [float(v) for v in values]
    if all(v >= 0 for v in values):
        return side
    if any(v > 0 for v in values):
        return f"{'larger' if side == 'high' else 'smaller'} in magnitude (its sign differs between arms)"
    flipped = "low" if side == "high" else "high"
    return f"{flipped} (less negative)" if flipped == "high" else f"{flipped} (more negative)"


def _resolved(fact: Fact, arm: str):
    """The arm's scenario with its overrides, resolved (every parameter's value; read, not
    changed, by its callers): loaded once per arm, not at every point of a design."""
    scenario, overrides = fact.arms[arm]
    return _load_arm(scenario, tuple(overrides))


@functools.lru_cache(maxsize=256)
def _load_arm(scenario: str, overrides: tuple[str, ...]):
    return load_scenario(scenario, overrides)


def _arm_values(fact: Fact, key: str) -> list[float]:
    """The parameter's value in each of the fact's arms (before any multiplier)."""
    return [float(_resolved(fact, arm)[key]) for arm in fact.arms]


def diagnosis_markdown(rob: Robustness, facts: list[Fact]) -> list[str]:
    """Per fact that fails at some points: a sentence and a table per parameter."""
    diags = [d for f in facts if (d := diagnose(rob, f.id)) is not None]
    if not diags:
        return []
    n = rob.points
    out = [
        "### Which parameter goes with a failure",
        "",
        "For each fact that fails at some points, over the hypercube: the Spearman rank correlation "
        "(rho) between each parameter's multiplier and the mean statistic of the hypothesis that fails "
        "at most points, and the mean multiplier where the fact holds and where it fails. The parameter "
        "named is the one whose rho with the statistic's distance past its threshold is largest. With "
        f"n = {n} points, these are indicative, not tests.",
        "",
        "![robustness by parameter](validation_robustness_params.png)",
    ]
    by_id = {f.id: f for f in facts}
    for d in diags:
        h = rob.hypotheses[(d.fact, d.hypothesis)]
        values = _arm_values(by_id[d.fact], d.culprit) if d.culprit is not None else []
        lead = (
            f"`{d.hypothesis}` (passes when its mean is {passing_text(h)}) fails at {d.fails} of {n} points."
        )
        tied = [
            f"`{p}`"
            for p, r in d.toward_pass.items()
            if d.culprit not in (None, p) and abs(abs(r) - abs(d.toward_pass[d.culprit])) < 1e-9
        ]
        tie = f" As strongly (the points cannot tell them apart): {', '.join(tied)}." if tied else ""
        if d.culprit is None:
            why = "No parameter's multiplier goes with it (every rho is 0 or undefined)."
        elif not rob.held[d.fact].any():
            other = "low" if d.direction == "high" else "high"
            why = (
                f"{d.fact} fails at every point, so no setting in the box rescues it; `{d.hypothesis}` "
                f"comes nearest its threshold where `{d.culprit}` is {_value_side(other, values)} "
                f"(rho = {d.rho[d.culprit]:+.2f}, n = {n}: indicative)."
            )
        else:
            why = (
                f"{d.fact} fails mostly where `{d.culprit}` is {_value_side(d.direction, values)}: "
                "its multiplier averages "
                f"{d.mean_failed[d.culprit]:.2f} where {d.fact} fails and {d.mean_held[d.culprit]:.2f} where "
                f"it holds (rho = {d.rho[d.culprit]:+.2f} with `{d.hypothesis}`, n = {n}: indicative)."
            )
        why += tie
        out += [
            "",
            f"**{d.fact}**: {lead} {why}",
            "",
            f"| parameter | rho with `{d.hypothesis}` | mean multiplier where {d.fact} holds "
            "| where it fails |",
            "|---|---|---|---|",
        ]
        for p in rob.settings.parameters:
            name = f"**`{p}`**" if p == d.culprit else f"`{p}`"
            cells = [_num(d.rho[p], "+.2f"), _num(d.mean_held[p], ".2f"), _num(d.mean_failed[p], ".2f")]
            out.append(f"| {name} | {' | '.join(cells)} |")
    return out


def _num(x: float, fmt: str) -> str:
    return format(x, fmt) if math.isfinite(x) else "–"


def stability_markdown(s: Settings) -> list[str]:
    """The chosen parameters' table (score; with the bootstrap's record, its 95% interval and
    how often it is in the top), and a sentence on how often the top set is the chosen one."""
    st, n = s.stability, len(s.parameters)
    if st is None:
        out = ["| parameter | screening score (mu*, normalised) |", "|---|---|"]
        return out + [f"| `{p}` | {s.score.get(p, math.nan):.3f} |" for p in s.parameters]
    out = [
        "| parameter | screening score (mu*, normalised) | 95% bootstrap interval "
        f"| in the top {n} of {st.resamples} bootstrap resamples |",
        "|---|---|---|---|",
    ]
    for p in s.parameters:
        cells = [_num(s.score.get(p, math.nan), ".3f")]
        cells += [f"{_num(st.low.get(p, math.nan), '.3f')}–{_num(st.high.get(p, math.nan), '.3f')}"]
        out.append(f"| `{p}` | {' | '.join(cells)} | {_num(st.selected.get(p, math.nan), '.0%')} |")
    others = [p for p in s.score if p not in s.parameters]
    runner_up = (
        f"; the next candidate, `{others[0]}` (score {s.score[others[0]]:.3f}), is in the top {n} "
        f"in {st.selected.get(others[0], math.nan):.0%}"
        if others
        else ""
    )
    return out + [
        "",
        f"Resampling the screening's Morris trajectories with replacement ({st.resamples} times, every "
        f"score recomputed), the top {n} is exactly the chosen set in {st.same_set:.0%} of the "
        f"resamples{runner_up}.",
    ]


def markdown(rob: Robustness, facts: list[Fact], passed: dict[str, bool]) -> list[str]:
    s = rob.settings
    box = load_screening().box
    out = [
        "## Robustness: the facts around the defaults",
        "",
        f"The {len(s.parameters)} parameters with the largest Morris mu* in the screening "
        "(`experiments/validation/robustness/screening.toml`: over the facts' own hypothesis "
        f"statistics, each candidate multiplied by {box[0]:g} to {box[1]:g} on a log scale; choice in "
        f"`chosen.toml`{', screened ' + s.screened if s.screened else ''}) move together over a Latin "
        f"hypercube of {rob.points} points, each parameter multiplied by a factor between "
        f"{1 - s.spread:g} and {1 + s.spread:g} of its value in each arm; every arm runs on "
        f"{rob.replicates} seeds per point. A fact *holds* at a point when every hypothesis' mean is "
        f"on the passing side of its threshold; it is *fragile* when it holds at fewer than "
        f"{s.threshold:.0%} of the points, and fragile counts as failed.",
        "",
    ]
    out += stability_markdown(s)
    out += [
        "",
        "![robustness](validation_robustness.png)",
        "",
        "| fact | passes at the defaults | holds at share of points | verdict |",
        "|---|---|---|---|",
    ]
    for f in facts:
        share = rob.share(f.id)
        verdict = "robust" if rob.robust(f.id) else "**fragile**"
        if not passed[f.id]:
            verdict += " (fails at the defaults)"
        out.append(f"| {f.id} | {'yes' if passed[f.id] else 'no'} | {share:.0%} | {verdict} |")
    at_defaults = [f.id for f in facts if passed[f.id]]
    if len(at_defaults) > 1:
        k = rob.together(at_defaults)
        out += [
            "",
            f"Together, the {len(at_defaults)} facts that pass at the defaults ({', '.join(at_defaults)}) "
            f"hold at the same point at {k} of the {rob.points} points ({k / rob.points:.0%}): the "
            "share a set of facts reproduced as one pattern would need, which no fact's own share shows.",
        ]
    out += [
        "",
        "Which way each fact's region lies, two parameters at a time with every other at its value: "
        "`qisim validate --map P1,P2` (docs/FACT_MAP.md is one such map).",
    ]
    diagnosis = diagnosis_markdown(rob, facts)
    return out + ([""] + diagnosis if diagnosis else [])


def figure(rob: Robustness, facts: list[Fact], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 0.4 * len(facts) + 2.2), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1, 2])
    shares = [rob.share(f.id) for f in facts]
    y = np.arange(len(facts))[::-1]
    ax1.barh(y, shares, color=["#1b9e77" if s >= rob.settings.threshold else "#d95f02" for s in shares])
    ax1.axvline(rob.settings.threshold, color="black", ls="--", lw=1)
    ax1.set_yticks(y, [f.id for f in facts])
    ax1.set_xlim(0, 1)
    ax1.set_xlabel("share of hypercube points where the fact holds")
    grid = np.array([rob.held[f.id] for f in facts], dtype=float)
    ax2.imshow(grid, aspect="auto", cmap="RdYlGn", vmin=0, vmax=1)
    ax2.set_yticks(range(len(facts)), [f.id for f in facts])
    ax2.set_xlabel("hypercube point (green: holds)")
    fig.suptitle(
        f"Robustness: {len(rob.settings.parameters)} parameters x [{1 - rob.settings.spread:g}, "
        f"{1 + rob.settings.spread:g}] of their values"
    )
    fig.savefig(path, dpi=110)


def params_figure(rob: Robustness, facts: list[Fact], path: Path) -> None:
    """Per fact that fails at some points (rows), its most failing hypothesis' mean against
    each parameter's multiplier (columns); dashed: the pass threshold(s)."""
    from matplotlib.figure import Figure

    diags = [d for f in facts if (d := diagnose(rob, f.id)) is not None]
    params = rob.settings.parameters
    if not diags:
        fig = Figure(figsize=(5, 1.5), layout="constrained")
        ax = fig.subplots()
        ax.axis("off")
        ax.text(0.5, 0.5, "every fact holds at every hypercube point", ha="center", va="center")
        fig.savefig(path, dpi=110)
        return
    fig = Figure(figsize=(2.2 * len(params) + 0.8, 2.0 * len(diags) + 0.8), layout="constrained")
    axes = fig.subplots(len(diags), len(params), sharey="row", squeeze=False)
    for row, d in zip(axes, diags, strict=True):
        key = (d.fact, d.hypothesis)
        held = rob.held[d.fact]
        colours = np.where(held, "#1b9e77", "#d95f02")
        for j, (ax, p) in enumerate(zip(row, params, strict=True)):
            ax.scatter(rob.mult[:, j], rob.means[key], c=colours, s=18)
            for bound in passing_range(rob.hypotheses[key]):
                if math.isfinite(bound):
                    ax.axhline(bound, color="black", ls="--", lw=1)
            ax.set_title(
                f"{p}\nrho {_num(d.rho[p], '+.2f')}",
                fontsize=8,
                fontweight="bold" if p == d.culprit else "normal",
            )
            ax.tick_params(labelsize=7)
        row[0].set_ylabel(f"{d.fact}\n{d.hypothesis}", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("multiplier", fontsize=8)
    fig.suptitle(
        f"Robustness by parameter: green, the fact holds; orange, it fails (n = {rob.points} points)"
    )
    fig.savefig(path, dpi=110)
