"""Output files of a run and of a comparison.

A run directory (:func:`write_run`) holds:

- ``timeseries.csv``: one row per day, columns :data:`sim.model.COLUMNS` in that order.
- ``wards.csv``: one row per ward per day: ``day, hospital, ward`` and
  :data:`sim.model.WARD_COLUMNS` (the primary intervention).
- ``interventions.csv``: one row per intervention per day: ``day, intervention`` and
  :data:`sim.model.INTERVENTION_COLUMNS`.
- ``issues.csv``: one row per issue raised: ``raised_day, hospital, ward, intervention,
  severity, authority, agreement, resolved_day, lapsed_day`` (-1 when not).
- ``summary.json``: scalar outcomes, the resolved scenario and the package version.
- ``events.log``: the narration, one ``Day N: ...`` line per event.
- ``adoption.png``, ``engagement.png``, ``harm.png``, ``issues.png``.

A comparison directory (:func:`write_compare`) holds ``summaries.csv`` (one row per
scenario and replicate), ``differences.csv`` (paired differences B - A with 95% t
intervals), ``compare_*.png``, and the first replicate's run directories ``A/`` and ``B/``.

CSV numbers are written deterministically: whole-number columns as integers, other
floats as the shortest text that reads back to the same value (float32 columns at
float32 precision).  Every directory is written to a hidden sibling first and moved into
place at the end, so a failure never leaves a half-written directory.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import figures
from .model import COLUMNS, QIModel
from .scenario import Scenario
from .stats import mean_ci

#: Outcomes in the table of differences of ``qisim compare``.
KEY_OUTCOMES = (
    "adoption_final",
    "sustainment",
    "effect",
    "fidelity_final",
    "reported_compliance_final",
    "alignment_mean",
    "issues_resolved",
)


# -- writing primitives -------------------------------------------------------------------


def write_csv(path: Path, columns: Mapping[str, Any]) -> None:
    """Write equal-length columns as CSV with deterministic number formatting."""
    frame = pd.DataFrame({name: _csv_column(np.asarray(v)) for name, v in columns.items()})
    frame.to_csv(path, index=False, lineterminator="\n")


def _csv_column(v: np.ndarray):
    """Whole-number floats as integers; floats with few distinct values formatted once."""
    if v.dtype.kind != "f":
        return v
    finite = np.isfinite(v)
    if finite.all() and np.array_equal(v, np.round(v)):
        return v.astype(np.int64)
    uniques, codes = np.unique(v, return_inverse=True)
    if finite.all() and len(uniques) * 4 < len(v):  # formatting is the slow part
        return pd.Categorical.from_codes(codes, uniques.astype(str))
    return v


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """JSON with sorted keys and an indent of 2; numpy scalars become Python numbers."""
    text = json.dumps(data, sort_keys=True, indent=2, default=_json_default)
    path.write_text(text + "\n", encoding="utf-8")


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"cannot write {type(x).__name__} to JSON")


@contextmanager
def atomic_dir(out_dir: Path) -> Iterator[Path]:
    """Yield a fresh hidden sibling of ``out_dir`` to write into; on success move it into
    place (into an existing ``out_dir``, replacing files of the same name and keeping the
    others); on failure remove it."""
    out_dir = Path(out_dir).resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = out_dir.parent / f".{out_dir.name}.tmp-{secrets.token_hex(4)}"
        try:
            tmp.mkdir()
            break
        except FileExistsError:
            continue
    try:
        yield tmp
        if out_dir.exists():
            _merge(tmp, out_dir)
        else:
            tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _merge(src: Path, dst: Path) -> None:
    dst.mkdir(exist_ok=True)
    for entry in sorted(src.iterdir()):
        if entry.is_dir():
            _merge(entry, dst / entry.name)
        else:
            os.replace(entry, dst / entry.name)


# -- one run -------------------------------------------------------------------------------


def write_run(model: QIModel, out_dir: Path) -> list[Path]:
    """Write every output file of a finished run into ``out_dir`` (atomically); returns the
    paths of the figures, under ``out_dir`` as given."""
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        names = _write_run_files(model, tmp)
    return [out_dir / name for name in names]


def _write_run_files(model: QIModel, directory: Path) -> list[str]:
    """Write a run's files into an existing directory; returns the figure file names."""
    ts = model.timeseries()
    write_csv(directory / "timeseries.csv", {c: ts[c] for c in COLUMNS})
    write_csv(directory / "wards.csv", model.ward_detail())
    write_csv(directory / "interventions.csv", model.intervention_detail())
    write_csv(directory / "issues.csv", model.issue_log())
    write_json(directory / "summary.json", model.summary())
    lines = model.events_log()
    (directory / "events.log").write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    paths = figures.run_figures(ts, model.config, model.primary, directory)
    return [p.name for p in paths]


# -- two scenarios compared ------------------------------------------------------------


def scalar_fields(summary: Mapping[str, Any]) -> dict[str, float | int]:
    """The numeric scalar fields of a run summary, in their order."""
    return {
        k: v for k, v in summary.items() if isinstance(v, int | float | np.number) and not isinstance(v, bool)
    }


def paired_differences(
    a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]], keys: Sequence[str] = KEY_OUTCOMES
) -> list[dict[str, float | str]]:
    """Per outcome: means of A and B and the paired mean difference B - A with its 95% t
    interval (replicate i of A and of B share a seed)."""
    rows = []
    for key in keys:
        xa = np.array([s[key] for s in a], dtype=float)
        xb = np.array([s[key] for s in b], dtype=float)
        diff, lo, hi = mean_ci(xb - xa)
        rows.append(
            {
                "outcome": key,
                "mean_a": float(xa.mean()),
                "mean_b": float(xb.mean()),
                "difference": float(diff),
                "ci_low": float(lo),
                "ci_high": float(hi),
            }
        )
    return rows


def write_compare(
    out_dir: Path,
    labels: Sequence[str],
    scenarios: Sequence[Scenario],
    first: Sequence[QIModel],
    summaries: Sequence[Sequence[Mapping[str, Any]]],
    series: Sequence[Sequence[Mapping[str, np.ndarray]]],
) -> list[Path]:
    """Write a comparison of two sides (A, B) atomically; returns the figure paths.

    ``labels`` name the sides, ``first`` are their first replicates' models (written to
    ``A/`` and ``B/``), ``summaries`` and ``series`` their replicates' summaries and daily
    series.
    """
    out_dir = Path(out_dir)
    rows: dict[str, list] = {"side": [], "scenario": [], "seed": []}
    for side, label, side_summaries in zip("AB", labels, summaries, strict=True):
        for s in side_summaries:
            fields = scalar_fields(s)
            rows["side"].append(side)
            rows["scenario"].append(label)
            for key, value in fields.items():
                rows.setdefault(key, []).append(value)
    diffs = paired_differences(*summaries)
    with atomic_dir(out_dir) as tmp:
        write_csv(tmp / "summaries.csv", rows)
        write_csv(
            tmp / "differences.csv",
            {
                "outcome": [d["outcome"] for d in diffs],
                "scenario_a": [labels[0]] * len(diffs),
                "scenario_b": [labels[1]] * len(diffs),
                **{
                    k: np.array([d[k] for d in diffs])
                    for k in ("mean_a", "mean_b", "difference", "ci_low", "ci_high")
                },
                "replicates": [len(summaries[0])] * len(diffs),
            },
        )
        for side, model in zip("AB", first, strict=True):
            (tmp / side).mkdir()
            _write_run_files(model, tmp / side)
        names = [p.name for p in figures.compare_figures(series, scenarios, labels, tmp)]
    return [out_dir / name for name in names]
