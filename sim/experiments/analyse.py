"""Tables and figures from a sweep's results (``qisim analyse OUT``).

Everything is read from the store (``OUT``) alone and written to ``OUT/analysis/``
(replaced whole, so no figure of an earlier analysis lingers):

- ``points.csv``: per design point its factors, runs ok and failed, and for every
  stored scalar the mean and the 95% t confidence interval over replicates;
- ``main_effects.csv``/``.png``: the outcome at each level of each factor, averaged over
  the other factors.  In a grid the average is taken within each replicate and the
  interval is over replicates (under common random numbers a replicate is one draw of
  every point); for sampled designs points are binned by the factor's value and the
  interval is over the design's independent units in the bin (Latin points, Morris
  trajectories, Sobol base samples: :func:`design_blocks`);
- ``interactions.csv``/``interactions_OUTCOME.png`` (grids of two or more factors): the
  outcome over one factor, a line per level of another;
- ``timeseries_COLUMN.png``/``timeseries.csv`` (when series were kept): the mean daily
  path with its 95% band, per design point or per level of each factor;
- ``sobol_indices.csv``/``sobol.png`` (Sobol designs) and ``morris_indices.csv``/
  ``morris.png`` (Morris designs): SALib's indices with their 95% confidence intervals;
- ``replicates.csv``/``replicates.png``: how the confidence intervals narrow as
  replicates are added, whether the spread between replicates has settled, and about
  how many replicates a given precision needs;
- ``README.md``: what each file is, and the headline numbers.
"""

from __future__ import annotations

import math
import os
import secrets
import shutil
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..outputs import write_csv
from ..stats import mean_ci, t975
from .design import unit_problem
from .store import Store

#: Outcomes drawn when none are named (those that were stored).
DEFAULT_OUTCOMES = ("sustainment", "adoption_final", "effect", "alignment_mean")
#: Most outcomes, factors, pairs and groups in one figure.
MAX_OUTCOMES, MAX_FACTORS, MAX_GROUPS = 6, 8, 8
#: Bins of a sampled factor's values in main-effect tables and envelopes.
BINS = 5
#: Target precision of the replicate check: a half-width of this share of the spread
#: of the design points' means.
PRECISION = 0.1
#: Bootstrap resamples for the confidence intervals of Sobol and Morris indices.
RESAMPLES = 1000
#: A Sobol index whose 95% half-width exceeds this (on its 0-1 scale) cannot rank factors.
SOBOL_VAGUE = 0.25
COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")


@dataclass
class Analysis:
    """What ``qisim analyse`` found and wrote."""

    out: Path
    files: list[Path] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Data:
    """A sweep's results as arrays: ``y[outcome]`` is (points, replicates), NaN where a
    run failed or is missing."""

    store: Store
    method: str
    keys: list[str]
    values: list[list[Any]]  # per factor, the value at each point
    unit: np.ndarray | None
    y: dict[str, np.ndarray]
    ok: np.ndarray  # (points, replicates)
    stored: np.ndarray

    @property
    def points(self) -> int:
        return self.ok.shape[0]

    @property
    def replicates(self) -> int:
        return self.ok.shape[1]


def load(root: Path) -> Data:
    """Read a sweep's design and runs into arrays."""
    store = Store.open(root)
    design = store.read_design()
    n_points, reps = int(store.manifest["points"]), store.replicates
    runs = store.read_runs(columns=["point", "replicate", "status", *store.scalars])
    point = runs["point"].to_numpy()
    rep = runs["replicate"].to_numpy()
    good = np.asarray(runs["status"].to_pylist()) == "ok"
    ok = np.zeros((n_points, reps), dtype=bool)
    stored = np.zeros((n_points, reps), dtype=bool)
    ok[point, rep] = good
    stored[point, rep] = True
    y = {}
    for name in store.scalars:
        arr = np.full((n_points, reps), np.nan)
        col = runs[name].to_numpy(zero_copy_only=False).astype(float)
        arr[point[good], rep[good]] = col[good]
        y[name] = arr
    unit = None
    if f"unit:{store.keys[0]}" in design.column_names if store.keys else False:
        unit = np.column_stack([design[f"unit:{k}"].to_numpy() for k in store.keys])
    values = [design[k].to_pylist() for k in store.keys]
    method = store.manifest["settings"]["design"]["method"]
    return Data(store, method, store.keys, values, unit, y, ok, stored)


