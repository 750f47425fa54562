"""The results store of a sweep: a directory that loses nothing.

::

    OUT/
      manifest.json        the experiment (its file, settings and fingerprint), package
                           versions, number of points and runs, the replicates' seeds
      experiment.toml      a copy of the experiment file
      design.parquet       one row per design point: point, each factor's value, and for
                           samplers the unit coordinates (unit:KEY) the analysis needs
      parts/runs-NNNNNN.parquet    the runs of chunk NNNNNN (written when it finishes)
      parts/series-NNNNNN.parquet  their kept daily series
      runs.parquet         the consolidated dataset: one row per run, sorted by
                           (point, replicate): point, replicate, seed, factors, scalars,
                           status ("ok" or "failed") and error
      timeseries.parquet   point, replicate, day and the kept series (when kept)
      status.json          what the last sweep did: runs stored and failed, wall time

Parquet (via pyarrow) is columnar and typed, so a dataset of many runs reads fast and
exactly in pandas, R (arrow) or DuckDB.  Every file is written to a temporary name and
renamed into place, so a sweep killed at any moment leaves only whole files; chunks are
the unit of that atomicity.  A chunk's runs part is written after its series part and is
what marks the chunk done, so ``--resume`` runs exactly the runs that no runs part holds
as ``ok`` (runs that failed are tried again).

Chunks are consecutive runs in (point, replicate) order, one part file per chunk
(rewritten whole when a resume completes it), so concatenating the parts in chunk order
gives the sorted dataset: consolidation streams them one at a time and memory does not
grow with the number of runs.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import re
import secrets
import shutil
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa  # Arrow tables and Parquet files: typed, columnar, append-by-file
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import __version__
from ..outputs import atomic_dir
from .design import Design, chunk_size, replicate_seeds
from .experiment import Experiment, n_points

FORMAT = 1
MANIFEST = "manifest.json"
RUNS = "runs.parquet"
SERIES = "timeseries.parquet"
_KINDS = {"float": pa.float64(), "int": pa.int64(), "bool": pa.bool_(), "str": pa.string()}
_PART = re.compile(r"^(runs|series)-(\d{6,})\.parquet$")
#: Bounds of the rows in one row group of a consolidated file (see :func:`row_group_rows`).
MIN_GROUP_ROWS, MAX_GROUP_ROWS = 16_384, 1_048_576


def make_manifest(exp: Experiment) -> dict[str, Any]:
    """Everything needed to read, check, resume and analyse a sweep."""
    points = n_points(exp)
    total = points * exp.replicates
    return {
        "format": FORMAT,
        "experiment": {
            "name": exp.name,
            "title": exp.title,
            "description": exp.description,
            "source": exp.source,
            "fingerprint": exp.fingerprint(),
            "text": exp.text,
        },
        "settings": exp.to_dict(),
        "scalar_kinds": {k: exp.scalar_kinds[k].__name__ for k in exp.scalars},
        "points": points,
        "runs": total,
        "chunk_size": chunk_size(total),
        "replicate_seeds": replicate_seeds(exp),
        "seed_rule": (
            "seed of run (point p, replicate r) = SeedSequence(seed, spawn_key=(r,) if seeds == 'common' "
            "else (p, r)).generate_state(1, uint64)[0] >> 1"
        ),
        "versions": _versions(),
    }


def _versions() -> dict[str, str]:
    from .execute import model_code

    out = {"qisim": __version__, "qisim_model_code": model_code(), "python": platform.python_version()}
    for dist in ("numpy", "mesa", "pyarrow", "SALib"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


class StoreError(ValueError):
    """A damaged sweep directory: one line naming the file, what is wrong with it and
    what to do."""


def read_manifest(root: Path) -> dict[str, Any] | None:
    """The manifest of the sweep in ``root`` (None where there is none); a
    :class:`StoreError` if it cannot be read as one."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        problem = _manifest_problem(manifest)
    except UnicodeDecodeError:
        problem = "is not UTF-8 text"
    except json.JSONDecodeError as err:
        problem = "is empty" if not err.doc.strip() else f"is not valid JSON ({err})"
    if problem:
        raise StoreError(
            f"'{path}' {problem}; it says what the sweep in '{root}' is, and nothing can rebuild it: "
            f"delete '{root}' and run the sweep again"
        )
    return manifest


