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
float32 precision).  Every directory is written to a hidden temporary folder first and
moved into place at the end (:func:`atomic_dir`), so a failure never leaves a
half-written directory.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

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
    """Write equal-length columns as CSV with deterministic number formatting.

    The text is that of pandas' ``to_csv`` (numbers as numpy formats them, text as the
    ``csv`` module quotes it); tables of numbers and plain text are assembled with numpy
    (:func:`_write_csv_fast`), anything else goes through pandas.
    """
    prepared = {name: _csv_column(np.asarray(v)) for name, v in columns.items()}
    if not _write_csv_fast(path, prepared):
        frame = pd.DataFrame({name: _for_pandas(v) for name, v in prepared.items()})
        frame.to_csv(path, index=False, lineterminator="\n")


class _Formatted(NamedTuple):
    """A float column of few distinct values (``values``, to be formatted once each), and
    each row's index into them (``codes``)."""

    values: np.ndarray
    codes: np.ndarray


def _for_pandas(v):
    return pd.Categorical.from_codes(v.codes, v.values.astype(str)) if isinstance(v, _Formatted) else v


#: Rows assembled at a time by :func:`_write_csv_fast` (bounds its memory).
CSV_CHUNK_ROWS = 1 << 16
_CSV_SPECIAL = re.compile(r'[,"\r\n\x00]')


def _write_csv_fast(path: Path, columns: Mapping[str, Any]) -> bool:
    """Write prepared columns (:func:`_csv_column`) as pandas would, if every column is
    numbers, booleans, formatted categories or text that needs no quoting; returns False
    (writing nothing) otherwise.

    A chunk of rows at a time, each column's fields become a fixed-width bytes array,
    NUL-padded (distinct values formatted once where there are few); the arrays are laid
    out side by side with the commas and newlines, and dropping the NUL padding leaves
    the CSV text.
    """
    names = [str(name) for name in columns]
    if len(names) < 2 or any(_CSV_SPECIAL.search(name) for name in names):
        return False  # (a lone empty field is quoted; quoted names are left to pandas)
    fields = []
    for v in columns.values():
        f = _csv_fields(v)
        if f is None:
            return False
        fields.append(f)
    n = {len(v.codes if isinstance(v, _Formatted) else v) for v in columns.values()}
    if len(n) != 1:
        return False
    n = n.pop()
    with open(path, "wb") as out:
        out.write((",".join(names) + "\n").encode())
        for lo in range(0, n, CSV_CHUNK_ROWS):
            rows = slice(lo, min(n, lo + CSV_CHUNK_ROWS))
            texts = [f(rows) for f in fields]
            widths = [t.dtype.itemsize for t in texts]
            starts = np.cumsum([0] + [w + 1 for w in widths])  # a field, then a comma or newline
            block = np.empty((len(texts[0]), starts[-1]), dtype=np.uint8)
            for t, w, s in zip(texts, widths, starts, strict=False):
                block[:, s : s + w] = t.view(np.uint8).reshape(-1, w)
                block[:, s + w] = ord(",")
            block[:, -1] = ord("\n")
            flat = block.ravel()
            out.write(flat[flat != 0].tobytes())
    return True


def _csv_fields(v) -> Callable[[slice], np.ndarray] | None:
    """For a prepared column, a function from a slice of rows to their CSV fields as a
    bytes array (``S``, NUL-padded); None if the column is not one that function writes."""
    if isinstance(v, _Formatted):
        table = _narrow(_float_bytes(v.values))
        return lambda rows: table[v.codes[rows]]
    if not isinstance(v, np.ndarray) or v.ndim != 1:
        return None
    kind = v.dtype.kind
    if kind == "b":
        table = np.array([b"False", b"True"])
        return lambda rows: table[v[rows].view(np.uint8)]
    if kind in "iu":
        lo, hi = (int(v.min()), int(v.max())) if len(v) else (0, 0)
        if hi - lo <= max(1024, len(v)):  # each value formatted once
            table = _encoded(np.arange(lo, hi + 1, dtype=v.dtype).astype(str))
            return lambda rows: table[v[rows].astype(np.intp) - lo]
        return lambda rows: _encoded(v[rows].astype(str))
    if kind == "f":
        return lambda rows: _narrow(_float_bytes(v[rows]))
    if kind == "U":
        if len(v) and _CSV_SPECIAL.search("".join(v.tolist())):
            return None
        return lambda rows: _encoded(v[rows])
    if kind == "O":  # text only, each distinct value encoded once
        codes, uniques = pd.factorize(v)
        if (codes < 0).any() or not all(type(x) is str for x in uniques):
            return None
        if len(uniques) and _CSV_SPECIAL.search("".join(uniques)):
            return None
        table = _encoded(np.array(uniques, dtype=str)) if len(uniques) else np.zeros(0, dtype="S1")
        return lambda rows: table[codes[rows]]
    return None