def analyse(root: Path, outcomes: Sequence[str] | None = None, progress: bool = False) -> Analysis:
    """Write ``root/analysis/`` and say what it holds (with a progress bar if asked)."""
    root = Path(root)
    data = load(root)
    chosen = choose_outcomes(data.store.scalars, outcomes)
    result = Analysis(root / "analysis")
    target = root / "analysis"
    tmp = root / f".analysis.tmp-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        _write_all(data, chosen, tmp, result, progress)
        _swap_in(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result.files = [target / p.name for p in result.files]
    return result


def choose_outcomes(stored: Sequence[str], outcomes: Sequence[str] | None) -> list[str]:
    from ..scenario import ScenarioError

    if outcomes:
        for name in outcomes:
            if name not in stored:
                raise ScenarioError(
                    "--outcomes", name, f"not stored by this sweep; stored: {', '.join(stored)}"
                )
        return list(outcomes)
    chosen = [k for k in DEFAULT_OUTCOMES if k in stored]
    return chosen or list(stored[:MAX_OUTCOMES])


def _swap_in(tmp: Path, target: Path) -> None:
    """Replace ``target`` by ``tmp`` (old analysis moved aside first, then removed)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{secrets.token_hex(4)}")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_all(data: Data, outcomes: list[str], out: Path, result: Analysis, progress: bool = False) -> None:
    m = data.store.manifest
    n_ok, n_stored = int(data.ok.sum()), int(data.stored.sum())
    total = data.points * data.replicates
    head = (
        f"{m['experiment']['name']}: {_count(data.points, 'design point')} ({data.method}) x "
        f"{_count(data.replicates, 'replicate')} = {_count(total, 'run')}; {n_ok} ok"
    )
    if n_stored - n_ok:
        head += f", {n_stored - n_ok} failed"
    if n_stored < total:
        head += f", {total - n_stored} not run yet (`qisim sweep ... --resume` completes it)"
    result.lines.append(head)
    steps: list[tuple[str, Any]] = [
        ("points", lambda: [points_table(data, out / "points.csv")]),
        ("main effects", lambda: main_effects(data, outcomes, out, result)),
    ]
    if data.method == "grid" and len(data.keys) >= 2:
        steps.append(("interactions", lambda: interactions(data, outcomes, out)))
    if data.store.series_columns:
        steps.append(("time series", lambda: envelopes(data, out, result)))
    if data.method == "sobol":
        steps.append(("Sobol indices", lambda: sobol_indices(data, outcomes, out, result)))
    if data.method == "morris":
        steps.append(("Morris indices", lambda: morris_indices(data, outcomes, out, result)))
    steps.append(("replicates", lambda: replicate_check(data, outcomes, out, result)))
    from tqdm import tqdm

    with tqdm(total=len(steps), desc="analyse", unit="step", disable=not progress, leave=False) as bar:
        for label, step in steps:
            bar.set_postfix_str(label)
            result.files += step()
            bar.update()
    result.files.append(readme(data, outcomes, out / "README.md", result))


# -- per design point -----------------------------------------------------------------------


def row_mean_ci(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row: mean, 95% interval and count of the finite values (NaN when none)."""
    finite = np.isfinite(y)
    counts = finite.sum(axis=1)
    mean, lo, hi = (np.full(len(y), np.nan) for _ in range(3))
    for n in np.unique(counts):
        rows = counts == n
        if n == 0:
            continue
        block = y[rows][finite[rows]].reshape(int(rows.sum()), int(n))
        mean[rows], lo[rows], hi[rows] = mean_ci(block, axis=1)
    return mean, lo, hi, counts


def nan_mean_rows(y: np.ndarray) -> np.ndarray:
    """Per row, the mean of the finite values (NaN, silently, when there are none)."""
    finite = np.isfinite(y)
    counts = finite.sum(axis=1)
    sums = np.where(finite, y, 0.0).sum(axis=1)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def points_table(data: Data, path: Path) -> Path:
    cols: dict[str, Any] = {"point": np.arange(data.points)}
    for key, vals in zip(data.keys, data.values, strict=True):
        cols[key] = np.array(vals, dtype=object if _categorical(vals) else float)
    cols["runs_ok"] = data.ok.sum(axis=1)
    cols["runs_failed"] = (data.stored & ~data.ok).sum(axis=1)
    for name, y in data.y.items():
        mean, lo, hi, _ = row_mean_ci(y)
        cols[f"{name}_mean"], cols[f"{name}_ci_low"], cols[f"{name}_ci_high"] = mean, lo, hi
    write_csv(path, cols)
    return path


# -- main effects and interactions ----------------------------------------------------------


def groups_of(data: Data, i: int) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    """Groups of design points by factor ``i``: labels, the group of each point, and the
    x positions (None when categorical).  Grids (and factors with few values) group by
    value; sampled ranges by quantile bins."""
    vals = data.values[i]
    distinct = list(dict.fromkeys(vals))
    if data.method == "grid" or len(distinct) <= MAX_GROUPS:
        if not _categorical(vals):
            distinct = sorted(distinct)
        index = {repr(v): j for j, v in enumerate(distinct)}
        group = np.array([index[repr(v)] for v in vals])
        x = None if _categorical(vals) else np.array(distinct, dtype=float)
        return [_text(v) for v in distinct], group, x
    x = np.asarray(vals, dtype=float)
    edges = np.unique(np.quantile(x, np.linspace(0, 1, BINS + 1)))
    group = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    labels = [f"{_text(_round(edges[j]))} to {_text(_round(edges[j + 1]))}" for j in range(len(edges) - 1)]
    centres = np.array([x[group == j].mean() if (group == j).any() else np.nan for j in range(len(labels))])
    return labels, group, centres


def group_means(y: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """(groups, replicates): within each replicate, the mean over the group's points."""
    out = np.full((n_groups, y.shape[1]), np.nan)
    for g in range(n_groups):
        block = y[group == g]
        if len(block):
            with np.errstate(invalid="ignore"):
                counts = np.isfinite(block).sum(axis=0)
                sums = np.nansum(block, axis=0)
            out[g] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return out


def design_blocks(data: Data) -> np.ndarray:
    """Each design point's independent unit of the design: a Morris trajectory (k + 1
    points, one coordinate changed at a time), a Sobol base sample (its A and B rows and
    the k, or 2k with second-order indices, rows mixing them, as SALib orders them), or the
    point itself (Latin hypercube, grid).  The points of one unit share coordinates, so
    they are not independent draws of the factors."""
    k, points = len(data.keys), np.arange(data.points)
    if data.method == "morris":
        return points // (k + 1)
    if data.method == "sobol":
        second = bool(data.store.manifest["settings"]["design"]["second_order"])
        return points // (2 * k + 2 if second else k + 2)
    return points


def effect_rows(data: Data, y: np.ndarray, group: np.ndarray, n_groups: int) -> tuple[np.ndarray, ...]:
    """Mean and 95% interval per group.  A grid's intervals are over replicates (of the
    per-replicate group means); a sample's over its independent units (:func:`design_blocks`)
    with a point in the group: each unit's points in the group are averaged first, so that
    two points of one Morris trajectory, alike but for one factor, do not count as two
    draws (under common random numbers they can give the very same outcome)."""
    if data.method == "grid":
        return row_mean_ci(group_means(y, group, n_groups))
    point_means = nan_mean_rows(y)
    blocks = design_blocks(data)
    units = []
    for g in range(n_groups):
        sel = (group == g) & np.isfinite(point_means)
        ids, inverse = np.unique(blocks[sel], return_inverse=True)
        sums = np.bincount(inverse, weights=point_means[sel], minlength=len(ids))
        units.append(sums / np.maximum(np.bincount(inverse, minlength=len(ids)), 1))
    per_group = np.full((n_groups, max([1, *(len(u) for u in units)])), np.nan)
    for g, u in enumerate(units):
        per_group[g, : len(u)] = u
    return row_mean_ci(per_group)


def main_effects(data: Data, outcomes: list[str], out: Path, result: Analysis) -> list[Path]:
    """Per factor and level: the mean outcome with its 95% interval; in a grid also the
    paired difference from the factor's first level (replicate by replicate, which common
    random numbers make much narrower than the intervals of the two means)."""
    if not data.keys:
        return []
    cols = ("outcome", "factor", "level", "mean", "ci_low", "ci_high", "n")
    if data.method == "grid":
        cols += ("difference_from_first", "difference_ci_low", "difference_ci_high")
    rows: dict[str, list] = {k: [] for k in cols}
    keys = data.keys[:MAX_FACTORS]
    if len(data.keys) > MAX_FACTORS:
        result.notes.append(f"main_effects.png draws the first {MAX_FACTORS} factors; the table has them all")
    fig, axes = _figure(
        "Main effects: each factor's level, averaged over the other factors",
        len(outcomes),
        len(keys),
        size=(2.8 * len(keys) + 1.5, 2.6 * len(outcomes) + 1.2),
        note=_ci_note(data),
    )
    for o, name in enumerate(outcomes):
        spreads = []
        for i, key in enumerate(data.keys):
            labels, group, x = groups_of(data, i)
            mean, lo, hi, n = effect_rows(data, data.y[name], group, len(labels))
            extra: list[tuple] = [()] * len(labels)
            if data.method == "grid":
                per_rep = group_means(data.y[name], group, len(labels))
                d_mean, d_lo, d_hi, _ = row_mean_ci(per_rep - per_rep[:1])
                extra = list(zip(d_mean, d_lo, d_hi, strict=True))
            for j, label in enumerate(labels):
                for k, v in zip(
                    rows, (name, key, label, mean[j], lo[j], hi[j], n[j], *extra[j]), strict=True
                ):
                    rows[k].append(v)
            if np.isfinite(mean).any():
                spreads.append((np.nanmax(mean) - np.nanmin(mean), key, labels, mean))
            if i >= len(keys):
                continue
            ax = axes[o * len(keys) + i]
            _effect_line(ax, labels, x, mean, lo, hi, COLOURS[0], None)
            if data.method != "grid":
                pm = nan_mean_rows(data.y[name])
                xs = np.asarray(data.values[i], dtype=float) if x is not None else group
                ax.scatter(xs, pm, s=6, color="0.6", alpha=0.5, zorder=1)
            if o == len(outcomes) - 1:
                ax.set_xlabel(_label(key))
            if i == 0:
                ax.set_ylabel(name)
        _share_y(axes[o * len(keys) : (o + 1) * len(keys)])
        # a main effect needs two levels with results (an interrupted sweep may have one)
        spreads = [s for s in spreads if np.count_nonzero(np.isfinite(s[3])) >= 2]
        if spreads and data.method in ("grid", "latin"):  # Sobol and Morris rank factors better
            size, key, labels, mean = max(spreads, key=lambda s: s[0])
            j_lo, j_hi = int(np.nanargmin(mean)), int(np.nanargmax(mean))
            if size > 0:
                result.lines.append(
                    f"  {name}: largest main effect {key} (mean {mean[j_lo]:.3f} at {labels[j_lo]}, "
                    f"{mean[j_hi]:.3f} at {labels[j_hi]})"
                )
            else:  # every level of every factor gives the same mean
                result.lines.append(
                    f"  {name}: no main effect (mean {mean[j_lo]:.3f} at every level of every factor)"
                )
        elif data.keys and data.method in ("grid", "latin"):
            result.lines.append(f"  {name}: no factor has results at two of its levels yet")
    path = out / "main_effects.csv"
    write_csv(path, rows)
    return [path, _save(fig, out / "main_effects.png")]


def interactions(data: Data, outcomes: list[str], out: Path) -> list[Path]:
    keys = data.keys[:4]
    pairs = [(a, b) for a in range(len(keys)) for b in range(a + 1, len(keys))]  # at most 6
    rows: dict[str, list] = {
        k: []
        for k in ("outcome", "factor_x", "level_x", "factor_line", "level_line", "mean", "ci_low", "ci_high")
    }
    paths = []
    for name in outcomes:
        ncols = min(3, len(pairs))
        nrows = -(-len(pairs) // ncols)
        fig, axes = _figure(
            f"Interactions: {name} over one factor, a line per level of another",
            nrows,
            ncols,
            size=(4.2 * ncols, 3.2 * nrows + 1.3),
            note="Parallel lines: no interaction. " + _ci_note(data),
        )
        for ax, (a, b) in zip(axes, pairs, strict=False):
            labels_a, group_a, x_a = groups_of(data, a)
            labels_b, group_b, _ = groups_of(data, b)
            for j, label_b in enumerate(labels_b[:MAX_GROUPS]):
                sel = group_b == j
                y = np.where(sel[:, None], data.y[name], np.nan)
                mean, lo, hi, _ = row_mean_ci(group_means(y, group_a, len(labels_a)))
                colour = COLOURS[j % len(COLOURS)]
                _effect_line(ax, labels_a, x_a, mean, lo, hi, colour, f"{_label(data.keys[b])} = {label_b}")
                for k, label_a in enumerate(labels_a):
                    vals = (name, data.keys[a], label_a, data.keys[b], label_b, mean[k], lo[k], hi[k])
                    for col, v in zip(rows, vals, strict=True):
                        rows[col].append(v)
            ax.set_xlabel(_label(data.keys[a]))
            ax.set_ylabel(name)
            ax.legend(fontsize=7, frameon=False)
        for ax in axes[len(pairs) :]:
            ax.set_visible(False)
        paths.append(_save(fig, out / f"interactions_{name}.png"))
    path = out / "interactions.csv"
    write_csv(path, rows)
    return [path, *paths]


# -- time series ----------------------------------------------------------------------------


def envelopes(data: Data, out: Path, result: Analysis) -> list[Path]:
    """Mean daily paths with 95% bands.  One column at a time is streamed from the store,
    chunk by chunk, into per-replicate sums: memory is groups x replicates x days."""
    store = data.store
    columns = store.series_columns
    settings = store.manifest["settings"]
    every, horizon = int(settings["outputs"]["every"]), int(settings["horizon"])
    days = np.arange(0, horizon, every)
    marks = _marks(store.manifest, horizon)
    if marks:
        result.notes.append(
            "dashed lines in the time-series figures: " + "; ".join(f"day {d}: {t}" for d, t in marks)
        )
    groupings: list[tuple[str, list[str], np.ndarray]] = []
    if data.points <= MAX_GROUPS:
        labels = [_point_label(data, p) for p in range(data.points)]
        groupings.append(("point", labels, np.arange(data.points)))
    else:
        for i, key in enumerate(data.keys[:4]):
            labels, group, _ = groups_of(data, i)
            groupings.append((key, labels, group))
    reps, nd = data.replicates, len(days)
    thin = max(1, nd // 200)  # timeseries.csv keeps every thin-th stored day
    rows: dict[str, list] = {k: [] for k in ("column", "by", "group", "day", "mean", "ci_low", "ci_high")}
    paths = []
    for c in columns:
        sums = [np.zeros(len(lab) * reps * nd) for _, lab, _ in groupings]
        counts = [np.zeros(len(lab) * reps * nd) for _, lab, _ in groupings]
        for table in store.iter_series(["point", "replicate", "day", c]):
            point = table["point"].to_numpy()
            rep = table["replicate"].to_numpy()
            d = table["day"].to_numpy() // every
            values = table[c].to_numpy()
            for g, (_, labels, group) in enumerate(groupings):
                size = len(labels) * reps * nd
                index = (group[point] * reps + rep) * nd + d
                counts[g] += np.bincount(index, minlength=size)
                sums[g] += np.bincount(index, weights=values, minlength=size)
        fig, axes = _figure(
            f"{c}: mean daily path"
            + (
                " per design point"
                if data.points <= MAX_GROUPS
                else " per level of each factor, averaged over the others"
            ),
            len(groupings),
            1,
            size=(10, 2.8 * len(groupings) + 1.3),
            note=f"Band: 95% t interval over {reps} replicates" if reps > 1 else "",
        )
        for g, (by, labels, _) in enumerate(groupings):
            with np.errstate(invalid="ignore", divide="ignore"):
                per_rep = (sums[g] / counts[g]).reshape(len(labels), reps, nd)
            ax = axes[g]
            for j, label in enumerate(labels):
                mean, lo, hi, _n = row_mean_ci(per_rep[j].T)
                colour = COLOURS[j % len(COLOURS)]
                name = label if by == "point" else f"{_label(by)} = {label}"
                ax.plot(days, mean, color=colour, label=name, linewidth=1.5)
                if reps > 1:
                    ax.fill_between(days, lo, hi, color=colour, alpha=0.2, linewidth=0)
                for k in range(0, nd, thin):
                    for col, v in zip(rows, (c, by, label, days[k], mean[k], lo[k], hi[k]), strict=True):
                        rows[col].append(v)
            ax.set_ylabel(c)
            for day, text in marks:
                ax.axvline(day, color="0.4", linestyle="--", linewidth=0.8)
                if g == 0:  # named once, at the top of the first panel
                    ax.annotate(
                        text,
                        (day, 1),
                        xycoords=("data", "axes fraction"),
                        xytext=(3, -3),
                        textcoords="offset points",
                        va="top",
                        fontsize=7,
                        color="0.3",
                    )
            ax.legend(fontsize=7, frameon=False, ncols=2)
            if g == len(groupings) - 1:
                ax.set_xlabel("Day of the programme")
        paths.append(_save(fig, out / f"timeseries_{c}.png"))
    path = out / "timeseries.csv"
    write_csv(path, rows)
    if thin > 1:
        result.notes.append(
            f"timeseries.csv keeps one day in {thin * every} of the mean paths; the full series "
            "are in ../timeseries.parquet"
        )
    return [path, *paths]


# -- sensitivity indices --------------------------------------------------------------------


def _point_means(data: Data, name: str) -> np.ndarray | None:
    y = data.y[name]
    if not np.isfinite(y).any(axis=1).all():
        return None
    return nan_mean_rows(y)


def _problem(data: Data) -> dict[str, Any]:
    return unit_problem(data.keys)


def sobol_indices(data: Data, outcomes: list[str], out: Path, result: Analysis) -> list[Path]:
    import warnings

    from SALib.analyze import sobol  # SALib: Sobol indices with bootstrap confidence intervals

    settings = data.store.manifest["settings"]["design"]
    second = bool(settings["second_order"])
    rows: dict[str, list] = {k: [] for k in ("outcome", "factor", "S1", "S1_conf", "ST", "ST_conf")}
    rows2: dict[str, list] = {k: [] for k in ("outcome", "factor_a", "factor_b", "S2", "S2_conf")}
    fig, axes = _figure(
        "Sobol indices: share of the outcome's variance due to each factor",
        len(outcomes),
        1,
        size=(max(6, 1.2 * len(data.keys) + 3), 2.8 * len(outcomes) + 1.3),
        note="S1: the factor alone; ST: with all its interactions. Bars: 95% bootstrap interval",
    )
    for ax, name in zip(axes, outcomes, strict=True):
        y = _point_means(data, name)
        if y is None or not np.isfinite(y).all() or np.var(y) == 0:
            why = "some design points have no successful run" if y is None else "it does not vary"
            result.notes.append(f"Sobol indices of {name} not computed: {why}")
            ax.set_title(f"{name}: not computed ({why})", fontsize=9)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            si = sobol.analyze(
                _problem(data),
                y,
                calc_second_order=second,
                num_resamples=RESAMPLES,
                conf_level=0.95,
                seed=int(settings["seed"]),
            )
        for i, key in enumerate(data.keys):
            vals = (name, key, si["S1"][i], si["S1_conf"][i], si["ST"][i], si["ST_conf"][i])
            for col, v in zip(rows, vals, strict=True):
                rows[col].append(v)
        if second:
            for a in range(len(data.keys)):
                for b in range(a + 1, len(data.keys)):
                    vals = (name, data.keys[a], data.keys[b], si["S2"][a, b], si["S2_conf"][a, b])
                    for col, v in zip(rows2, vals, strict=True):
                        rows2[col].append(v)
        x = np.arange(len(data.keys))
        ax.bar(
            x - 0.2, si["S1"], 0.4, yerr=si["S1_conf"], color=COLOURS[0], label="S1 (first order)", capsize=3
        )
        ax.bar(x + 0.2, si["ST"], 0.4, yerr=si["ST_conf"], color=COLOURS[1], label="ST (total)", capsize=3)
        ax.set_xticks(x, [_label(k) for k in data.keys], fontsize=8)
        ax.set_ylabel(name)
        ax.axhline(0, color="0.3", linewidth=0.8)
        top = int(np.argmax(si["ST"]))
        result.lines.append(
            f"  {name}: Sobol ST largest for {data.keys[top]} "
            f"({si['ST'][top]:.2f} +/- {si['ST_conf'][top]:.2f})"
        )
        widest = float(np.nanmax(np.concatenate([si["S1_conf"], si["ST_conf"]])))
        if not widest <= SOBOL_VAGUE:
            result.notes.append(
                f"Sobol indices of {name} are too uncertain to rank the factors (95% intervals up to "
                f"+/-{widest:.2g} on a 0-1 scale, from {data.points} design points): raise "
                "design.samples (hundreds of base samples are usual)"
            )
    axes[0].legend(fontsize=8, frameon=False)
    paths = [out / "sobol_indices.csv"]
    write_csv(paths[0], rows)
    if second:
        paths.append(out / "sobol_second_order.csv")
        write_csv(paths[-1], rows2)
    return [*paths, _save(fig, out / "sobol.png")]


def morris_analyze(names: Sequence[str], unit: np.ndarray, y: np.ndarray, levels: int, seed: int) -> dict:
    """SALib's Morris indices of one outcome (``mu``, ``mu_star``, its 95% bootstrap
    interval ``mu_star_conf``, ``sigma``) over a design drawn in the unit hypercube, one
    coordinate per name; ``y`` holds the outcome at each design point."""
    import warnings

    from SALib.analyze import morris  # SALib: Morris elementary effects with bootstrap intervals

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return morris.analyze(
            unit_problem(names),
            unit,
            y,
            num_resamples=RESAMPLES,
            conf_level=0.95,
            num_levels=levels,
            seed=seed,
        )


def morris_indices(data: Data, outcomes: list[str], out: Path, result: Analysis) -> list[Path]:
    settings = data.store.manifest["settings"]["design"]
    rows: dict[str, list] = {k: [] for k in ("outcome", "factor", "mu", "mu_star", "mu_star_conf", "sigma")}
    fig, axes = _figure(
        "Morris screening: mean absolute elementary effect (mu*) and its spread (sigma)",
        len(outcomes),
        2,
        size=(11, 3.0 * len(outcomes) + 1.3),
        note="Effects per full range of each factor. Bars: 95% bootstrap interval of mu* (cut at 0). "
        "High sigma: non-linear or interacting",
    )
    for o, name in enumerate(outcomes):
        bar_ax, scatter_ax = axes[2 * o], axes[2 * o + 1]
        y = _point_means(data, name)
        if y is None or data.unit is None:
            result.notes.append(
                f"Morris indices of {name} not computed: some design points have no successful run"
            )
            bar_ax.set_title(f"{name}: not computed", fontsize=9)
            continue
        si = morris_analyze(data.keys, data.unit, y, int(settings["levels"]), int(settings["seed"]))
        mu_star, conf, sigma = (np.asarray(si[k], dtype=float) for k in ("mu_star", "mu_star_conf", "sigma"))
        for i, key in enumerate(data.keys):
            vals = (name, key, float(si["mu"][i]), mu_star[i], conf[i], sigma[i])
            for col, v in zip(rows, vals, strict=True):
                rows[col].append(v)
        order = np.argsort(mu_star)
        y_pos = np.arange(len(order))
        # SALib's interval is mu* +/- a half-width; mu* is a mean of absolute effects, so >= 0
        err = np.vstack([np.minimum(conf[order], mu_star[order]), conf[order]])
        bar_ax.barh(y_pos, mu_star[order], xerr=err, color=COLOURS[0], capsize=3)
        bar_ax.set_yticks(y_pos, [_label(data.keys[i]) for i in order], fontsize=8)
        bar_ax.set_xlabel(f"mu* of {name}")
        scatter_ax.scatter(mu_star, sigma, color=COLOURS[1])
        for i, key in enumerate(data.keys):
            scatter_ax.annotate(
                _label(key), (mu_star[i], sigma[i]), fontsize=7, xytext=(3, 3), textcoords="offset points"
            )
        lim = max(float(np.nanmax(mu_star)), float(np.nanmax(sigma)), 1e-9) * 1.1
        scatter_ax.plot([0, lim], [0, lim], color="0.6", linestyle="--", linewidth=0.8)
        scatter_ax.set_xlabel("mu*")
        scatter_ax.set_ylabel("sigma")
        top = int(np.argmax(mu_star))
        result.lines.append(
            f"  {name}: Morris mu* largest for {data.keys[top]} ({mu_star[top]:.3f} +/- {conf[top]:.3f})"
        )
    path = out / "morris_indices.csv"
    write_csv(path, rows)
    return [path, _save(fig, out / "morris.png")]


# -- replicates -----------------------------------------------------------------------------


def half_widths(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For n = 2..R, per design point: the 95% half-width and the standard deviation of
    the first n replicates (rows with a missing value among them are NaN)."""
    reps = y.shape[1]
    n = np.arange(2, reps + 1)
    csum = np.cumsum(y, axis=1)[:, 1:]
    csq = np.cumsum(y * y, axis=1)[:, 1:]
    with np.errstate(invalid="ignore"):
        var = np.maximum((csq - csum**2 / n) / (n - 1), 0.0)
    sd = np.sqrt(var)
    t = np.array([t975(int(k) - 1) for k in n])
    return t * sd / np.sqrt(n), sd


def replicates_for(sd: float, target: float) -> int:
    """The fewest replicates (at least 2) whose 95% t half-width, t(n - 1) sd / sqrt(n), is
    at most ``target``: the same interval as every table reports, so a small answer is not
    the optimism of the normal quantile (1.96 where t(1) is 12.7)."""
    if not target > 0 or not np.isfinite(sd):
        return 2
    n = max(2, math.ceil((1.96 * sd / target) ** 2))  # t > 1.96, so never more than needed
    while t975(n - 1) * sd / math.sqrt(n) > target:
        n += 1
    return n


def replicate_check(data: Data, outcomes: list[str], out: Path, result: Analysis) -> list[Path]:
    reps = data.replicates
    if reps < 3:
        result.notes.append(f"replicate check skipped: it needs 3 replicates or more (there are {reps})")
        return []
    n = np.arange(2, reps + 1)
    curve: dict[str, list] = {
        k: []
        for k in (
            "outcome",
            "replicates",
            "half_width_median",
            "half_width_q25",
            "half_width_q75",
            "sd_median",
        )
    }
    summary: dict[str, list] = {
        k: []
        for k in (
            "outcome",
            "replicates",
            "half_width_median",
            "spread_of_point_means",
            "sd_change_last_quarter",
            "settled",
            "replicates_for_target",
        )
    }
    fig, axes = _figure(
        "Replicate check: 95% half-width as replicates are added",
        1,
        len(outcomes),
        size=(3.6 * len(outcomes) + 1, 4.2),
        note="Median over design points (band: middle half); dashed: t(n-1)/sqrt(n) times the final spread.\n"
        "Settled: the spread between replicates moved less than 10% over the last quarter of them",
    )
    for ax, name in zip(axes, outcomes, strict=True):
        hw, sd = half_widths(data.y[name])
        keep = np.isfinite(hw).all(axis=1)
        if not keep.any():
            ax.set_title(f"{name}: no complete point", fontsize=9)
            continue
        hw, sd = hw[keep], sd[keep]
        med, q25, q75 = np.median(hw, axis=0), np.quantile(hw, 0.25, axis=0), np.quantile(hw, 0.75, axis=0)
        sd_med = np.median(sd, axis=0)
        for k in range(len(n)):
            for col, v in zip(curve, (name, n[k], med[k], q25[k], q75[k], sd_med[k]), strict=True):
                curve[col].append(v)
        quarter = max(2, int(math.ceil(0.75 * reps)))
        base = sd_med[quarter - 2]
        change = abs(sd_med[-1] - base) / base if base > 0 else 0.0
        settled = reps >= 4 and change < 0.1
        point_means = nan_mean_rows(data.y[name])
        spread = (
            float(np.nanstd(point_means, ddof=1)) if data.points > 1 else float(abs(np.nanmean(point_means)))
        )
        target = PRECISION * spread
        needed = replicates_for(float(sd_med[-1]), target)
        for col, v in zip(
            summary,
            (name, reps, med[-1], spread, change, "yes" if settled else "no", needed),
            strict=True,
        ):
            summary[col].append(v)
        ax.fill_between(n, q25, q75, color=COLOURS[0], alpha=0.25, linewidth=0)
        ax.plot(n, med, color=COLOURS[0], marker="o", markersize=3, label="median half-width")
        t_n = np.array([t975(int(k) - 1) for k in n])
        ax.plot(n, t_n * sd_med[-1] / np.sqrt(n), "--", color="0.4", label="t sd / sqrt(n), final sd")
        ax.set_xlabel("replicates")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel(f"half-width of {name}")
        ax.set_title(
            f"{'settled' if settled else 'not settled'}; ~{needed} replicates for "
            f"+/-{PRECISION:.0%} of the {'spread' if data.points > 1 else 'mean'}",
            fontsize=9,
        )
        aim = (
            f"a half-width of {PRECISION:.0%} of the "
            f"{'spread between design points' if data.points > 1 else 'mean'} ({spread:.3g})"
        )
        if settled:
            advice = f"the spread between replicates is settled; about {needed} replicates give {aim}"
        elif needed <= reps:
            advice = (
                f"the spread between replicates is not settled yet, but by this rough estimate the "
                f"{reps} replicates run already give {aim}; more would confirm it"
            )
        else:
            advice = (
                f"the spread between replicates is not settled yet; by this rough estimate about "
                f"{needed} replicates give {aim}"
            )
        result.lines.append(f"  {name}: 95% half-width {med[-1]:.3g} with {reps} replicates; {advice}")
    if axes[0].get_legend_handles_labels()[0]:  # (an outcome with no complete point draws nothing)
        axes[0].legend(fontsize=7, frameon=False)
    p1, p2 = out / "replicates.csv", out / "replicates_summary.csv"
    write_csv(p1, curve)
    write_csv(p2, summary)
    return [p1, p2, _save(fig, out / "replicates.png")]


# -- report ---------------------------------------------------------------------------------


_FILES = {
    "points.csv": "per design point: factors, runs ok and failed, and for each scalar its mean and 95% CI",
    "main_effects.csv": "each factor's levels (or bins), averaged over the other factors, with 95% CI",
    "main_effects.png": "the same, drawn",
    "interactions.csv": "pairs of factors: one over the other's levels, with 95% CI",
    "timeseries.csv": "mean daily paths with 95% bands (thinned)",
    "sobol_indices.csv": "Sobol first-order (S1) and total (ST) indices with 95% confidence intervals",
    "sobol_second_order.csv": "Sobol second-order indices (S2) with 95% confidence intervals",
    "sobol.png": "Sobol indices, drawn",
    "morris_indices.csv": "Morris mu, mu*, its 95% confidence interval, and sigma",
    "morris.png": "Morris mu* with intervals, and mu* against sigma",
    "replicates.csv": "95% half-width against the number of replicates (median and quartiles over points)",
    "replicates_summary.csv": "per outcome: settled or not, and about how many replicates a 10% "
    "precision needs",
    "replicates.png": "the replicate check, drawn",
}


def readme(data: Data, outcomes: list[str], path: Path, result: Analysis) -> Path:
    m = data.store.manifest
    lines = [
        f"# Analysis of {m['experiment']['name']}",
        "",
        m["experiment"]["title"],
        "",
        f"Written by `qisim analyse` (qisim {m['versions']['qisim']}) from `../runs.parquet` "
        f"(experiment fingerprint {m['experiment']['fingerprint']}). Outcomes drawn: {', '.join(outcomes)}.",
        "",
        "## Findings",
        "",
        *[f"- {line.strip()}" for line in result.lines],
        "",
        "## Files",
        "",
    ]
    for p in result.files:
        what = _FILES.get(p.name)
        if what is None and p.name.startswith("interactions_"):
            what = "interaction plots of one outcome"
        elif what is None and p.name.startswith("timeseries_"):
            what = "envelope of one daily series"
        lines.append(f"- `{p.name}`: {what or ''}")
    if result.notes:
        lines += ["", "## Notes", "", *[f"- {note}" for note in result.notes]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- drawing helpers ------------------------------------------------------------------------


def _figure(title: str, nrows: int, ncols: int, size, note: str = ""):
    from matplotlib.figure import Figure  # figures drawn on the Agg canvas, no display needed

    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    # wrapped to the figure's width (about 11 characters an inch at this size), so a narrow
    # figure's title is not cut at both ends
    width = max(20, int(size[0] * 11))
    lines = [
        wrapped for line in f"{title}\n{note}".strip().splitlines() for wrapped in textwrap.wrap(line, width)
    ]
    fig.suptitle("\n".join(lines), fontsize=11, fontweight="bold")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    return fig, axes


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=100)
    return path


def _marks(manifest: dict, horizon: int) -> list[tuple[int, str]]:
    """What happens to the base scenario during a run (facilitator leaves, events)."""
    from ..figures import markers
    from ..scenario import from_dict

    try:
        return markers(from_dict(manifest["settings"]["base"], "manifest"), horizon)
    except Exception:  # a manifest of another version: no markers rather than no figure
        return []


def _share_y(axes) -> None:
    """The same y range on every panel of a row, so effects compare at a glance."""
    lows, highs = zip(*(ax.get_ylim() for ax in axes), strict=True)
    for ax in axes:
        ax.set_ylim(min(lows), max(highs))


def _effect_line(ax, labels, x, mean, lo, hi, colour, label) -> None:
    pos = np.arange(len(labels)) if x is None else x
    ax.plot(pos, mean, marker="o", color=colour, label=label, zorder=3)
    if np.isfinite(lo).any():
        ax.fill_between(pos, lo, hi, color=colour, alpha=0.2, linewidth=0, zorder=2)
    if x is None:
        ax.set_xticks(pos, labels, fontsize=8)


def _ci_note(data: Data) -> str:
    if data.method == "grid":
        return f"Bands: 95% t interval over {data.replicates} replicates" if data.replicates > 1 else ""
    unit = {"morris": "trajectories", "sobol": "base samples"}.get(data.method, "design points")
    return f"Line: mean over the {unit} in each bin, band: its 95% t interval; dots: design points"


def _label(key: str) -> str:
    """A short name for a dotted key: its last two parts (three for a list entry's field)."""
    parts = key.split(".")
    keep = 3 if len(parts) >= 3 and parts[-2].isdigit() else 2
    return ".".join(parts[-keep:])


def _point_label(data: Data, p: int) -> str:
    if not data.keys:
        return "base"
    return ", ".join(f"{_label(k)}={_text(v[p])}" for k, v in zip(data.keys, data.values, strict=True))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _categorical(vals: Sequence[Any]) -> bool:
    return any(isinstance(v, bool | str) for v in vals)


def _round(x: float) -> float:
    return float(f"{x:.3g}")


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
