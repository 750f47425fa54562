"""Virtual trials: the launch hook, the designs, the estimators against the counterfactual
truth, the command's bad input, reproducibility across workers, and resume."""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sim import QIModel
from sim.cli import main
from sim.console import Terminated
from sim.scenario import ScenarioError, from_dict
from sim.trials.definition import Settings, load_trial, parse_trial, to_experiment
from sim.trials.report import summarise, wilson
from sim.trials.run import clusters, randomisation_rng, schedule

SMALL = {"hospitals": 2, "wards_per_hospital": 6, "clinicians_per_ward": 8}
#: A mandated checklist whose effect is there soon after the switch, and a steep secular trend.
CHECKLIST = {
    "organisation.hospitals": 2,
    "organisation.wards_per_hospital": 6,
    "organisation.clinicians_per_ward": 8,
    "outcome.secular_trend": 0.3,
    "spread.rate": 0.0,
    "interventions.0.pathway": "fidelity",
    "interventions.0.mandate_strength": 1.0,
    "interventions.0.effect_max": 0.5,
}


def trial(design: dict, fixed: dict, trials: int = 4, seed: int = 7, **extra) -> dict:
    return {"scenario": "aligned", "trials": trials, "seed": seed, "set": fixed, "design": design, **extra}


def simulate(raw: dict) -> pd.DataFrame:
    """Every simulated trial of a (one-point) trial, in this process."""
    exp = to_experiment(parse_trial(raw, "test.toml"))
    from sim.experiments.design import run_seed

    rows = [exp.runner(exp.base, {}, run_seed(exp, 0, r))[0] for r in range(exp.replicates)]
    return pd.DataFrame(rows).assign(status="ok", point=0)


# -- the model's launch hook -------------------------------------------------------------------


def test_a_launch_event_starts_the_intervention_on_its_ward_on_its_day_and_nowhere_else():
    raw = {
        "organisation": SMALL,
        "spread": {"rate": 0.0},
        "interventions": [{"name": "briefing", "launch_day": -1}],
        "events": [{"day": 30, "kind": "launch", "hospital": 1, "ward": 2}],
    }
    model = QIModel(from_dict(raw), rng=3).run(60)
    s = model.state
    started = np.flatnonzero(s.w_started[:, 0])
    assert started.tolist() == [1 * 6 + 2]
    assert s.launched[:, 0].tolist() == [False, True]  # the hospital launched it; the other did not
    wards = pd.DataFrame(model.ward_detail())
    on = wards[(wards.ward == 8)]
    assert on[on.day < 30].adoption.max() == 0 and on[on.day >= 35].adoption.max() > 0
    assert wards[wards.ward != 8].adoption.max() == 0
    # without events, launch_day = -1 launches nothing
    quiet = QIModel(from_dict({**raw, "events": []}), rng=3).run(60)
    assert not quiet.state.launched.any() and quiet.timeseries()["adoption"].max() == 0


def test_a_launch_event_brings_the_launch_day_mandate_even_beyond_the_first_hospitals():
    """A launch by event is never a scale-up: every cluster of a trial meets one intervention."""
    iv = {"name": "checklist", "launch_day": -1, "hospitals_at_launch": 1, "scale_up_day": 400}
    raw = {
        "organisation": SMALL,
        "interventions": [{**iv, "mandate_strength": 0.2, "scale_up_mandate": 0.7}],
        "events": [{"day": 5, "kind": "launch", "hospital": 1, "ward": -1}],
    }
    s = QIModel(from_dict(raw), rng=3).run(10).state
    assert s.mandate[:, 0].tolist() == [0.0, 0.2]


@pytest.mark.parametrize(
    ("event", "key"),
    [
        ({"day": 1, "kind": "launch", "ward": 6}, "events.0.ward"),
        ({"day": 1, "kind": "merger", "ward": 0}, "events.0.ward"),
        ({"day": 1, "kind": "launch", "ward": -2}, "events.0.ward"),
    ],
)
def test_bad_launch_events_are_refused(event, key):
    with pytest.raises(ScenarioError) as err:
        from_dict({"organisation": SMALL, "interventions": [{"name": "x"}], "events": [event]})
    assert err.value.key == key


# -- designs -----------------------------------------------------------------------------------


