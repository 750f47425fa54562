"""Experiments: files, designs and seeds, execution on every executor, the store, resume.

One small grid (4 design points x 8 replicates, 150 days) is run once in this process
and serves as the reference every other way of running it must reproduce row for row.
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from sim.cli import main
from sim.experiments import load_experiment, shipped_experiments
from sim.experiments.design import build_design, chunk_size, run_seed, validate_points
from sim.experiments.experiment import n_points, parse_experiment

ROOT = Path(__file__).resolve().parent.parent
REVIEW = "incentives.manager.performance_review"
LEAVES = "facilitation.end_day"  # 400 or 500: after the horizon, so it cannot act

GRID = f"""
title = "test grid"
scenario = "aligned"
horizon = 150
replicates = 8
seed = 11

[factors]
"{REVIEW}" = [0.0, 1.0]
"{LEAVES}" = [400, 500]

[outputs]
scalars = ["sustainment", "adoption_final", "alignment_mean", "issues_raised"]
timeseries = ["adoption"]
every = 10
"""
RUNS = 32


def sweep(*args: str) -> int:
    return main(["sweep", *map(str, args), "--quiet"])


def tables(out: Path):
    return pq.read_table(out / "runs.parquet"), pq.read_table(out / "timeseries.parquet")


def assert_same_results(a: Path, b: Path) -> None:
    runs_a, series_a = tables(a)
    runs_b, series_b = tables(b)
    assert runs_a.num_rows == runs_b.num_rows == RUNS
    assert runs_a.equals(runs_b)
    assert series_a.equals(series_b)


@pytest.fixture(scope="module")
def grid_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("exp") / "grid.toml"
    path.write_text(GRID)
    return path


@pytest.fixture(scope="module")
def reference(grid_file, tmp_path_factory) -> Path:
    """The grid run in this process, one run after another."""
    out = tmp_path_factory.mktemp("ref") / "grid"
    assert sweep(grid_file, "--workers", "1", "--out", out) == 0
    return out


# -- experiment files ------------------------------------------------------------------------


def test_shipped_experiments_load_by_name_and_stay_small():
    names = shipped_experiments()
    assert {"alignment_grid", "sensitivity_morris"} <= set(names)
    for name in ("alignment_grid", "sensitivity_morris"):
        exp = load_experiment(name)
        assert exp.source == f"experiments/{name}.toml"
        assert exp.title and exp.description
        design = build_design(exp)
        validate_points(exp, design)
        run_days = len(design) * exp.replicates * exp.horizon
        # ~0.4 s per 730 days: at most ~140 s of model time, about a minute on 2 cores
        assert run_days <= 250_000, f"{name}: {run_days} run-days"


def test_alignment_grid_crosses_one_incentive_per_level():
    exp = load_experiment("alignment_grid")
    assert exp.keys == (
        "incentives.clinician.recognition",
        "incentives.manager.performance_review",
        "incentives.board.quality_metrics",
    )
    assert n_points(exp) == 27 and exp.seeds == "common" and "sustainment" in exp.scalars


@pytest.mark.parametrize("name", ["alignment_grid", "sensitivity_morris"])
def test_shipped_experiments_have_their_figures_in_docs(name):
    folder = ROOT / "docs" / "experiments" / name
    if not (ROOT / "docs").is_dir():
        pytest.skip("not a source checkout")
    assert sorted(p.name for p in folder.glob("*.png")), f"no figures in {folder}"


BAD = [
    (
        'scenario = "aligned"\n[factors]\n"incentives.manager.performence_review" = [0, 1]\n',
        "incentives.manager.performence_review",
        "did you mean 'incentives.manager.performance_review'",
    ),
    (
        'scenario = "aligned"\n[factors]\n"incentives.manager.performance_review" = [0, 2]\n',
        "incentives.manager.performance_review",
        "must be a number from 0 to 1 (got 2.0)",
    ),
    (
        'scenario = "aligned"\n[factors]\n"incentives.manager.performance_review" = { min = 0, max = 1 }\n',
        "factors.incentives.manager.performance_review",
        "a grid needs values, or a range with steps",
    ),
    (
        'scenario = "aligned"\n[design]\nmethod = "sobol"\nsamples = 10\n'
        '[factors]\n"managers.bias" = { min = -3, max = 0 }\n',
        "design.samples",
        "power of 2",
    ),
    ('scenario = "aligned"\n[design]\nmethod = "factorial"\n', "design.method", "grid, latin, sobol, morris"),
    (
        'scenario = "aligned"\n[design]\nmethod = "morris"\n'
        '[factors]\n"managers.bias" = { min = -3, max = 0 }\n',
        "design.samples",
        "the number of trajectories",
    ),
    ('scenario = "aligned"\nreplicate = 5\n', "replicate", "did you mean 'replicates'"),
    ('scenario = "aligned"\nreplicates = 0\n', "replicates", "from 1 to 100000"),
    ('scenario = "aligned"\nreplicates = true\n', "replicates", "must be an integer (got true)"),
    ('scenario = "aligned"\nseeds = { a = 1 }\n', "seeds", "must be a string (got { a = 1 })"),
    (
        'scenario = "aligned"\n[outputs]\ntimeseries = ["adoption", false]\n',
        "outputs.timeseries",
        "(got ['adoption', false])",
    ),
    ('scenario = "aligned"\nseeds = "crn"\n', "seeds", "common, independent"),
    ('scenario = "aligned"\n[factors]\nseed = [1, 2]\n', "factors.seed", "cannot be a factor"),
    (
        'scenario = "aligned"\n[set]\n"managers.bias" = 1.0\n[factors]\n"managers.bias" = [0.0, 1.0]\n',
        "factors.managers.bias",
        "also in [set]",
    ),
    (
        'scenario = "aligned"\n[outputs]\nscalars = ["sustainability"]\n',
        "outputs.scalars",
        "did you mean 'sustainment'",
    ),
    ('scenario = "aligned"\n[outputs]\nscalars = []\n', "outputs.scalars", "needs at least one name"),
    ('scenario = "aligned"\n[outputs]\nscalars = false\n', "outputs.scalars", "needs at least one name"),
    (
        'scenario = "aligned"\n[outputs]\ntimeseries = ["adopton"]\n',
        "outputs.timeseries",
        "did you mean 'adoption'",
    ),
    ('title = "no base"\n', "scenario", "missing"),
    ('scenario = ""\n', "scenario", "no preset given"),
    ('scenario = "alinged"\n', "scenario", "did you mean 'aligned'"),
    ('scenario = "aligned"\nhorizon = 0\n', "horizon", "from 1 to 7300"),
    (
        'scenario = "aligned"\n[factors]\n'
        '"facilitation.start_day" = [0, 200]\n"facilitation.end_day" = [100, 300]\n',
        "facilitation.end_day",
        "(at design point 2: facilitation.start_day = 200, facilitation.end_day = 100)",
    ),
    (
        'scenario = "aligned"\n[factors]\n"interventions.1.burden" = [0.01, 0.02]\n',
        "interventions.1.burden",
        "'interventions' has 1 entries",
    ),
    ('scenario = "aligned"\n[factors\n', None, "not valid TOML"),
]


@pytest.mark.parametrize(("text", "key", "message"), BAD)
def test_bad_experiment_files_get_one_line_and_nothing_is_written(tmp_path, capsys, text, key, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("qisim: error: ")
    assert str(path) in err and message in err
    if key:
        assert f"key '{key}'" in err
    assert not out.exists()


def test_unknown_experiment_name_lists_the_shipped_ones(capsys):
    assert main(["sweep", "alignment_gird", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'alignment_grid'" in err and "sensitivity_morris" in err


def test_nested_and_quoted_dotted_keys_are_the_same_factor():
    a = parse_experiment({"scenario": "aligned", "factors": {"managers": {"bias": [-2.0, 0.0]}}})
    b = parse_experiment({"scenario": "aligned", "factors": {"managers.bias": [-2.0, 0.0]}})
    assert a.factors == b.factors and a.fingerprint() == b.fingerprint()


# -- designs and seeds -----------------------------------------------------------------------


def experiment(**design) -> dict:
    return {"scenario": "aligned", "horizon": 30, "replicates": 2, **design}


def test_grid_crosses_every_level_first_factor_slowest():
    exp = parse_experiment(
        experiment(
            factors={
                "managers.bias": {"min": -2, "max": 0, "steps": 3},
                "organisation.wards_per_hospital": {"min": 4, "max": 5, "steps": 3},  # integers: 4, 5
                "interventions.0.co_designed": [True, False],
            }
        )
    )
    design = build_design(exp)
    assert len(design) == n_points(exp) == 3 * 2 * 2
    assert [v[0] for v in design.values[:4]] == [-2.0] * 4 and design.values[4][0] == -1.0
    assert {v[1] for v in design.values} == {4, 5} and all(isinstance(v[1], int) for v in design.values)
    assert design.overrides(1) == {
        "managers.bias": -2.0,
        "organisation.wards_per_hospital": 4,
        "interventions.0.co_designed": False,
    }


@pytest.mark.parametrize(
    ("method", "samples", "extra", "points"),
    [
        ("latin", 7, {}, 7),
        ("sobol", 8, {}, 8 * (3 + 2)),
        ("sobol", 4, {"second_order": True}, 4 * (2 * 3 + 2)),
        ("morris", 5, {"levels": 4}, 5 * (3 + 1)),
    ],
)
def test_samplers_give_the_documented_number_of_points_within_the_ranges(method, samples, extra, points):
    exp = parse_experiment(
        experiment(
            design={"method": method, "samples": samples, "seed": 3, **extra},
            factors={
                "managers.bias": {"min": -3.0, "max": -1.0},
                "organisation.wards_per_hospital": {"min": 4, "max": 9},
                "interventions.0.pathway": ["issues", "fidelity"],
            },
        )
    )
    design = build_design(exp)
    assert len(design) == n_points(exp) == points
    assert design.unit.shape == (points, 3) and ((design.unit >= 0) & (design.unit <= 1)).all()
    bias, wards, pathway = zip(*design.values, strict=True)
    assert all(-3.0 <= b <= -1.0 for b in bias)
    assert all(isinstance(w, int) and 4 <= w <= 9 for w in wards)
    assert set(pathway) <= {"issues", "fidelity"}
    assert build_design(exp).values == design.values  # the sampler's seed fixes it


def test_common_random_numbers_give_replicate_r_one_seed_at_every_point():
    crn = parse_experiment(experiment(seed=5))
    indep = parse_experiment(experiment(seed=5, seeds="independent"))
    assert run_seed(crn, 0, 3) == run_seed(crn, 7, 3) != run_seed(crn, 0, 4)
    assert run_seed(indep, 0, 3) != run_seed(indep, 7, 3)
    expected = int(np.random.SeedSequence(5, spawn_key=(3,)).generate_state(1, np.uint64)[0]) >> 1
    assert run_seed(crn, 0, 3) == expected < 2**63


def test_chunks_share_start_up_among_runs_but_leave_many_tasks():
    assert chunk_size(10) == 1 and chunk_size(64) == 1
    assert chunk_size(270) == 5 and chunk_size(10**6) == 32


# -- running and storing ---------------------------------------------------------------------


def test_a_sweep_stores_tidy_rows_with_a_manifest(reference, grid_file):
    runs, series = tables(reference)
    assert runs.column_names == [
        "point",
        "replicate",
        "seed",
        REVIEW,
        LEAVES,
        "sustainment",
        "adoption_final",
        "alignment_mean",
        "issues_raised",
        "status",
        "error",
    ]
    assert runs["point"].to_pylist() == [p for p in range(4) for _ in range(8)]
    assert runs["replicate"].to_pylist() == list(range(8)) * 4
    assert set(runs["status"].to_pylist()) == {"ok"}
    assert series.column_names == ["point", "replicate", "day", "adoption"]
    assert series.num_rows == RUNS * 15 and sorted(set(series["day"].to_pylist())) == list(range(0, 150, 10))
    manifest = json.loads((reference / "manifest.json").read_text())
    assert manifest["experiment"]["text"] == grid_file.read_text()
    assert manifest["versions"]["qisim"] and manifest["runs"] == RUNS and manifest["points"] == 4
    assert runs["seed"].to_pylist()[:8] == manifest["replicate_seeds"]
    assert (reference / "experiment.toml").read_text() == grid_file.read_text()
    assert pq.read_table(reference / "design.parquet").num_rows == 4


def test_the_consolidated_files_hold_exactly_what_the_parts_hold(reference):
    import pyarrow as pa

    from sim.experiments.store import Store, row_group_rows

    store = Store.open(reference)
    runs, series = tables(reference)
    assert store.read_runs().equals(runs)
    assert pa.concat_tables(store.iter_series()).equals(series)
    assert len(store.part_files("runs")) == len(store.part_files("series")) == RUNS  # one run per chunk here
    assert (
        row_group_rows(100) == 16_384 and row_group_rows(10**8) == 141_421 and row_group_rows(10**12) == 2**20
    )


def test_common_random_numbers_leave_a_factor_that_cannot_act_without_effect(reference):
    df = tables(reference)[0].to_pandas()
    for review in (0.0, 1.0):
        a = df[(df[REVIEW] == review) & (df[LEAVES] == 400)].reset_index(drop=True)
        b = df[(df[REVIEW] == review) & (df[LEAVES] == 500)].reset_index(drop=True)
        for col in ("seed", "sustainment", "adoption_final", "alignment_mean", "issues_raised"):
            assert a[col].tolist() == b[col].tolist()
    assert df[df["point"] == 0]["alignment_mean"].nunique() == 8  # replicates differ


def test_a_local_process_pool_gives_the_same_rows(reference, grid_file, tmp_path):
    assert sweep(grid_file, "--workers", "2", "--out", tmp_path / "pool") == 0
    assert_same_results(reference, tmp_path / "pool")


def test_a_dask_cluster_gives_the_same_rows(reference, grid_file, tmp_path, capsys, dask_scheduler):
    assert sweep(grid_file, "--scheduler", dask_scheduler, "--out", tmp_path / "dask") == 0
    assert "Dask cluster" in capsys.readouterr().out
    assert_same_results(reference, tmp_path / "dask")


def test_a_sweep_killed_mid_way_resumes_to_the_same_dataset(reference, grid_file, tmp_path, capsys):
    out = tmp_path / "killed"
    code = "import sys; from sim.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = [
        sys.executable,
        "-c",
        code,
        "sweep",
        str(grid_file),
        "--out",
        str(out),
        "--workers",
        "2",
        "--quiet",
    ]
    proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while len(list((out / "parts").glob("runs-*.parquet"))) < 2:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no runs stored"
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    parts = list((out / "parts").glob("runs-*.parquet"))
    assert 2 <= len(parts) < RUNS and not (out / "runs.parquet").exists()
    stored = sum(pq.read_table(p).num_rows for p in parts)  # every part file is whole
    assert sweep(grid_file, "--out", out, "--resume", "--workers", "1") == 0
    assert f"{stored} were already stored" in capsys.readouterr().out
    assert_same_results(reference, out)
    assert not list(out.rglob(".*tmp*"))


def test_a_held_ctrl_c_is_taken_when_the_block_ends_even_if_it_raised():
    from sim.experiments.executors import _ctrl_c_held

    done = []
    with pytest.raises(KeyboardInterrupt), _ctrl_c_held():
        signal.raise_signal(signal.SIGINT)
        done.append("the block ran to its end")
    assert done == ["the block ran to its end"]
    with pytest.raises(KeyboardInterrupt) as caught, _ctrl_c_held():
        signal.raise_signal(signal.SIGINT)
        raise ValueError("the block failed")
    assert isinstance(caught.value.__context__, ValueError)  # the Ctrl-C is not lost
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_sigterm_is_held_as_a_ctrl_c_is_where_the_command_line_takes_it():
    from sim.console import Terminated, signals_taken
    from sim.experiments.executors import _ctrl_c_held

    done = []
    with signals_taken():
        with pytest.raises(Terminated), _ctrl_c_held():
            signal.raise_signal(signal.SIGTERM)
            done.append("the block ran to its end")
        assert done == ["the block ran to its end"]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def _ctrl_c_handling() -> tuple:
    return signal.getsignal(signal.SIGINT), signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])


def _sigint_bit(status: str, field: str) -> bool:
    mask = int(re.search(rf"^{field}:\s*([0-9a-f]+)$", status, re.M).group(1), 16)
    return bool(mask & (1 << (signal.SIGINT - 1)))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_the_pool_s_server_and_workers_ignore_ctrl_c_and_this_process_takes_it():
    from multiprocessing import forkserver

    from sim.experiments.executors import open_executor

    with open_executor(2) as info:
        worker = info.executor.submit(_ctrl_c_handling).result()
        server = forkserver._forkserver._forkserver_pid
        status = Path(f"/proc/{server}/status").read_text()
    assert _sigint_bit(status, "SigIgn") and not _sigint_bit(status, "SigBlk")
    assert worker == (signal.SIG_IGN, False)
    assert _ctrl_c_handling() == (signal.default_int_handler, False)


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_a_pool_closed_with_tasks_unfinished_stops_its_workers_at_once():
    from sim.experiments.executors import LocalPool

    pool = LocalPool(2)
    assert pool.submit(_sleep, 0).result() == 0
    long = pool.submit(_sleep, 60)
    start = time.monotonic()
    pool.shutdown(wait=True, cancel_futures=True)  # as after a Ctrl-C: the task does not finish
    assert time.monotonic() - start < 20
    with pytest.raises(Exception):  # noqa: B017 (the pool broke: its worker was stopped)
        long.result(timeout=20)


@pytest.mark.parametrize("delay", [0.2, 0.6, 1.0, 1.4, 2.0])
def test_ctrl_c_at_any_moment_of_a_sweep_is_one_line_without_a_traceback(grid_file, tmp_path, delay):
    """A terminal's Ctrl-C reaches the command and its pool's processes (one process group):
    during the imports, while the pool's fork server imports qisim, while its first worker
    starts, or mid-run, the sweep ends with its own message only, and exit status 130 (or
    by SIGINT, as Python ends a run interrupted in some imports: the shell's 130 too). On a
    fast machine the sweep may have ended first: the Ctrl-C then changes nothing."""
    argv = [sys.executable, "-m", "sim", "sweep", str(grid_file), "--out", str(tmp_path / "out"),
            "--workers", "2", "--quiet"]
    proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    if proc.returncode == 0 and "results:" in out:
        return  # the sweep had ended
    assert proc.returncode in (130, -signal.SIGINT), err
    assert err == "qisim: interrupted; nothing written\n" or "interrupted:" in out


def test_a_sweep_started_with_ctrl_c_ignored_runs_to_its_end_through_one(grid_file, tmp_path):
    code = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        "from sim.console import main; sys.exit(main())"
    )
    out = tmp_path / "out"
    argv = [sys.executable, "-c", code, "sweep", str(grid_file), "--out", str(out), "--workers", "2",
            "--quiet"]
    proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(1.5)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert pq.read_table(out / "runs.parquet").num_rows == RUNS


def _left_in_session(sid: int, wait: float = 20.0) -> list[str]:
    """The processes still running in a session (from /proc): a command started with
    start_new_session and everything it started. Waits up to ``wait`` s for them to go."""
    deadline = time.monotonic() + wait
    while True:
        left = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                state, _ppid, _pgrp, session = stat.read_text().rsplit(")", 1)[1].split()[:4]
            except (OSError, ValueError):
                continue
            if int(session) == sid and state != "Z":
                left.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120])
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("group", [False, True], ids=["to-the-command", "to-its-process-group"])
def test_sigterm_ends_a_sweep_as_ctrl_c_does_with_no_process_left_and_resume_completes_it(
    reference, grid_file, tmp_path, capsys, group
):
    """A SIGTERM (`kill PID`; a batch system or `timeout` sends it to every process of the
    job) stops a sweep on a pool as a Ctrl-C does: the stored chunks are kept and said
    so, the pool's workers, fork server and resource tracker end too, exit status 143;
    --resume then completes the dataset as if nothing had happened."""
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "sim", "sweep", str(grid_file), "--out", str(out), "--workers", "2",
            "--quiet"]
    proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 120
        while len(list((out / "parts").glob("runs-*.parquet"))) < 2:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "no runs stored"
            time.sleep(0.01)
        (os.killpg if group else os.kill)(proc.pid, signal.SIGTERM)
        stdout, err = proc.communicate(timeout=120)
        left = _left_in_session(proc.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert left == []
    assert proc.returncode == 143, err
    assert "Traceback" not in err, err
    assert re.search(rf"terminated: \d+ of {RUNS} runs are stored in .* and kept; run .* --resume", stdout)
    assert not list(out.rglob(".*tmp*"))
    assert sweep(grid_file, "--out", out, "--resume", "--workers", "1") == 0
    assert "were already stored" in capsys.readouterr().out
    assert_same_results(reference, out)
    for name in ("runs.parquet", "timeseries.parquet"):
        assert (out / name).read_bytes() == (reference / name).read_bytes()


def test_a_run_that_raises_is_recorded_and_resume_runs_it_again(
    reference, grid_file, tmp_path, monkeypatch, capsys
):
    from sim.experiments import execute

    exp = load_experiment(grid_file)
    bad_seed = run_seed(exp, 0, 2)
    real = execute.simulate

    def flaky(scenario, seed):
        if seed == bad_seed and scenario[LEAVES] == 500:
            raise RuntimeError("injected failure")
        return real(scenario, seed)

    monkeypatch.setattr(execute, "simulate", flaky)
    out = tmp_path / "flaky"
    assert sweep(grid_file, "--workers", "1", "--out", out) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "grid: 32 runs (4 design points x 8 replicates)"
    assert re.fullmatch(r"  ran 32 in .+ in this process: 30 ok, 2 failed", lines[1])
    assert [line.split(" (")[0] for line in lines[2:4]] == [
        f"    failed: point {p}, replicate 2: RuntimeError: injected failure" for p in (1, 3)
    ]
    assert lines[4] == f"  `qisim sweep {grid_file} --out {out} --resume` runs the failed ones again"
    runs = tables(out)[0].to_pandas()
    failed = runs[runs["status"] == "failed"]
    assert failed[["point", "replicate"]].values.tolist() == [[1, 2], [3, 2]]
    assert failed["error"].str.contains("RuntimeError: injected failure").all()
    assert failed["sustainment"].isna().all() and runs["status"].eq("ok").sum() == RUNS - 2
    series = tables(out)[1].to_pandas()
    assert not ((series["point"] == 1) & (series["replicate"] == 2)).any()

    monkeypatch.setattr(execute, "simulate", real)
    assert sweep(grid_file, "--workers", "1", "--out", out, "--resume") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "  30 were already stored"
    assert re.fullmatch(r"  ran 2 in .+ in this process: 2 ok, 0 failed", lines[2])
    assert_same_results(reference, out)


def test_an_out_directory_never_mixes_experiments(reference, grid_file, tmp_path, capsys):
    before = (reference / "runs.parquet").read_bytes()
    other = tmp_path / "other.toml"
    other.write_text(GRID.replace("seed = 11", "seed = 12"))
    assert sweep(other, "--out", reference, "--resume") == 2
    assert "different experiment" in capsys.readouterr().err
    assert sweep(grid_file, "--out", reference) == 2
    assert "add --resume" in capsys.readouterr().err
    assert (reference / "runs.parquet").read_bytes() == before
    assert sweep(grid_file, "--out", reference, "--resume", "--workers", "1") == 0
    assert "were already stored\n  nothing was left to run" in capsys.readouterr().out
    assert (reference / "runs.parquet").read_bytes() == before
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    assert sweep(grid_file, "--out", tmp_path / "taken") == 2
    assert "not a sweep directory" in capsys.readouterr().err


def test_results_of_other_model_code_are_not_resumed(reference, grid_file, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["versions"]["qisim_model_code"]
    manifest["versions"]["qisim_model_code"] = "0123456789ab"  # as if the model had been edited since
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert sweep(grid_file, "--out", copy, "--resume") == 2
    assert "holds results of model code 0123456789ab" in capsys.readouterr().err


def _damage(copy: Path, name: str, content: bytes | None) -> Path:
    path = copy / name
    if content is None:
        path.unlink()
    else:
        path.write_bytes(content)
    return path


GARBAGE = b"not a Parquet file"


@pytest.mark.parametrize(
    ("name", "content", "analyse_says", "resume_says"),
    [
        ("manifest.json", b"{bad", "is not valid JSON", "is not valid JSON"),
        ("manifest.json", b"", "is empty", "is empty"),
        ("manifest.json", b"\xff\xfe{}", "is not UTF-8 text", "is not UTF-8 text"),
        ("manifest.json", b"[1, 2]", "a JSON list, not an object", "a JSON list"),
        ("manifest.json", b'{"format": 1}', "no 'experiment'", "no 'experiment'"),
        ("parts/runs-000003.parquet", GARBAGE, "cannot be read as Parquet", "cannot be read as Parquet"),
        ("parts/series-000003.parquet", GARBAGE, "cannot be read as Parquet", "cannot be read as Parquet"),
        ("parts/runs-000003.parquet", "design.parquet", "does not hold this sweep's runs", "no int64 column"),
        ("design.parquet", None, "is missing", None),
        ("design.parquet", GARBAGE, "cannot be read as Parquet", None),
    ],
)
def test_a_damaged_sweep_directory_is_one_line_naming_the_file_and_what_to_do(
    reference, grid_file, tmp_path, capsys, name, content, analyse_says, resume_says
):
    """`qisim analyse` and `qisim sweep --resume` on a sweep directory with a damaged file:
    exit 2, one line naming the file, what is wrong and what to do, and nothing run or
    written; a missing or damaged design is written again by --resume."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    if isinstance(content, str):  # another file of the store in its place
        content = (copy / content).read_bytes()
    path = _damage(copy, name, content)
    fix = "delete" if name == "manifest.json" or "parts" in name else "--resume"
    assert main(["analyse", str(copy), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and f"'{path}'" in err and analyse_says in err and fix in err, err
    assert not (copy / "analysis").exists()
    before = sorted(p.name for p in (copy / "parts").iterdir())
    if resume_says is None:
        assert sweep(grid_file, "--out", copy, "--resume", "--workers", "1") == 0
        assert "nothing was left to run" in capsys.readouterr().out
        assert (copy / "design.parquet").read_bytes() == (reference / "design.parquet").read_bytes()
        assert main(["analyse", str(copy), "--quiet"]) == 0
        return
    assert sweep(grid_file, "--out", copy, "--resume", "--workers", "1") == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and f"'{path}'" in err and resume_says in err and fix in err, err
    assert sorted(p.name for p in (copy / "parts").iterdir()) == before
    if "parts" in name:  # what the message says to do repairs it
        for part in {path, copy / "parts" / path.name.replace("series-", "runs-")}:
            part.unlink()
        assert sweep(grid_file, "--out", copy, "--resume", "--workers", "1") == 0
        assert "31 were already stored" in capsys.readouterr().out
        assert_same_results(reference, copy)


def test_a_sweep_and_its_analysis_go_in_a_folder_whose_parent_cannot_be_written(
    reference, grid_file, tmp_path, bound_by_permissions
):
    """An empty --out whose parent cannot be written (`--out .`, a mounted volume's root)
    takes a sweep and its analysis; a sweep folder that cannot be written is refused by
    `qisim analyse` before it reads anything, naming OUT."""
    import shutil

    parent = tmp_path / "locked"
    out = parent / "sweep"
    out.mkdir(parents=True)
    frozen = parent / "frozen"
    shutil.copytree(reference, frozen)
    commands = [f"sweep {grid_file} --out {out} --workers 1 --quiet", f"analyse {out} --quiet",
                f"analyse {frozen} --quiet"]
    code = "import sys; from sim.cli import main; print([main(a.split()) for a in sys.argv[1:]])"
    for folder in (frozen, frozen / "parts", parent):
        folder.chmod(0o555)
    try:
        done = subprocess.run(bound_by_permissions([sys.executable, "-c", code, *commands]),
                              capture_output=True, text=True, timeout=300)
    finally:
        for folder in (frozen, frozen / "parts", parent):
            folder.chmod(0o755)
    assert done.stdout.splitlines()[-1:] == ["[0, 0, 2]"], done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and f"OUT: '{frozen}' cannot be written" in lines[0], lines
    assert_same_results(reference, out)
    assert (out / "analysis" / "points.csv").is_file() and not (frozen / "analysis").exists()
    assert sorted(p.name for p in parent.iterdir()) == ["frozen", "sweep"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "--workers: must be an integer from 1 to 1024 (got 0)"),
        (["--workers", "3000000000"], "--workers: must be an integer from 1 to 1024 (got 3000000000)"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], "not both"),
        (["--scheduler", "localhost"], "expected an address such as tcp://HOST:PORT"),
    ],
)
def test_bad_sweep_options_exit_2_before_writing(grid_file, tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert main(["sweep", str(grid_file), "--out", str(out), "--quiet", *args]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_the_command_line_lists_sweep_and_analyse_without_importing_heavy_libraries():
    # (pyarrow and matplotlib come with pandas and the run figures; SALib and Dask must not)
    code = (
        "import sys; from sim.cli import _build_parser; p = _build_parser(); "
        "print(' '.join(m for m in ('SALib', 'dask', 'distributed') if m in sys.modules)); "
        "p.print_help()"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    first, _, help_text = out.partition("\n")
    assert first == ""
    assert "sweep" in help_text and "analyse" in help_text