def _manifest_problem(m: Any) -> str:
    """What a manifest lacks of what reading the store needs ('' if nothing)."""
    if not isinstance(m, dict):
        return f"is not a sweep's manifest (a JSON {type(m).__name__}, not an object)"
    try:
        for keys in (("experiment", "name"), ("experiment", "fingerprint"), ("settings", "design", "method")):
            value = m
            for key in keys:
                value = value[key]
        if not isinstance(m["versions"], dict):
            raise ValueError("versions is not an object")
        settings, outputs = m["settings"], m["settings"]["outputs"]
        for f in settings["factors"]:
            if f["kind"] not in _KINDS or not isinstance(f["key"], str):
                raise ValueError("a factor without a known kind and a key")
        for k in outputs["scalars"]:
            if m["scalar_kinds"][k] not in _KINDS:
                raise ValueError("an output without a known kind")
        if not isinstance(outputs["timeseries"], list):
            raise ValueError("outputs.timeseries is not a list")
        for n in (m["points"], m["runs"], m["chunk_size"], settings["replicates"]):
            int(n)
    except KeyError as err:
        return f"is not a whole sweep's manifest (no {err})"
    except (TypeError, ValueError) as err:
        return f"is not a sweep's manifest as qisim writes it ({err})"
    return ""


class Store:
    """A sweep's directory: its manifest, part-files and consolidated dataset."""

    def __init__(self, root: Path, manifest: Mapping[str, Any]):
        self.root = Path(root)
        self.manifest = manifest
        settings = manifest["settings"]
        self.factors: list[dict[str, Any]] = settings["factors"]
        self.keys = [f["key"] for f in self.factors]
        self.scalars = list(settings["outputs"]["scalars"])  # in summary.json's order
        self.series_columns = list(settings["outputs"]["timeseries"])
        self.replicates = int(settings["replicates"])
        self.total = int(manifest["runs"])
        self.chunk_size = int(manifest["chunk_size"])
        self.parts = self.root / "parts"

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def create(cls, root: Path, exp: Experiment, design: Design, manifest: Mapping[str, Any]) -> Store:
        """Write the manifest, the experiment file and the design (atomically)."""
        root = Path(root)
        with atomic_dir(root) as tmp:
            (tmp / "parts").mkdir()
            (tmp / "experiment.toml").write_text(exp.text, encoding="utf-8")
            store = cls(tmp, manifest)
            _write_table(store.design_table(design), tmp / "design.parquet")
            text = json.dumps(manifest, indent=2, sort_keys=True)
            (tmp / MANIFEST).write_text(text + "\n", encoding="utf-8")  # last: marks a sweep directory
        return cls(root, manifest)

    @classmethod
    def open(cls, root: Path) -> Store:
        manifest = read_manifest(root)
        if manifest is None:
            raise FileNotFoundError(f"{root}: not a sweep directory (no {MANIFEST})")
        store = cls(root, manifest)
        store._sweep_temporaries()
        return store

    def check_parts(self) -> None:
        """Read the footer of every part file: a :class:`StoreError` for one cut short or
        overwritten, before a resume runs anything."""
        for kind in ("runs", "series"):
            for path in self.part_files(kind):
                self._rows(path)

    def repair_design(self, design: Design) -> bool:
        """Write ``design.parquet`` again if it is missing, damaged or not this design
        (checked by the caller to be the manifest's); whether it was."""
        path = self.root / "design.parquet"
        table = self.design_table(design)
        try:
            if _read(path).equals(table):
                return False
        except (OSError, pa.ArrowException):
            pass
        _write_table(table, path)
        return True

    def _sweep_temporaries(self) -> None:
        """Remove temporary files that a killed sweep left behind."""
        for folder in (self.root, self.parts):
            if folder.is_dir():
                for p in folder.glob(".*.tmp-*"):
                    shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)

    # -- schemas ---------------------------------------------------------------------------

    def factor_fields(self) -> list[pa.Field]:
        return [pa.field(f["key"], _KINDS[f["kind"]]) for f in self.factors]

    def runs_schema(self) -> pa.Schema:
        scalar_kinds = self.manifest["scalar_kinds"]
        return pa.schema(
            [pa.field("point", pa.int64()), pa.field("replicate", pa.int64()), pa.field("seed", pa.int64())]
            + self.factor_fields()
            + [pa.field(k, _KINDS[scalar_kinds[k]]) for k in self.scalars]
            + [pa.field("status", pa.string()), pa.field("error", pa.string())]
        )

    def series_schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field("point", pa.int64()), pa.field("replicate", pa.int64()), pa.field("day", pa.int64())]
            + [pa.field(c, pa.float64()) for c in self.series_columns]
        )

    def design_table(self, design: Design) -> pa.Table:
        fields = [pa.field("point", pa.int64()), *self.factor_fields()]
        if design.unit is not None:
            fields += [pa.field(f"unit:{k}", pa.float64()) for k in self.keys]
        return pa.Table.from_pydict(design.columns(), schema=pa.schema(fields))

    # -- what is stored --------------------------------------------------------------------

    def _part(self, kind: str, chunk: int) -> Path:
        return self.parts / f"{kind}-{chunk:06d}.parquet"

    def part_files(self, kind: str = "runs") -> list[Path]:
        """The part files of one kind, in chunk order."""
        if not self.parts.is_dir():
            return []
        found = []
        for p in self.parts.iterdir():
            m = _PART.match(p.name)
            if m and m.group(1) == kind:
                found.append((int(m.group(2)), p))
        return [p for _, p in sorted(found)]

    def stored_ok(self) -> np.ndarray:
        """A flag per run (point-major): stored and ``ok``."""
        ok = np.zeros(self.total, dtype=bool)
        for path in self.part_files("runs"):
            t = self._read(path, ["point", "replicate", "status"])
            runs = t["point"].to_numpy() * self.replicates + t["replicate"].to_numpy()
            ok[runs] = np.asarray(t["status"].to_pylist()) == "ok"
        return ok

    # -- writing ---------------------------------------------------------------------------

    def write_chunk(
        self, chunk: int, rows: Sequence[Mapping[str, Any]], series: Mapping[str, Any] | None
    ) -> None:
        """Store a finished chunk: its series part, then its runs part (the commit).  Rows
        already stored ``ok`` for this chunk (before a resume) are kept."""
        runs = pa.Table.from_pylist(list(rows), schema=self.runs_schema())
        new = pa.Table.from_pydict(dict(series), schema=self.series_schema()) if series else None
        path = self._part("runs", chunk)
        if path.exists():
            old = self._read(path)
            old = old.filter(pc.equal(old["status"], "ok"))
            kept = set(zip(old["point"].to_pylist(), old["replicate"].to_pylist(), strict=True))
            runs = pa.concat_tables([old, runs])
            spath = self._part("series", chunk)
            if self.series_columns and spath.exists():
                prev = self._read(spath)
                keep = [
                    (p, r) in kept
                    for p, r in zip(prev["point"].to_pylist(), prev["replicate"].to_pylist(), strict=True)
                ]
                parts = [prev.filter(pa.array(keep, pa.bool_()))] + ([new] if new is not None else [])
                new = pa.concat_tables(parts)
        if self.series_columns and new is not None and new.num_rows:
            _write_table(_sorted(new, ("point", "replicate", "day")), self._part("series", chunk))
        _write_table(_sorted(runs, ("point", "replicate")), path)

    def clear_consolidated(self) -> None:
        """Remove the consolidated files before runs are added (they are rebuilt)."""
        for name in (RUNS, SERIES):
            (self.root / name).unlink(missing_ok=True)

    def consolidate(self) -> list[Path]:
        """Write ``runs.parquet`` (and ``timeseries.parquet``) from the parts, in chunk
        order, a bounded number of rows in memory at a time."""
        written = []
        for kind, name, schema in (
            ("runs", RUNS, self.runs_schema()),
            ("series", SERIES, self.series_schema()),
        ):
            parts = self.part_files(kind)
            if not parts:
                continue
            target = self.root / name
            tmp = target.with_name(f".{name}.tmp-{secrets.token_hex(4)}")
            group = row_group_rows(sum(self._rows(p) for p in parts))
            try:
                with pq.ParquetWriter(tmp, schema) as writer:
                    buffer: list[pa.Table] = []
                    rows = 0
                    for path in parts:
                        table = self._read(path)
                        buffer.append(table)
                        rows += table.num_rows
                        if rows >= group:
                            writer.write_table(pa.concat_tables(buffer), row_group_size=rows)
                            buffer, rows = [], 0
                    if buffer:
                        writer.write_table(pa.concat_tables(buffer), row_group_size=rows)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            written.append(target)
        return written

    def write_status(self, status: Mapping[str, Any]) -> None:
        path = self.root / "status.json"
        tmp = path.with_name(f".status.json.tmp-{secrets.token_hex(4)}")
        tmp.write_text(json.dumps(status, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    # -- reading ---------------------------------------------------------------------------

    def read_runs(self, columns: Sequence[str] | None = None) -> pa.Table:
        """Every stored run, sorted by (point, replicate): the parts when there are any
        (they are the store's record), else the consolidated file."""
        schema = self.runs_schema()
        parts = self.part_files("runs")
        if parts:
            tables = [self._read(p, columns) for p in parts]
            table = pa.concat_tables(tables)
        elif (self.root / RUNS).exists():
            table = self._read(self.root / RUNS, columns)
        else:
            table = schema.empty_table() if columns is None else schema.empty_table().select(list(columns))
        return _sorted(table, ("point", "replicate"))

    def iter_series(self, columns: Sequence[str] | None = None) -> Iterator[pa.Table]:
        """The stored daily series, one chunk at a time."""
        parts = self.part_files("series")
        if not parts and (self.root / SERIES).exists():
            path = self.root / SERIES
            try:
                parquet = pq.ParquetFile(path)
                for i in range(parquet.num_row_groups):
                    yield parquet.read_row_group(i, columns=columns)
            except (OSError, pa.ArrowException) as err:
                raise self._damaged(path, err) from None
            return
        for path in parts:
            yield self._read(path, columns)

    def read_design(self) -> pa.Table:
        path = self.root / "design.parquet"
        table = self._read(path)
        names = ["point", *self.keys]
        if table.num_rows != int(self.manifest["points"]) or not set(names) <= set(table.column_names):
            columns = ", ".join(names)
            raise self._damaged(path, what=f"is not this sweep's design (a row per point: {columns})")
        return table

    @contextlib.contextmanager
    def _opened(self, path: Path) -> Iterator[pq.ParquetFile]:
        """One of the store's Parquet files, open; a :class:`StoreError` if it cannot be
        read, or does not have the columns of its kind."""
        try:
            with pq.ParquetFile(path) as f:
                self._check_columns(path, f.schema_arrow)
                yield f
        except (OSError, pa.ArrowException) as err:
            raise self._damaged(path, err) from None

    def _read(self, path: Path, columns: Sequence[str] | None = None) -> pa.Table:
        """One of the store's Parquet files, read (checked by :meth:`_opened`)."""
        with self._opened(path) as f:
            return f.read(columns=list(columns) if columns is not None else None)

    def _rows(self, path: Path) -> int:
        """The rows of a Parquet file of the store, from its footer (checked by :meth:`_opened`)."""
        with self._opened(path) as f:
            return f.metadata.num_rows

    def _check_columns(self, path: Path, schema: pa.Schema) -> None:
        """A :class:`StoreError` if a runs or series file lacks a column of its kind."""
        part = _PART.match(path.name)
        kind = part.group(1) if part else {RUNS: "runs", SERIES: "series"}.get(path.name)
        if kind is None:
            return
        expected = self.runs_schema() if kind == "runs" else self.series_schema()
        for field in expected:
            i = schema.get_field_index(field.name)
            if i < 0 or not schema.field(i).type.equals(field.type):
                what = f"does not hold this sweep's {'runs' if kind == 'runs' else 'daily series'}"
                raise self._damaged(path, what=f"{what} (no {field.type} column {field.name})")

    def _damaged(self, path: Path, err: BaseException | None = None, what: str = "") -> StoreError:
        """The error for a file of the store that cannot be read (``err``) or is not what
        it should be (``what``), with what repairs it."""
        if isinstance(err, FileNotFoundError):
            what = "is missing"
        elif err is not None:
            what = f"cannot be read as Parquet ({' '.join(str(err).split()) or type(err).__name__})"
        command = "trial" if "runner" in self.manifest["settings"] else "sweep"
        resume = f"`qisim {command} ... --out {self.root} --resume`"
        part = _PART.match(path.name)
        if path.name == "design.parquet":
            fix = f"{resume} writes it again"
        elif part and part.group(1) == "runs":
            fix = f"delete it, and {resume} runs its chunk again"
        elif part:
            runs = self._part("runs", int(part.group(2)))
            fix = f"delete it and {runs}, and {resume} runs their chunk again"
        else:
            fix = f"delete it, and {resume} writes it again"
        return StoreError(f"'{path}' {what}; {fix}")


def row_group_rows(total_rows: int) -> int:
    """Rows per row group of a consolidated file of ``total_rows`` rows.  A Parquet writer
    keeps some tens of kilobytes per row group until it closes, and a row group is
    buffered whole before it is written: sqrt(200 x rows) balances the two, so the
    memory of consolidation grows only with the square root of the size of the dataset."""
    return int(min(max(math.sqrt(200 * total_rows), MIN_GROUP_ROWS), MAX_GROUP_ROWS))


def _read(path: Path, columns: Sequence[str] | None = None) -> pa.Table:
    """One Parquet file (``ParquetFile``: lighter than ``read_table``'s dataset machinery,
    which matters when a store has thousands of parts)."""
    with pq.ParquetFile(path) as f:
        return f.read(columns=list(columns) if columns is not None else None)


def _sorted(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    present = [k for k in keys if k in table.column_names]
    return table.sort_by([(k, "ascending") for k in present]) if present else table


def _write_table(table: pa.Table, path: Path) -> None:
    """Write a Parquet file under a temporary name, then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