def test_stepped_wedge_switches_every_cluster_once_in_groups_in_a_seeded_order():
    st = Settings(kind="stepped_wedge", steps=4)
    a = schedule(st, 10, randomisation_rng(1))
    assert sorted(np.bincount(a)[1:].tolist()) == [2, 2, 3, 3] and a.min() == 1 and a.max() == 4
    assert np.array_equal(a, schedule(st, 10, randomisation_rng(1)))
    assert any(not np.array_equal(a, schedule(st, 10, randomisation_rng(s))) for s in range(2, 5))
    par = schedule(Settings(kind="parallel", baseline_periods=2, followup_periods=2), 9, randomisation_rng(1))
    assert (par == 2).sum() == 4 and (par == 4).sum() == 5  # 4 switch, 5 never (period 4 = never)
    assert clusters("ward", 3, 2, 4) == [(0, 0), (1, 0), (0, 1)]
    assert clusters("hospital", 0, 3, 4) == [(0, -1), (1, -1), (2, -1)]


# -- estimators against the truth ----------------------------------------------------------------


def test_period_adjusted_estimate_is_close_to_the_truth_and_the_naive_one_takes_the_secular_trend():
    runs = simulate(
        trial(
            {"kind": "parallel", "baseline_periods": 2, "followup_periods": 2, "period_days": 90},
            CHECKLIST,
            30,
        )
    )
    assert (runs.true_rr < 0.93).all()  # the intervention works, by the model's counterfactual
    assert (runs.secular_rr < 0.9).mean() > 0.8  # and harm falls everywhere anyway
    table = summarise(runs, [])
    row = table.iloc[0]
    assert abs(row.bias) < 0.05  # log rate ratio: within 5% of the truth on average
    assert (
        row.naive_bias < -0.1 and row.naive_bias_high < row.bias_low
    )  # credits the trend to the intervention
    assert row.coverage >= 0.8 and row.naive_coverage < row.coverage
    assert 0.7 <= interval_over_spread(runs.rr, runs.rr_low, runs.rr_high) <= 1.6  # not covering by width


def interval_over_spread(est, low, high) -> float:
    """The intervals' mean half-width on the log scale (as a standard error, /1.96) over the
    estimates' standard deviation across the simulated trials: near 1 for an honest
    interval (the small-sample corrections make it somewhat wider); an interval made wide
    enough to cover anything is far above it."""
    se = (np.log(high) - np.log(low)) / (2 * 1.96)
    return float(se.mean() / np.log(est).std(ddof=1))


def test_coverage_is_near_95_percent_when_the_intervention_does_nothing():
    fixed = {**CHECKLIST, "interventions.0.effect_max": 0.0}
    runs = simulate(trial({"kind": "stepped_wedge", "steps": 4, "period_days": 45}, fixed, 40, seed=11))
    assert (runs.true_rr == 1.0).all()
    row = summarise(runs, []).iloc[0]
    assert row.coverage >= 0.85 and row.power <= 0.1
    assert 0.7 <= interval_over_spread(runs.rr, runs.rr_low, runs.rr_high) <= 1.6  # not covering by width
    assert row.naive_bias < 0 and row.naive_power > row.power  # the naive study sees a benefit
    assert (runs.true_tate == 1.0).all() and row.eti_coverage >= 0.85 and row.eti_power <= 0.1
    assert 0.7 <= interval_over_spread(runs.eti_rr, runs.eti_low, runs.eti_high) <= 1.6


def test_a_before_after_study_has_no_adjusted_estimate_and_credits_the_trend_to_the_intervention():
    fixed = {**CHECKLIST, "interventions.0.effect_max": 0.0, "organisation.wards_per_hospital": 3}
    runs = simulate(trial({"kind": "before_after", "period_days": 60}, fixed, 8, seed=5))
    assert runs.rr.isna().all() and (runs.true_rr == 1.0).all() and runs.control_adoption.isna().all()
    assert runs.eti_rr.isna().all()  # times since the switch are the periods: no estimate either
    assert (runs.naive_rr < 1).mean() >= 0.75  # harm fell; the study has no one to compare with
    assert np.log(runs.naive_rr).mean() < -0.03


