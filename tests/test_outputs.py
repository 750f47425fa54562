"""CSV writing: the numpy writer writes the very bytes pandas' ``to_csv`` writes."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import outputs
from sim.outputs import _csv_column, _for_pandas, _write_csv_fast, write_csv


def pandas_csv(path, columns):
    """The reference: pandas, every column as it is (whole-number floats within int64 as integers)."""
    frame = {}
    for name, v in columns.items():
        v = np.asarray(v)
        whole = v.dtype.kind == "f" and np.isfinite(v).all() and np.array_equal(v, np.round(v))
        if whole and (np.abs(v) < 2.0**63).all():  # what fits in int64; beyond, floats as floats
            v = v.astype(np.int64)
        frame[name] = v
    pd.DataFrame(frame).to_csv(path, index=False, lineterminator="\n")
    return path.read_bytes()


def written(path, columns):
    write_csv(path, columns)
    return path.read_bytes()


def fast(path, columns):
    prepared = {k: _csv_column(np.asarray(v)) for k, v in columns.items()}
    assert _write_csv_fast(path, prepared), "the numpy writer declined"
    return path.read_bytes()


FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, 0.5, 1e-5, 1e17])


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 40),
    data=st.data(),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_numbers_as_pandas_writes_them(tmp_path_factory, n, data, dtype):
    d = tmp_path_factory.mktemp("csv")
    with np.errstate(over="ignore"):  # beyond float32's range: inf
        floats = np.array(data.draw(st.lists(FLOATS, min_size=n, max_size=n))).astype(dtype)
    few = np.array(data.draw(st.lists(st.sampled_from([0.25, 0.1, 3.0, -0.0]), min_size=n, max_size=n)))
    ints = np.array(data.draw(st.lists(st.integers(-(2**62), 2**62), min_size=n, max_size=n)), dtype=np.int64)
    small = np.array(data.draw(st.lists(st.integers(-3, 900), min_size=n, max_size=n)), dtype=np.int32)
    flags = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    tiny = np.array(data.draw(st.lists(st.integers(-128, 127), min_size=n, max_size=n)), dtype=np.int8)
    cols = {"f": floats, "few": few, "i": ints, "small": small, "flag": flags, "tiny": tiny}
    cols["whole"] = small.astype(dtype)
    assert written(d / "a.csv", cols) == pandas_csv(d / "b.csv", cols)


def test_whole_numbers_beyond_int64_stay_floats(tmp_path):
    """A whole-number float too large for int64 is not cast (which would write garbage)."""
    for big in (1e300, -(2.0**63), 2.0**63):
        cols = {"f": np.array([big, 2.0])}
        text = written(tmp_path / "a.csv", cols)
        assert text == pandas_csv(tmp_path / "b.csv", cols)
        assert text.splitlines()[1] == repr(big).encode() and text.splitlines()[2] == b"2.0"
    cols = {"f": np.array([2.0**62, -3.0])}  # within int64: integers
    assert written(tmp_path / "a.csv", cols) == b"f\n4611686018427387904\n-3\n"


def test_negative_zero_among_few_distinct_values(tmp_path):
    """A -0.0 in a column of few distinct values (which np.unique merges with 0.0) is
    written as pandas writes it, in float32 and float64 columns alike."""
    for dtype in (np.float32, np.float64):
        cols = {"f": np.array([0.0] * 7 + [1.5, -0.0], dtype=dtype)}
        assert written(tmp_path / "a.csv", cols) == pandas_csv(tmp_path / "b.csv", cols)
        assert written(tmp_path / "a.csv", cols).endswith(b"-0.0\n")


def test_text_columns(tmp_path):
    n = 50
    names = np.array(["safety briefing", "café rounds", ""], dtype=object)[np.arange(n) % 3]
    cols = {
        "day": np.arange(n),
        "intervention": names,
        "authority": np.array(["ward", "board"] * 25),
        "x": np.linspace(0, 1, n, dtype=np.float32),
    }
    assert fast(tmp_path / "a.csv", cols) == pandas_csv(tmp_path / "b.csv", cols)


@pytest.mark.parametrize(
    "cols",
    [
        {"a": np.array(["x,y", "z"], dtype=object), "b": [1, 2]},  # quoted by pandas
        {"a": np.array(['say "hi"', "z"]), "b": [1, 2]},
        {"a": np.array([None, "z"], dtype=object), "b": [1, 2]},  # missing text
        {"a": np.array([1.5, "z"], dtype=object), "b": [1, 2]},  # mixed objects
        {"only": [1.5, 2.5]},  # a single column
        {"a,b": [1, 2], "c": [3, 4]},  # a name pandas quotes
    ],
)
def test_anything_else_is_left_to_pandas(tmp_path, cols):
    prepared = {k: _csv_column(np.asarray(v)) for k, v in cols.items()}
    assert not _write_csv_fast(tmp_path / "x.csv", prepared)  # declined: pandas writes it
    assert written(tmp_path / "a.csv", cols) == pandas_csv(tmp_path / "b.csv", cols)


def test_chunks_join_seamlessly(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    cols = {"i": np.arange(1000), "x": rng.random(1000), "y": rng.random(1000).astype(np.float32)}
    monkeypatch.setattr(outputs, "CSV_CHUNK_ROWS", 64)
    assert fast(tmp_path / "a.csv", cols) == pandas_csv(tmp_path / "b.csv", cols)


def test_distinct_values_formatted_once_write_the_same(tmp_path):
    v = np.repeat(np.array([0.1, 0.2, 1 / 3]), 10)
    prepared = _csv_column(v)
    assert isinstance(prepared, outputs._Formatted)
    assert isinstance(_for_pandas(prepared), pd.Categorical)
    cols = {"v": v, "w": v[::-1].copy()}
    assert written(tmp_path / "a.csv", cols) == pandas_csv(tmp_path / "b.csv", cols)