def _float_bytes(v: np.ndarray) -> np.ndarray:
    """Floats as numpy formats them for ``astype(str)`` (as pandas writes them), NaN empty.

    Cast to bytes directly at the width numpy gives the text (no value is cut short).
    """
    width = np.zeros(1, dtype=v.dtype).astype(str).dtype.itemsize // 4
    text = v.astype(f"S{width}")
    text[np.isnan(v)] = b""  # pandas' empty na_rep
    return text


def _narrow(text: np.ndarray) -> np.ndarray:
    """Bytes (``S``) no wider than the longest value (less to lay out)."""
    width = max(1, int(np.strings.str_len(text).max())) if len(text) else 1
    return text if width == text.dtype.itemsize else text.astype(f"S{width}")


def _encoded(text: np.ndarray) -> np.ndarray:
    """Text (``U``) as UTF-8 bytes (``S``), no wider than its longest value."""
    if not len(text):
        return np.zeros(0, dtype="S1")
    if (text.view(np.uint32) < 128).all():
        width = max(1, int(np.strings.str_len(text).max()))
        return text.astype(f"S{width}")
    return np.strings.encode(text, "utf-8")


#: Floats at or beyond this magnitude do not fit in int64 (2**63, exactly a float).
_INT64_LIMIT = float(2**63)


def whole_numbers(v: np.ndarray) -> bool:
    """A float column written as integers: every value finite, whole and within int64.

    Beyond int64 a cast would write garbage, so such a column stays float (as 1e+300)."""
    return bool(
        v.dtype.kind == "f"
        and np.isfinite(v).all()
        and np.array_equal(v, np.round(v))
        and (np.abs(v) < _INT64_LIMIT).all()
    )


def _csv_column(v: np.ndarray):
    """Whole-number floats as integers (where every one fits in int64); floats with few
    distinct values formatted once."""
    if v.dtype.kind != "f":
        return v
    finite = np.isfinite(v)
    if whole_numbers(v):
        return v.astype(np.int64)
    uniques, codes = np.unique(v, return_inverse=True)
    # formatting is the slow part: each distinct value once, where there are few (under 80%
    # of the values) and no -0.0 among them, which np.unique would not tell from 0.0
    few = len(uniques) * 5 < len(v) * 4 and not np.signbit(v[v == 0]).any()
    if finite.all() and few:
        return _Formatted(uniques, codes)
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


def unwritable(out_dir: Path) -> str | None:
    """Why ``out_dir`` could not be written, or None: checked before a run, so that a long
    run is not lost to an output folder found unusable only at its end.

    The folder tried is the one :func:`atomic_dir` makes its temporary folder in:
    ``out_dir`` itself if it exists, else the nearest existing folder on the way to it. It
    is tried by making (and at once removing) an empty hidden folder in it, which also
    catches what permission bits do not (a read-only file system, /proc, a user with
    every permission).
    """
    base = Path(out_dir).resolve()
    while not base.exists():
        base = base.parent
    if not base.is_dir():
        return f"'{base}' is a file, not a folder"
    probe = base / f".qisim-write-check-{secrets.token_hex(4)}"
    try:
        probe.mkdir()
    except OSError as err:
        return f"cannot write in '{base}' ({err.strerror or err})"
    probe.rmdir()
    return None


@contextmanager
def atomic_dir(out_dir: Path) -> Iterator[Path]:
    """Yield a fresh hidden folder to write into; on success move what it holds into
    ``out_dir``; on failure remove it.

    A new ``out_dir`` is the temporary folder renamed: it is made beside ``out_dir`` (whose
    parents are made if need be), so that a failure leaves no half-written folder. Into an
    existing ``out_dir`` its files are moved (replacing files of the same name and keeping
    the others) from a temporary folder made inside ``out_dir``, not beside it: a folder
    may be writable where its parent is not (``--out .``, the root of a mounted volume).
    :func:`unwritable` tries the same folder.
    """
    out_dir = Path(out_dir).resolve()
    existing = out_dir.is_dir()
    if existing:
        home = out_dir
    else:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        home = out_dir.parent
    while True:
        tmp = home / f".{out_dir.name}.tmp-{secrets.token_hex(4)}"
        try:
            tmp.mkdir()
            break
        except FileExistsError:
            continue
    try:
        yield tmp
        if existing or out_dir.exists():
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