def test_the_stepped_wedge_analysis_recovers_a_constant_effect_and_not_a_growing_one():
    """On counts drawn outside the model (a secular trend, cluster effects, a known rate
    ratio), the period-adjusted GEE finds a constant effect; an effect that grows with time
    since the switch it underestimates, as the model's trials show (Kenny et al. 2022)."""
    from sim.trials.analyse import poisson_gee

    st = Settings(kind="stepped_wedge", steps=4)
    constant, growing = [], []
    for seed in range(60):
        rng = np.random.default_rng(seed)
        switch = schedule(st, 12, randomisation_rng(seed))
        cluster, period = np.repeat(np.arange(12), 5), np.tile(np.arange(5), 12)
        treated = (period >= switch[cluster]).astype(float)
        base = 15.0 * np.exp(rng.normal(0, 0.2, 12)[cluster] - 0.1 * period)
        since = np.where(treated > 0, period - switch[cluster], 0)
        for effect, out in ((np.full(60, 0.2), constant), (0.1 * (1 + since), growing)):
            harms = rng.poisson(base * np.where(treated > 0, 1 - effect, 1))
            out.append(np.log(poisson_gee(harms, np.full(60, 1500.0), treated, cluster, period)[0]))
    assert abs(np.mean(constant) - np.log(0.8)) < 0.03
    # the growing effect averages RR 0.8 over the treated cluster-periods too
    assert np.mean(growing) > np.log(0.8) + 0.06


def test_the_exposure_time_analysis_recovers_the_time_averaged_effect_of_a_growing_one():
    """The same counts: with one effect for each time since the switch (Kenny et al. 2022),
    the mean of their logs is the time-averaged effect, found without bias and covered by
    its interval, at the price of a wider interval than the constant-effect model's."""
    from sim.trials.analyse import exposure_time_gee, poisson_gee

    st = Settings(kind="stepped_wedge", steps=4)
    tate = np.exp(np.mean(np.log([0.9, 0.8, 0.7, 0.6])))  # the effect 0.1, 0.2, 0.3, 0.4 by exposure
    estimates, covered, width = [], [], []
    for seed in range(60):
        rng = np.random.default_rng(seed)
        switch = schedule(st, 12, randomisation_rng(seed))
        cluster, period = np.repeat(np.arange(12), 5), np.tile(np.arange(5), 12)
        treated = (period >= switch[cluster]).astype(float)
        base = 100.0 * np.exp(rng.normal(0, 0.2, 12)[cluster] - 0.1 * period)  # about 100 harms a cell
        exposure = np.where(treated > 0, period - switch[cluster] + 1, 0)
        harms = rng.poisson(base * (1 - 0.1 * exposure))
        rr, low, high, _, ok = exposure_time_gee(harms, np.full(60, 1500.0), exposure, cluster, period)
        one = poisson_gee(harms, np.full(60, 1500.0), treated, cluster, period)
        assert ok
        estimates.append(np.log(rr))
        covered.append(low <= tate <= high)
        width.append(np.log(high / low) / np.log(one[2] / one[1]))
        # with one time since the switch, the model is the constant-effect one, to the bit
        assert exposure_time_gee(harms, np.full(60, 1500.0), treated.astype(int), cluster, period) == one
    assert abs(np.mean(estimates) - np.log(tate)) < 0.03
    assert np.mean(covered) >= 0.85 and np.median(width) > 1.2


def test_a_time_since_the_switch_seen_in_one_cluster_is_pooled_so_the_interval_is_finite():
    """One cluster a step: the last time since the switch is the first cluster's last period
    alone, fitted exactly, and its sandwich variance is undefined (an interval from 0 to
    infinity).  Pooled with the time before it, every time is seen in 2 clusters or more."""
    from sim.trials.analyse import exposure_time_gee, pooled_exposure

    rng = np.random.default_rng(0)
    switch = schedule(Settings(kind="stepped_wedge", steps=6), 6, randomisation_rng(0))
    cluster, period = np.repeat(np.arange(6), 7), np.tile(np.arange(7), 6)
    exposure = np.where(period >= switch[cluster], period - switch[cluster] + 1, 0)
    pooled = pooled_exposure(exposure, cluster)
    assert exposure.max() == 6 and np.array_equal(pooled, np.minimum(exposure, 5))
    assert [len(np.unique(cluster[pooled == e])) for e in range(1, 6)] == [6, 5, 4, 3, 2]
    harms = rng.poisson(100 * np.exp(rng.normal(0, 0.2, 6)[cluster] - 0.05 * period) * (1 - 0.05 * exposure))
    beds = np.full(42, 1500.0)
    assert exposure_time_gee(harms, beds, exposure, cluster, period)[1:3] == (0.0, np.inf)
    _, low, high, _, ok = exposure_time_gee(harms, beds, pooled, cluster, period)
    assert ok and 0.5 < low < 1 < high < 1.5


def test_wilson_interval():
    assert wilson(0, 10)[0] == 0.0 and 0.277 < wilson(0, 10)[1] < 0.278  # 0 of 10: up to 27.8%
    # none (all) of n: the bound is exactly 0 (1) for every n, not 0 (1) off by rounding
    assert all(wilson(0, n)[0] == 0.0 and wilson(n, n)[1] == 1.0 for n in range(1, 200))
    low, high = wilson(95, 100)
    assert low < 0.95 < high and 0.88 < low < 0.9


# -- the command ---------------------------------------------------------------------------------

FAST = trial(
    {"kind": "stepped_wedge", "steps": 3, "period_days": 30},
    {**CHECKLIST, "organisation.wards_per_hospital": 3},
    3,
    factors={"clusters.count": [4, 6]},
)


def toml_text(raw: dict) -> str:
    """A small TOML writer for the tables the tests use."""
    lines, tables = [], []
    for k, v in raw.items():
        (tables if isinstance(v, dict) else lines).append((k, v))
    out = [f"{k} = {_val(v)}" for k, v in lines]
    for k, v in tables:
        out.append(f"[{k}]")
        out += [f'"{kk}" = {_val(vv)}' for kk, vv in v.items()]
    return "\n".join(out) + "\n"


def _val(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(_val(x) for x in v) + "]"
    return repr(v)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from sim.cli import main; sys.exit(main(sys.argv[1:]))", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(("stop", "status", "how"), [(KeyboardInterrupt, 130, "interrupted"),
                                                     (Terminated, 143, "terminated")])
def test_a_trial_stopped_while_its_report_is_written_keeps_its_trials_and_says_so(
    tmp_path, monkeypatch, capsys, stop, status, how
):
    """A Ctrl-C or SIGTERM after the simulated trials are stored, while their report is
    written: one line saying the trials are kept and --resume writes the report."""
    path = tmp_path / "fast.toml"
    path.write_text(toml_text(FAST))
    out = tmp_path / "out"

    def stopped(*args, **kwargs):
        raise stop

    monkeypatch.setattr("sim.trials.report.write_report", stopped)
    argv = ["trial", str(path), "--workers", "1", "--out", str(out), "--quiet"]
    assert main(argv) == status
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"qisim: {how}; the report was not written; the 6 simulated trials are stored in {out}/ and kept: "
        f"`qisim trial {path} --out {out} --resume` writes the report"
    ]
    assert not (out / "report").exists()
    monkeypatch.undo()
    assert main([*argv, "--resume"]) == 0
    assert "nothing was left to run" in capsys.readouterr().out
    assert (out / "report" / "trials.csv").is_file()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"desing": {}}, ["test.toml", "desing", "did you mean 'design'"]),
        ({"design": {"kind": "zigzag"}}, ["design.kind", "'stepped_wedge'", "'before_after'"]),
        ({"design": {"steps": "four"}}, ["design.steps", "an integer from 1 to 100"]),
        ({"design": {"period_days": 3}}, ["design.period_days", "from 7 to 3650"]),
        ({"design": {"start_day": 7200}}, ["design.start_day", "must be at most 7300 days"]),
        ({"design": {"period_days": 3000}}, ["design.period_days", "must be at most 7300 days"]),
        ({"design": {"steps": 9}}, ["design.steps", "at most the number of clusters (4)", "design point 0"]),
        ({"factors": {"clusters.count": [4, 40]}}, ["clusters.count", "at most 6", "design point 1"]),
        ({"factors": {"design.kind": ["parallel"]}}, ["factors.design.kind", "cannot be a factor"]),
        (
            {"design": {"kind": "parallel", "baseline_periods": 1, "followup_periods": 1}},
            ["clusters.count", "parallel trial needs at least 6 clusters", "half that switches", "has 4"],
        ),
        ({"measure": {"process": ["smiles"]}}, ["measure.process", "'smiles'", "fidelity"]),
        ({"set": {"organisation.hopsitals": 2}}, ["organisation.hopsitals", "organisation.hospitals"]),
    ],
)
def test_bad_trial_files_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, change, words):
    raw = copy.deepcopy(FAST)
    for key, value in change.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(raw.get(key), dict) else value
    path = tmp_path / "test.toml"
    path.write_text(toml_text(raw))
    out = tmp_path / "out"
    assert main(["trial", str(path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    for word in words:
        assert word in err, (word, err)
    assert not out.exists()


def test_a_trial_that_measures_no_adoption_still_keeps_it_for_its_report(tmp_path):
    """``[measure] process`` without adoption (as in the module's example): adoption is kept
    anyway, and the report, whose exposure figure reads it, is written."""
    raw = {k: v for k, v in copy.deepcopy(FAST).items() if k != "factors"}
    raw["trials"] = 2
    raw["measure"] = {"process": ["fidelity"]}
    path = tmp_path / "test.toml"
    path.write_text(toml_text(raw))
    assert load_trial(path).settings.process == ("adoption", "fidelity")
    out = tmp_path / "out"
    assert main(["trial", str(path), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    assert {"adoption", "fidelity"} <= set(pd.read_parquet(out / "timeseries.parquet").columns)
    assert (out / "report" / "exposure.png").is_file()


def test_a_bad_trial_of_one_design_point_names_no_point(tmp_path, capsys):
    """With no factors there is one design point, the trial itself: the line names the key,
    not an empty point."""
    raw = {k: v for k, v in copy.deepcopy(FAST).items() if k != "factors"}
    raw["clusters"] = {**raw.get("clusters", {}), "count": 100}
    path = tmp_path / "test.toml"
    path.write_text(toml_text(raw))
    assert main(["trial", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "clusters.count" in err and "at most 6" in err, err
    assert "design point" not in err, err

def test_missing_file_and_unknown_name_exit_2(capsys):
    assert main(["trial", "no/such/trial.toml"]) == 2
    assert "no/such/trial.toml: file not found" in capsys.readouterr().err
    assert main(["trial", "heads_upp"]) == 2
    assert "did you mean 'heads_up'" in capsys.readouterr().err


def test_shipped_trials_load_by_name_and_every_design_point_checks():
    from sim.experiments.design import build_design, validate_points

    for name in ("heads_up", "power_alignment"):
        exp = to_experiment(load_trial(name))
        validate_points(exp, build_design(exp))
    assert load_trial("heads_up").settings.periods * load_trial("heads_up").settings.period_days == 568


def test_one_and_two_workers_give_the_same_trials_and_resume_completes_them(tmp_path):
    path = tmp_path / "fast.toml"
    path.write_text(toml_text(FAST))
    one, two = tmp_path / "one", tmp_path / "two"
    r1 = run_cli("trial", str(path), "--workers", "1", "--out", str(one), "--quiet")
    r2 = run_cli("trial", str(path), "--workers", "2", "--out", str(two), "--quiet")
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    for name in ("runs.parquet", "timeseries.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(one / name), pd.read_parquet(two / name))
    runs = pd.read_parquet(one / "runs.parquet")
    assert (
        len(runs) == 6
        and (runs.status == "ok").all()
        and runs.groupby("point").clusters.first().tolist() == [4, 6]
    )
    cp = pd.read_parquet(one / "timeseries.parquet")
    assert {"cluster", "period", "treated", "harms", "bed_days", "fidelity"} <= set(cp.columns)
    assert (one / "report" / "trials.csv").is_file() and (one / "report" / "power.png").is_file()
    # lose the second chunk, as a killed run would, then resume
    parts = sorted((two / "parts").glob("runs-*.parquet"))
    parts[-1].unlink()
    (two / "runs.parquet").unlink()
    again = run_cli("trial", str(path), "--workers", "1", "--out", str(two), "--quiet")
    assert again.returncode == 2 and "--resume" in again.stderr
    resumed = run_cli("trial", str(path), "--workers", "1", "--out", str(two), "--resume", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert "already stored" in resumed.stdout
    pd.testing.assert_frame_equal(
        pd.read_parquet(one / "runs.parquet"), pd.read_parquet(two / "runs.parquet")
    )
    # a trial's store is not a sweep to `qisim analyse`: it is pointed to the trial's report
    refused = run_cli("analyse", str(one), "--quiet")
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "holds simulated trials" in refused.stderr and str(one / "report") in refused.stderr
    assert not (one / "analysis").exists()
