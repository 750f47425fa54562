"""The validation suite's machinery: fact files, outcomes, pass rules, the command."""

from pathlib import Path

import numpy as np
import pytest

from sim import QIModel, ScenarioError, load_scenario
from sim import validation as v
from sim.cli import main


def test_every_shipped_fact_loads_with_valid_arms_and_mechanisms():
    facts = v.load_facts()
    assert [f.id for f in facts] == [f"SF{i}" for i in range(1, 11)]
    v.check_mechanisms(facts)
    for fact in facts:
        assert fact.hypotheses and fact.claim and fact.kind in ("check", "emergent")


@pytest.mark.parametrize(
    ("test", "mean", "low", "high", "expected"),
    [
        ("greater", 0.3, 0.1, 0.5, True),
        ("greater", 0.15, 0.05, 0.25, False),  # below the minimum effect
        ("greater", 0.3, -0.1, 0.7, False),  # CI includes 0
        ("less", -0.3, -0.5, -0.1, True),
        ("less", -0.3, -0.5, 0.1, False),
        ("equivalent", 0.01, -0.04, 0.04, True),
        ("equivalent", 0.01, -0.06, 0.04, False),
        ("noninferior", -0.02, -0.04, 0.0, True),
        ("noninferior", -0.02, -0.06, 0.0, False),
    ],
)
def test_pass_rules(test, mean, low, high, expected):
    h = v.Hypothesis("h", "", (), test, min_effect=0.2, margin=0.05)
    assert h.verdict(mean, low, high) is expected


def test_auc_matches_counting_pairs():
    rng = np.random.default_rng(3)
    score = np.round(rng.random(60), 1)  # with ties
    positive = rng.random(60) < 0.4
    pairs = [(a > b) + 0.5 * (a == b) for a in score[positive] for b in score[~positive]]
    assert v._auc(score, positive) == pytest.approx(np.mean(pairs))


def test_halfrise_finds_the_day_half_way_to_the_new_level():
    series = np.r_[np.zeros(100), np.linspace(0, 1, 50), np.ones(100)]
    assert v._halfrise(series, 100, 250) == pytest.approx(25, abs=1)


def test_wards_running_is_rebuilt_exactly_from_ward_detail():
    """The share of wards running the primary intervention, rebuilt from ward_detail, equals
    on every day the share the model itself remembers (w_use_ema above the threshold)."""
    m = QIModel(load_scenario("co_leadership", ["days=200"]), rng=2)
    threshold, live = m.params.spread.running_threshold, []
    for _ in range(200):
        m.step()
        live.append((m.state.w_use_ema[:, 0] >= threshold).mean())
    running = v._wards_running(m)
    assert len(running) == 200 and 0 < max(live) < 1
    np.testing.assert_array_equal(running, live)


def test_a_check_fact_passes_on_a_few_seeds():
    """SF3 follows from one mechanism (clinician_use): it must hold even on three seeds."""
    facts = v.load_facts(["SF3"])
    results = v.evaluate(facts, replicates=3)
    assert all(r.passed for r in results), v.table(facts, results)


def test_bad_fact_files_name_the_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        'id = "SF99"\ntitle = "t"\nkind = "check"\nclaim = "c"\nmechanisms = []\nreplicates = 3\n'
        'days = 30\n[arms.a]\nscenario = "aligned"\nset = ["managers.bais=1"]\n'
    )
    with pytest.raises(ScenarioError, match="managers.bias"):
        v.load_fact(path)
    path.write_text(
        path.read_text().replace("managers.bais=1", "managers.bias=1")
        + (
            '[[hypotheses]]\nname = "h"\nstatement = "s"\ntest = "bigger"\n'
            'terms = [{ arm = "a", outcome = "adoption", window = [0, 30], weight = 1.0 }]\n'
        )
    )
    with pytest.raises(ScenarioError, match="hypotheses.0.test"):
        v.load_fact(path)


def test_validate_command_rejects_an_unknown_fact(capsys, tmp_path):
    assert main(["validate", "--only", "SF42", "--report", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "SF42" in err[0]
    assert not (tmp_path / "r").exists()


def test_validate_command_writes_its_report(capsys, tmp_path):
    status = main(
        [
            "validate",
            "--only",
            "SF3",
            "--replicates",
            "3",
            "--workers",
            "1",
            "--facts-only",
            "--report",
            str(tmp_path / "r"),
            "--quiet",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0 and "SF3" in out and "1 of 1 facts pass" in out
    assert "greater > 0.1" in out and "less < -0.05" in out  # each rule as the report writes it
    text = (tmp_path / "r" / "VALIDATION.md").read_text()
    assert text.startswith("# Validation report")
    # the command that gives this report again, not the full suite's into docs/
    regenerate = f"qisim validate --report {tmp_path / 'r'} --replicates 3 --only SF3 --facts-only"
    assert f"Regenerate with `{regenerate}`." in text and "seeds 1..3" in text
    assert (tmp_path / "r" / "validation_forest.png").stat().st_size > 0


# -- the suite as one runner, its parts and its report ---------------------------------------

#: Facts that fail with today's mechanisms (docs/TRACE.md says why); the reduced suite
#: below must fail exactly these, so the set changes with the model, deliberately.
KNOWN_FAILING = {"SF2", "SF5"}
#: Each fact's own seeds (20): with fewer, a fact near its threshold can change verdict
#: (SF4's CI includes 0 with 12 seeds; docs/VALIDATION.md, "How many replicates"). The
#: suite here is reduced to the facts, without robustness, Table 1 or the analyses.
REDUCED_REPLICATES = None


def test_results_do_not_depend_on_the_number_of_workers():
    from sim.experiments.executors import open_executor

    facts = v.load_facts(["SF3", "SF9"])
    with open_executor(1) as one, open_executor(2) as two:
        a = v.evaluate(facts, 2, one)
        b = v.evaluate(facts, 2, two)
    assert [r.values.tobytes() for r in a] == [r.values.tobytes() for r in b]


def test_reduced_suite_passes_every_fact_but_the_known_failing(tmp_path):
    from sim.experiments.executors import open_executor

    facts = v.load_facts()
    assert {f.id for f in facts} >= KNOWN_FAILING
    with open_executor(2) as info:
        results = v.evaluate(facts, REDUCED_REPLICATES, info)
    failing = {f.id for f in facts if not v.fact_passed(results, f.id)}
    assert failing == KNOWN_FAILING, (
        f"now failing {sorted(failing - KNOWN_FAILING)}, now passing {sorted(KNOWN_FAILING - failing)}:\n"
        + v.table(facts, results)
    )


def test_a_fact_holds_at_a_point_by_its_mean_on_the_passing_side():
    from sim import validation_robust as rob

    h = v.Hypothesis("h", "", (), "greater", min_effect=0.1)
    wide = v.HypothesisResult("SFX", h, np.array([0.0, 0.3]))  # mean 0.15, CI includes 0
    assert not wide.passed and rob.holds([wide], "SFX")
    low = v.HypothesisResult("SFX", h, np.array([0.0, 0.1]))
    assert not rob.holds([low], "SFX")


def test_robustness_points_depend_on_the_chosen_set_not_its_order():
    import dataclasses

    from sim import validation_robust as rob

    settings = rob.load_settings()
    turned = dataclasses.replace(settings, parameters=settings.parameters[::-1])
    assert np.array_equal(rob.multipliers(turned), rob.multipliers(settings)[:, ::-1])
    other = dataclasses.replace(settings, parameters=("board.bias", "clinicians.bias"))
    m = rob.multipliers(other)
    assert not np.array_equal(m, rob.multipliers(settings)[:, :2])  # another set, another design


def test_robustness_multipliers_stay_within_the_spread_and_cover_it():
    from sim import validation_robust as rob

    settings = rob.load_settings()
    m = rob.multipliers(settings)
    assert m.shape == (settings.points, len(settings.parameters))
    assert (m >= 1 - settings.spread).all() and (m <= 1 + settings.spread).all()
    # a Latin hypercube: one point in each of the `points` strata of every parameter
    strata = np.floor((m - (1 - settings.spread)) / (2 * settings.spread) * settings.points)
    assert all(sorted(col) == list(range(settings.points)) for col in strata.T.astype(int))


def test_a_shift_multiplies_the_arm_s_own_value():
    from sim import validation_robust as rob

    fact = v.load_facts(["SF3"])[0]
    over = rob.shifted(fact, "mandate_low", ("managers.bias", "clinicians.w_peer"), np.array([1.2, 0.8]))
    assert over == ("managers.bias=-2.64", "clinicians.w_peer=1.2")


def test_table1_programmes_load_with_published_values_and_justified_arms():
    from sim import validation_table1 as t1

    progs = t1.load_programmes()
    assert len(progs) == 4
    published = {p.source.split(",")[0] for prog in progs for p in prog.published}
    assert {"Haynes et al.", "Urbach et al.", "Pronovost et al.", "Bion et al."} <= published
    for prog in progs:
        assert prog.fact.hypotheses
        text = (t1.table1_dir() / Path(prog.fact.source).name).read_text()
        for _scenario, overrides in prog.fact.arms.values():
            for o in overrides:
                if not o.startswith("days="):
                    line = next(line for line in text.splitlines() if f'"{o}"' in line)
                    assert "#" in line or o.startswith("interventions.0.name"), f"{o} has no justification"


def test_table1_rejects_an_unknown_key_naming_the_file(tmp_path):
    from sim import validation_table1 as t1

    src = (t1.table1_dir() / "t4_coordination.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(src + '\n[[published]]\narm = "co_leadership"\nmesure = "x"\n')
    with pytest.raises(ScenarioError, match=r"bad.toml: key 'published.0.mesure'"):
        t1.load_programme(bad)


def test_table1_relative_change_compares_against_the_baseline_counterfactual(monkeypatch):
    """Fed known rates per arm and seed, each comparison's change is the arm's window rate
    against the counterfactual's first 90 days (not the window's counterfactual), and its
    trend the window's counterfactual against the same baseline, each with its 95% t CI."""
    from sim import validation_table1 as t1

    prog = t1.load_programmes()[0]
    # per arm: (baseline counterfactual over days 0-90, arm over the window, counterfactual over it)
    rates = {
        "trial": ([10.0, 20.0, 25.0], [8.0, 15.0, 22.5], [9.0, 19.0, 20.0]),
        "ontario": ([8.0, 16.0, 20.0], [7.6, 16.8, 20.0], [8.0, 14.4, 22.0]),
    }
    arm_of = {tuple(o): arm for arm, (_, o) in prog.fact.arms.items()}

    def fake_run_jobs(jobs, executor=None, progress=None):
        out = []
        for _scenario, overrides, seed, needs in jobs:
            base, after, cf = (r[seed - 1] for r in rates[arm_of[tuple(overrides)]])
            known = {t1.BASELINE: base}
            for p in prog.published:
                known |= {("harm_rate_expected", p.window): after}
                known |= {("harm_rate_expected_counterfactual", p.window): cf}
            out.append([known.get(need, 0.0) for need in needs])
        return out

    monkeypatch.setattr(t1, "run_jobs", fake_run_jobs)
    res = t1.evaluate([prog], 3)

    def ci(x):  # mean, low, high with t(0.975, 2 df) = 4.3027
        half = 4.3027 * np.std(x, ddof=1) / np.sqrt(3)
        return np.mean(x), np.mean(x) - half, np.mean(x) + half

    expected = {  # after / base - 1 and cf / base - 1, per seed
        "trial": (ci([-0.2, -0.25, -0.1]), ci([-0.1, -0.05, -0.2])),
        "ontario": (ci([-0.05, 0.05, 0.0]), ci([0.0, -0.1, 0.1])),
    }
    assert [c.published for _, c in res.comparisons] == list(prog.published)
    assert {c.published.arm for _, c in res.comparisons} == set(rates)
    for fid, c in res.comparisons:
        change, trend = expected[c.published.arm]
        assert fid == prog.fact.id
        assert c.change == pytest.approx(change, abs=1e-9)
        assert c.trend == pytest.approx(trend, abs=1e-9)
    trial = next(c for _, c in res.comparisons if c.published.arm == "trial")
    assert trial.change[0] == pytest.approx(-0.55 / 3) and trial.trend[0] == pytest.approx(-0.35 / 3)


def test_calibration_loss_is_zero_at_the_published_quartiles():
    from sim import validation_calibration as cal

    c = cal.load()
    t = c.targets
    m = {
        "briefing": np.array([t["briefing_q25"]] * 2 + [t["briefing_median"]] + [t["briefing_q75"]] * 2),
        "issues": np.array([t["issues_median"]] * 5),
    }
    assert cal.loss(c, m) == pytest.approx(0.0, abs=1e-9)
    m["issues"] = m["issues"] * 2
    assert cal.loss(c, m) == pytest.approx(1.0)


def test_spearman_and_out_of_sample_r2():
    from sim import validation_analyses as an

    x = np.arange(20.0)
    assert an.spearman(x, x**3) == pytest.approx(1.0)
    assert an.spearman(x, -x) == pytest.approx(-1.0)
    assert an.r2_out_of_sample(x, 2 * x + 1, x, 2 * x + 1) == pytest.approx(1.0)
    assert an.r2_out_of_sample(x, 2 * x, x, -2 * x) < 0


def test_the_central_claims_hypercubes_are_one_design_scaled_on_the_same_seeds():
    from sim import validation_analyses as an

    full, scarce = (an.lhs_jobs(12, top=top) for top in (1.0, 0.5))
    for (_, a, seed_a, _), (_, b, seed_b, _) in zip(full, scarce, strict=True):
        assert seed_a == seed_b
        va = {k: float(v) for k, v in (s.split("=") for s in a if s.startswith("incentives."))}
        vb = {k: float(v) for k, v in (s.split("=") for s in b if s.startswith("incentives."))}
        assert va.keys() == vb.keys() == set(an.INCENTIVES)
        assert all(vb[k] == pytest.approx(va[k] / 2) for k in va)
    values = [float(s.split("=")[1]) for _, over, _, _ in scarce for s in over if s.startswith("incentives.")]
    assert max(values) <= 0.5 and min(values) >= 0.0


def test_sf2s_budget_is_divided_between_the_levels_in_every_way_on_the_grid():
    from sim import validation_readings as va

    levels, levers, shares, budget = va.allocation_grid()
    assert levels == ("clinician", "manager", "board") and budget == pytest.approx(2.0)
    assert all(len(keys) == 2 for keys in levers.values())
    n = va.ALLOCATION_STEPS
    assert len(shares) == (n + 1) * (n + 2) // 2
    assert np.allclose(shares.sum(axis=1), budget) and shares.min() >= 0
    assert len({tuple(np.round(r, 6)) for r in shares}) == len(shares)
    assert (shares / 2).max() <= 1.0  # no lever above its range
    assert va.allocation_weights() == (0.5, 2.0)  # clinicians.w_incentive, then managers.w_review


def test_sf2s_map_reports_the_equal_split_the_corners_and_the_best_paired_by_seed(tmp_path):
    from sim import validation_readings as va

    levels, _, shares, budget = va.allocation_grid()
    seeds = np.array([0.0, 0.02, -0.02])
    board = shares[:, 2] / budget
    # fidelity rises with the board's share under the first weight; flat but for the
    # clinicians-and-board mix under the second
    first = 0.3 + 0.5 * board[:, None] + seeds
    second = np.full((len(shares), 3), 0.8) + seeds
    mix = int(np.flatnonzero(np.isclose(shares, [2 / 3, 0, 4 / 3]).all(axis=1))[0])
    second[mix] += 0.1
    a = va.Allocation(levels, shares, (0.5, 2.0), np.stack([first, second]), budget, (330, 360))
    eq = a.equal()
    assert np.allclose(shares[eq], budget / 3)
    assert a.corner("board") == a.best(0) and a.best(1) == mix
    diff = a.against(0, eq, a.best(0))
    assert diff == pytest.approx((-0.5 * 2 / 3,) * 3)  # paired by seed: no spread, so no interval
    text = "\n".join(va.allocation_markdown(a))
    assert "| 0.5 | 0.47 | 0.30 | 0.30 | 0.80 | 0/0/2: 0.80 (a single level) |" in text
    assert "0.67/0/1.33: 0.90 (two levels)" in text and "1 of 28" in text
    assert "all to clinicians" in text and "Not preregistered" in text
    va.allocation_figure(a, tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 0


def test_the_whole_suite_reduced_writes_every_section(capsys, tmp_path):
    status = main(
        [
            "validate",
            "--only",
            "SF3",
            "--quick",
            "--replicates",
            "3",
            "--workers",
            "2",
            "--report",
            str(tmp_path / "r"),
            "--quiet",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    assert "Robustness" in out and "Table 1" in out and "Central claim" in out and "Calibration" in out
    text = (tmp_path / "r" / "VALIDATION.md").read_text()
    for heading in (
        "## Robustness",
        "## Table 1",
        "## The central claim",
        "## Open questions",
        "## SF10 against managers' participation (exploratory)",
        "## SF4 followed past 24 months (exploratory)",
        "## SF7 as a curve of the shock's timing (exploratory)",
        "## SF2 as a map of one budget's allocation (exploratory)",
        "## Calibration to HEADS-UP",
        "## How many replicates",
        "## SF3",
    ):
        assert heading in text
    for name in ("forest", "robustness", "robustness_params", "table1",
                 "central_claim", "questions", "participation", "spread", "shock_timing", "allocation",
                 "calibration"):
        assert (tmp_path / "r" / f"validation_{name}.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--skip", "tables"], "tables"),
        (["--only", "SF3,SF77"], "SF77"),
        (["--workers", "0"], "--workers"),
        (["--workers", "3000000000"], "from 1 to 1024"),
        (["--only", ","], "names no fact"),
        (["--only", ""], "names no fact"),
        (["--map", "clinicians.bias,managers.bias", "--map-steps", "99999"], "from 3 to 21"),
        (["--rescore", "--screen"], "--rescore"),
    ],
)
def test_validate_bad_input_is_one_line_and_writes_nothing(capsys, tmp_path, argv, needle):
    assert main(["validate", *argv, "--report", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
    assert not (tmp_path / "r").exists()


def test_validate_runs_on_a_dask_cluster_with_the_same_results(capsys, tmp_path, dask_scheduler):
    argv = ["validate", "--only", "SF3", "--replicates", "2", "--facts-only", "--quiet"]
    assert main([*argv, "--workers", "1", "--report", str(tmp_path / "local")]) == 0
    local = capsys.readouterr().out
    assert main([*argv, "--scheduler", dask_scheduler, "--report", str(tmp_path / "dask")]) == 0
    dask = capsys.readouterr().out
    assert "Dask cluster" in dask

    def rows(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.startswith("SF3")]

    assert rows(local) == rows(dask) and rows(local)


ROBUST_PARAMS = ("clinicians.bias", "managers.operational_demand", "managers.bias",
                 "managers.w_usefulness", "managers.w_review")


def _robustness_by_hand(stats: dict[tuple[str, str], tuple[np.ndarray, "v.Hypothesis"]]):
    """A Robustness over 8 hand-made Latin-hypercube points, from given statistics per point."""
    from sim import validation_robust as rob

    rng = np.random.default_rng(0)
    mult = np.column_stack([0.8 + 0.4 * (rng.permutation(8) + 0.5) / 8 for _ in ROBUST_PARAMS])
    stats = {key: (f(mult), h) for key, (f, h) in stats.items()}
    means = {key: m for key, (m, _) in stats.items()}
    hyps = {key: h for key, (_, h) in stats.items()}
    held = {}
    for (fact, _), (m, h) in stats.items():
        ok = np.array([rob.on_passing_side(h, x) for x in m])
        held[fact] = held.get(fact, np.ones(8, dtype=bool)) & ok
    settings = rob.Settings(ROBUST_PARAMS, dict.fromkeys(ROBUST_PARAMS, 0.5), 8, 8, 0.2, 1, 0.8, "")
    return rob.Robustness(settings, mult, held, 8, 8, means, hyps), mult


def _fact(fact_id: str) -> "v.Fact":
    return v.Fact(fact_id, "", "emergent", "", (), 8, 10, {}, ())


def test_robustness_diagnosis_names_the_parameter_that_drives_failure(tmp_path):
    from sim import validation_robust as rob

    greater = v.Hypothesis("lasting", "", (), "greater", min_effect=0.1)
    equivalent = v.Hypothesis("no_effect", "", (), "equivalent", margin=0.05)
    r, mult = _robustness_by_hand(
        {
            # fails where managers.operational_demand's multiplier is above 1.0
            ("SFX", "lasting"): (lambda m: 1.1 - m[:, 1], greater),
            ("SFX", "no_effect"): (lambda m: np.zeros(8), equivalent),  # always passes
            ("SFY", "lasting"): (lambda m: 0.5 + 0.1 * m[:, 0], greater),  # always passes
        }
    )
    assert 0 < r.share("SFX") < 1 and r.share("SFY") == 1
    d = rob.diagnose(r, "SFX")
    assert d.hypothesis == "lasting" and d.fails == 4
    assert d.culprit == "managers.operational_demand" and d.direction == "high"
    assert d.rho["managers.operational_demand"] == pytest.approx(-1.0)
    assert d.mean_failed["managers.operational_demand"] > 1.0 > d.mean_held["managers.operational_demand"]
    assert rob.diagnose(r, "SFY") is None

    passed = {"SFX": True, "SFY": True}
    text = "\n".join(rob.markdown(r, [_fact("SFX"), _fact("SFY")], passed))
    assert "### Which parameter goes with a failure" in text
    assert "over the facts' own hypothesis statistics" in text and "0.5 to 2 on a log scale" in text
    assert "SFX fails mostly where `managers.operational_demand` is high" in text
    assert "n = 8" in text and "indicative" in text
    assert "| **`managers.operational_demand`** | -1.00 |" in text
    table = text.split("**SFX**")[1].split("\n\n")[1].splitlines()
    assert len(table) == 2 + len(ROBUST_PARAMS) and all(f"`{p}`" in "".join(table) for p in ROBUST_PARAMS)
    assert "**SFY**" not in text

    out = tmp_path / "params.png"
    rob.params_figure(r, [_fact("SFX"), _fact("SFY")], out)
    assert out.stat().st_size > 0


def test_robustness_counts_the_points_where_the_facts_passing_at_the_defaults_hold_together():
    from sim import validation_robust as rob

    greater = v.Hypothesis("lasting", "", (), "greater", min_effect=0.1)
    # SFA holds where clinicians.bias's multiplier is below 1, SFB where it is above: never together
    r, mult = _robustness_by_hand(
        {
            ("SFA", "lasting"): (lambda m: 1.1 - m[:, 0], greater),
            ("SFB", "lasting"): (lambda m: m[:, 0] - 0.9, greater),
            ("SFC", "lasting"): (lambda m: np.ones(8), greater),
            ("SFD", "lasting"): (lambda m: -np.ones(8), greater),  # fails everywhere
        }
    )
    assert r.share("SFA") == r.share("SFB") == 0.5
    assert r.together(["SFA", "SFB"]) == 0 and r.together(["SFA", "SFC"]) == 4 and r.together([]) == 8
    facts = [_fact(f) for f in ("SFA", "SFB", "SFC", "SFD")]
    passed = {"SFA": True, "SFB": True, "SFC": True, "SFD": False}
    text = "\n".join(rob.markdown(r, facts, passed))
    assert "the 3 facts that pass at the defaults (SFA, SFB, SFC) hold at the same point at 0 of the" in text
    passed["SFB"] = False
    text = "\n".join(rob.markdown(r, facts, passed))
    assert "the 2 facts that pass at the defaults (SFA, SFC) hold at the same point at 4 of the 8" in text


def test_robustness_diagnosis_of_a_fact_failing_everywhere_says_where_it_comes_nearest():
    from sim import validation_robust as rob

    h = v.Hypothesis("lasting", "", (), "greater", min_effect=0.1)
    r, _ = _robustness_by_hand({("SFZ", "lasting"): (lambda m: -1.0 + 0.5 * m[:, 4], h)})
    assert r.share("SFZ") == 0
    d = rob.diagnose(r, "SFZ")
    assert d.culprit == "managers.w_review" and d.direction == "low" and d.fails == 8
    text = "\n".join(rob.diagnosis_markdown(r, [_fact("SFZ")]))
    assert "SFZ fails at every point" in text
    assert "comes nearest its threshold where `managers.w_review` is high" in text
    assert "| `managers.w_review` |" not in text and "| **`managers.w_review`** | +1.00 | – |" in text


def test_robustness_without_failures_has_no_diagnosis(tmp_path):
    from sim import validation_robust as rob

    h = v.Hypothesis("lasting", "", (), "less", min_effect=0.1)
    r, _ = _robustness_by_hand({("SFY", "lasting"): (lambda m: -0.5 * m[:, 2], h)})
    assert r.share("SFY") == 1
    assert rob.diagnose(r, "SFY") is None and rob.diagnosis_markdown(r, [_fact("SFY")]) == []
    text = "\n".join(rob.markdown(r, [_fact("SFY")], {"SFY": True}))
    assert "| SFY | yes | 100% | robust |" in text
    assert "Which parameter" not in text and "validation_robustness_params.png" not in text
    out = tmp_path / "params.png"
    rob.params_figure(r, [_fact("SFY")], out)  # still written, so a stale figure never remains
    assert out.stat().st_size > 0


def test_robustness_diagnosis_says_when_two_parameters_are_tied():
    from sim import validation_robust as rob

    h = v.Hypothesis("lasting", "", (), "greater", min_effect=0.1)
    r, mult = _robustness_by_hand({("SFX", "lasting"): (lambda m: 1.1 - m[:, 1], h)})
    text = "\n".join(rob.diagnosis_markdown(r, [_fact("SFX")]))
    assert "cannot tell them apart" not in text
    mult[:, 3] = mult[:, 1]  # managers.w_usefulness moved exactly as managers.operational_demand
    text = "\n".join(rob.diagnosis_markdown(r, [_fact("SFX")]))
    assert "where `managers.operational_demand` is high" in text
    assert "As strongly (the points cannot tell them apart): `managers.w_usefulness`." in text


def test_participation_bins_and_rank_correlations():
    from sim import validation_readings as va

    part = np.array([0.1, 0.15, 0.3, 0.35, 0.9, 1.0])
    effect = np.array([0.0, 0.01, 0.04, 0.05, 0.25, 0.26])
    p = va.Participation(np.array([0.0, 0.0, 1.0, 1.0, 0.0, 1.0]), np.ones(6), part, effect, (180, 1095), 2)
    bins = p.bins()
    assert [(lo, hi, n) for lo, hi, n, _ in bins] == [
        (0.0, 0.2, 2), (0.2, 0.4, 2), (0.4, 0.6, 0), (0.6, 0.8, 0), (0.8, 1.0, 2)
    ]  # the last bin keeps participation 1.0
    assert bins[0][3][0] == pytest.approx(0.005) and bins[2][3] is None
    rho = p.rho()
    assert rho["participation"] == pytest.approx(1.0)
    assert abs(rho["incentive"]) < 0.5  # the effect follows participation, not the incentive here
    text = "\n".join(va.participation_markdown(p))
    assert "| 0.0-0.2 | 2 | 0.01 [" in text and "| 0.4-0.6 | 0 | – |" in text


def test_participation_runs_cover_every_cell_on_the_same_seeds():
    from sim import validation_readings as va

    jobs = va.participation_jobs(3)
    cells = len(va.PARTICIPATION_BIAS) * len(va.PARTICIPATION_INCENTIVES)
    assert len(jobs) == va.n_participation_runs(3) == 3 * cells
    assert [j[2] for j in jobs[:3]] == [1, 2, 3]
    assert all("actions.board.review_incentives=false" in j[1] for j in jobs)
    biases = sorted({o for j in jobs for o in j[1] if o.startswith("managers.bias=")})
    assert biases == ["managers.bias=-1.76", "managers.bias=-2.2", "managers.bias=-2.64"]


def test_spread_over_time_pairs_arms_by_seed_and_tabulates_every_day():
    from sim import validation_readings as va

    ends = (365, 730)
    running = {
        "co_leadership": np.array([[1.0, 1.0], [1.0, 0.9]]),
        "top_down": np.array([[0.6, 0.2], [0.5, 0.1]]),
        "bottom_up": np.array([[0.7, 0.0], [0.6, 0.0]]),
    }
    s = va.SpreadOverTime(tuple(running), ends, running, 365, (700, 730))
    d = s.difference("top_down", "bottom_up")
    assert d[:, 0] == pytest.approx([-0.1, 0.15])
    assert d[0, 1] == pytest.approx(-0.1) and d[0, 2] == pytest.approx(-0.1)  # the same on both seeds
    text = "\n".join(va.spread_markdown(s))
    assert "| day | co_leadership | top_down | bottom_up | top-down − bottom-up [95% CI] |" in text
    assert "| 730 | 0.95 | 0.15 | 0.00 | +0.15 [" in text
    jobs, arms = va.spread_jobs(2)
    assert arms == ("co_leadership", "top_down", "bottom_up") and len(jobs) == va.n_spread_runs(2) == 6
    assert all(f"days={va.SPREAD_DAYS}" in j[1] for j in jobs)


def test_shock_timing_reads_each_start_day_over_its_own_window_paired_by_seed(monkeypatch):
    from sim import validation_readings as va

    jobs, duration = va.shock_jobs(2)
    assert duration == 240 and len(jobs) == va.n_shock_runs(2)
    # SF7's own windows: a merger from day 90 is read over days 510-540, from day 450 over 870-900
    assert jobs[0][3][va.SHOCK_DAYS.index(90)] == ("adoption", (510, 540))
    assert jobs[0][3][va.SHOCK_DAYS.index(450)] == ("adoption", (870, 900))
    assert all("days=900" in j[1] for j in jobs)
    assert "events.0.strength=0.0" in jobs[0][1] and "events.0.day=30" in jobs[2][1]

    def fake(jobs, executor=None, progress=None):
        # adoption = 1 without the merger; with it, 1 - (start day's index + 1) / 10 in its own
        # window on seed 1 and 1 - 2 x that on seed 2, and 0 in every other window
        out = []
        for _scenario, over, seed, needs in jobs:
            start = next((int(o.split("=")[1]) for o in over if o.startswith("events.0.day=")), None)
            row = []
            for k in range(len(needs)):
                if start is None:
                    row.append(1.0)
                else:
                    drop = (va.SHOCK_DAYS.index(start) + 1) / 10 * seed
                    row.append(1.0 - drop if va.SHOCK_DAYS[k] == start else 0.0)
            out.append(row)
        return out

    monkeypatch.setattr(va, "run_jobs", fake)
    s = va.shock_timing(2)
    assert s.loss.shape == (len(va.SHOCK_BIAS), len(va.SHOCK_DAYS), 2)
    assert s.loss[1, 0].tolist() == pytest.approx([0.1, 0.2])  # day 30, seeds 1 and 2
    assert s.loss[2, 7].tolist() == pytest.approx([0.8, 1.6])  # day 450
    text = "\n".join(va.shock_markdown(s))
    assert "| 30 | 0.15 [" in text and "`clinicians.bias` ×1.2 |" in text


def test_replicate_text_says_when_verdicts_settle_only_with_the_last_seeds():
    from sim.validation_analyses import replicates_markdown

    ns = np.array([3, 5, 10, 15, 20])
    curves = {"SF1/a": np.array([0.6, 0.5, 0.3, 0.25, 0.2])}
    settled = "\n".join(replicates_markdown(ns, curves, {3: 0.75, 5: 1.0, 10: 1.0, 15: 1.0, 20: 1.0}, 20))
    assert "From 5 seeds on, every verdict is the one reached with all 20" in settled
    assert "leaves a margin above 5" in settled
    late = "\n".join(replicates_markdown(ns, curves, {3: 0.75, 5: 0.85, 10: 0.95, 15: 0.9, 20: 1.0}, 20))
    assert "Some verdicts change until the last seeds (with 15, 90% are as with all 20)" in late
    assert "leaves a margin" not in late


def test_a_parameter_is_named_by_where_its_value_goes_not_its_multiplier():
    from sim.validation_robust import _arm_values, _value_side

    assert _value_side("high", [2.0, 3.0]) == "high"
    assert _value_side("high", [-2.7, -2.7]) == "low (more negative)"
    assert _value_side("low", [-2.7]) == "high (less negative)"
    assert "magnitude" in _value_side("high", [-1.0, 1.0])  # the arms disagree on its sign
    sf7 = v.load_facts(["SF7"])[0]
    assert _arm_values(sf7, "clinicians.bias") == [-2.7] * len(sf7.arms)


# -- the screening that chooses the robustness parameters ------------------------------------


def _screening_file(tmp_path, candidates, box="[0.5, 2.0]", trajectories=2, top=1, levels=4) -> Path:
    path = tmp_path / "screening.toml"
    path.write_text(
        f"candidates = {candidates!r}\nbox = {box}\ntrajectories = {trajectories}\nlevels = {levels}\n"
        f"replicates = 2\nseed = 3\ntop = {top}\n".replace("'", '"')
    )
    return path


def test_screening_multipliers_are_powers_of_two_on_a_grid_centred_on_one():
    from sim import validation_robust as rob

    s = rob.load_screening(facts=v.load_facts())
    unit, mult = rob.morris_design(s)
    assert mult.shape == (s.trajectories * (len(s.candidates) + 1), len(s.candidates))
    grid = np.linspace(-1.0, 1.0, s.levels)  # log2 of the multiplier, levels equally spaced
    level = np.rint((np.log2(mult) + 1.0) / 2.0 * (s.levels - 1)).astype(int)
    np.testing.assert_allclose(mult, 2.0 ** grid[level], rtol=1e-12)
    assert mult.min() == pytest.approx(0.5) and mult.max() == pytest.approx(2.0)
    # a Morris trajectory: each step moves exactly one parameter
    steps = np.diff(level.reshape(s.trajectories, len(s.candidates) + 1, -1), axis=1)
    assert ((steps != 0).sum(axis=2) == 1).all()


def test_screening_refuses_a_candidate_that_a_fact_s_arm_sets(tmp_path):
    from sim import validation_robust as rob

    sf3, sf4 = v.load_facts(["SF3", "SF4"])
    path = _screening_file(tmp_path, ["clinicians.bias", "organisation.champion_share"])
    rob.load_screening(path)  # without the facts, only the file is checked
    with pytest.raises(ScenarioError, match="'organisation.champion_share' is set by SF4's arm 'top_down'"):
        rob.load_screening(path, [sf3, sf4])
    wide = _screening_file(tmp_path, ["clinicians.use_threshold"], box="[0.25, 4.0]")
    with pytest.raises(ScenarioError, match=r"multiplied by 0.25-4 it leaves its range \[0, 1\]"):
        rob.load_screening(wide, [sf3])
    lopsided = _screening_file(tmp_path, ["clinicians.bias"], box="[0.5, 3.0]")
    with pytest.raises(ScenarioError, match="box"):
        rob.load_screening(lopsided)
    whole = _screening_file(tmp_path, ["clinicians.bias"], box="[0.5, 2]")  # TOML's 2 is an integer
    assert rob.load_screening(whole).box == (0.5, 2.0)
    with pytest.raises(ScenarioError, match=r"levels.*from 2 to 100 \(got 102\)"):
        rob.load_screening(_screening_file(tmp_path, ["clinicians.bias"], levels=102))
    with pytest.raises(ScenarioError, match="lists 'clinicians.bias' twice"):
        twice = ["clinicians.bias", "clinicians.w_fad", "clinicians.bias"]
        rob.load_screening(_screening_file(tmp_path, twice))


def test_screening_scores_weigh_each_fact_once_and_skip_flat_hypotheses():
    from sim.validation_robust import screening_scores

    params = ("a", "b", "c")
    mu = {
        ("SF1", "h1"): np.array([2.0, 0.0, 1.0]),
        ("SF1", "h2"): np.array([4.0, 0.0, 2.0]),
        ("SF1", "h3"): np.array([1.0, 0.0, 0.5]),
        ("SF2", "h1"): np.array([0.0, 3.0, 0.0]),
        ("SF2", "flat"): np.zeros(3),  # moved by nothing: left out, not counted as zeros
    }
    scores = screening_scores(mu, params)
    assert scores == pytest.approx({"a": 0.5, "b": 0.5, "c": 0.25})
    assert list(scores)[-1] == "c"


def test_screening_on_one_fact_finds_the_parameter_that_matters_and_rewrites_chosen(tmp_path, monkeypatch):
    from sim import validation_robust as rob

    fact_path = tmp_path / "sf_tiny.toml"
    fact_path.write_text(
        'id = "SFT"\ntitle = "t"\nkind = "check"\nclaim = "c"\nmechanisms = []\nreplicates = 2\n'
        'days = 90\n[arms.a]\nscenario = "aligned"\n[[hypotheses]]\nname = "engaged"\n'
        'statement = "s"\ntest = "greater"\n'
        'terms = [{ arm = "a", outcome = "engagement_clinician", window = [0, 90], weight = 1.0 }]\n'
    )
    facts = [v.load_fact(fact_path)]
    params = ["clinicians.bias", "clinicians.fad_per_abandonment"]
    s = rob.load_screening(_screening_file(tmp_path, params), facts)
    ticks = []
    points = rob.screen(facts, s, progress=ticks.append)
    assert sum(ticks) == rob.n_screen_runs(facts, s) == 2 * 3 * 2
    assert set(points.means) == {("SFT", "engaged")} and points.mult.shape == (6, 2)
    scores, stability = rob.rescore(points, s)
    assert scores["clinicians.bias"] == 1.0 > scores["clinicians.fad_per_abandonment"]

    old = rob.load_settings()
    chosen = tmp_path / "chosen.toml"
    rob.write_chosen(scores, s.top, old, chosen, stability)
    new = rob.load_settings(chosen)
    assert new.parameters == ("clinicians.bias",) and set(new.score) == set(params)
    assert new.stability is not None and new.stability.selected["clinicians.bias"] == 1.0
    assert (new.points, new.spread, new.threshold) == (old.points, old.spread, old.threshold)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("chosen")] == ["chosen.toml"]
    before = chosen.read_text()

    def fail(self, target):
        raise OSError("disk full")

    monkeypatch.setattr(Path, "replace", fail)
    with pytest.raises(OSError):
        rob.write_chosen(dict(reversed(scores.items())), s.top, old, chosen)
    assert chosen.read_text() == before  # the old choice stays whole


def _morris(names, trajectories, seed=1, levels=4) -> np.ndarray:
    from sim.experiments.design import sample_unit

    return sample_unit("morris", names, trajectories, levels=levels, seed=seed)


def test_elementary_effects_give_salib_s_mu_and_mu_star():
    from sim.experiments.analyse import morris_analyze
    from sim.validation_robust import elementary_effects

    names = ("a", "b", "c", "d", "e")
    unit = _morris(names, 8)
    x = unit
    for y in (3 * x[:, 0] - x[:, 1] ** 2 + x[:, 2] * x[:, 3], np.sin(4 * x @ np.arange(5.0))):
        ee = elementary_effects(unit, y)
        assert ee.shape == (8, 5)
        si = morris_analyze(names, unit, y, 4, 1)
        np.testing.assert_allclose(np.abs(ee).mean(axis=0), si["mu_star"], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ee.mean(axis=0), si["mu"], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="Morris design"):
        elementary_effects(unit[::-1][np.r_[1:len(unit), 0]], y)  # steps out of place


def test_bootstrap_picks_a_dominant_parameter_always_and_each_of_a_tie_about_half_the_time():
    from sim.validation_robust import bootstrap, elementary_effects

    names = ("a", "b", "c")
    unit = _morris(names, 20)
    rng = np.random.default_rng(5)
    y = 5 * unit[:, 0] + unit[:, 1] * unit[:, 2] + 0.3 * rng.normal(size=len(unit))
    effects = {("SF1", "h"): np.abs(elementary_effects(unit, y))}
    st = bootstrap(effects, names, ["a"], 1, 1000, seed=7)
    assert st.selected == {"a": 1.0, "b": 0.0, "c": 0.0} and st.same_set == 1.0
    assert st.low["a"] == st.high["a"] == 1.0 and st.high["b"] < 1.0

    u, w = rng.uniform(size=(2, 20))
    tie = np.zeros((40, 3))
    tie[:20, 0], tie[:20, 1], tie[20:, 0], tie[20:, 1] = u, w, w, u  # a and b exchangeable
    tie[:, 2] = 0.01
    st = bootstrap({("SF1", "h"): tie}, names, ["a"], 1, 1000, seed=7)
    assert abs(st.selected["a"] - 0.5) < 0.08 and st.selected["a"] + st.selected["b"] == 1.0
    assert st.same_set == st.selected["a"] and st.selected["c"] == 0.0
    assert st.low["a"] < 1.0 and st.low["a"] == pytest.approx(st.low["b"], abs=0.05)
    st2 = bootstrap({("SF1", "h"): tie}, names, ["a", "b"], 2, 1000, seed=7)
    assert st2.selected == {"a": 1.0, "b": 1.0, "c": 0.0} and st2.same_set == 1.0


def _screened(tmp_path, monkeypatch):
    """A small screening (4 trajectories over 3 candidates, two facts' synthetic statistics)
    written as screening_points.csv, with chosen.toml, in a stand-in robustness folder."""
    from sim import validation_robust as rob

    params = ["clinicians.bias", "managers.bias", "board.bias"]
    s = rob.load_screening(_screening_file(tmp_path, params, trajectories=4, top=2))
    unit, mult = rob.morris_design(s)
    x = unit
    means = {
        ("SF1", "h1"): 2 * x[:, 0] + x[:, 1],
        ("SF1", "h2"): np.exp(x[:, 2]) - x[:, 0] * x[:, 1],
        ("SF2", "h1"): -x[:, 1] + 0.1 * x[:, 2],
    }
    means[("SF2", "h1")][3] = np.nan  # a point where a statistic is undefined: SF2 is left out
    (tmp_path / "chosen.toml").write_text((rob.robustness_dir() / "chosen.toml").read_text())
    path = rob.write_points(rob.ScreenedPoints(mult, means), s, tmp_path / "screening_points.csv")
    monkeypatch.setattr(rob, "robustness_dir", lambda: tmp_path)
    return s, unit, means, path


def test_rescore_from_the_csv_gives_the_scores_of_salib_s_mu_star(capsys, tmp_path, monkeypatch):
    from sim import validation_robust as rob
    from sim.experiments.analyse import morris_analyze

    s, unit, means, path = _screened(tmp_path, monkeypatch)
    lines = path.read_text().splitlines()
    assert lines[0] == "point,trajectory," + ",".join(s.candidates) + ",fact,hypothesis,mean"
    assert len(lines) == 1 + s.points * len(means)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["chosen.toml", "screening.toml", "screening_points.csv"]  # no temporary file left
    mu_star = {
        key: np.asarray(morris_analyze(s.candidates, unit, y, s.levels, s.seed)["mu_star"])
        for key, y in means.items()
    }
    expected = rob.screening_scores(mu_star, s.candidates)
    before = rob.load_settings(tmp_path / "chosen.toml")

    assert main(["validate", "--rescore"]) == 0
    assert "exactly the top 2 in" in capsys.readouterr().out
    new = rob.load_settings(tmp_path / "chosen.toml")
    assert list(new.score) == list(expected) and new.parameters == tuple(expected)[:2]
    assert new.score == pytest.approx(expected, abs=5e-5)
    assert new.screened == before.screened  # rescoring is not a new screening
    assert (new.points, new.seed, new.threshold) == (before.points, before.seed, before.threshold)
    st = new.stability
    assert st is not None and st.resamples == rob.RESAMPLES and set(st.selected) == set(s.candidates)
    assert sum(st.selected.values()) == pytest.approx(s.top, abs=2e-3)
    assert all(st.low[p] <= st.high[p] for p in s.candidates)


@pytest.mark.parametrize(
    ("garble", "key"),
    [
        (lambda text: None, "file not found"),
        (lambda text: "\x00\xff garbage \"unclosed\n1,2\n", "unknown column"),
        (lambda text: text.replace("board.bias", "board.w_alignment", 1), "board.w_alignment"),
        (lambda text: text.replace(",board.bias", "", 1), "board.bias"),
        (lambda text: text.replace(",SF1,h1,", ",SF1,h1,x", 1), "mean"),
        (lambda text: "\n".join(text.splitlines()[:-1]), "one row per point"),
    ],
)
def test_rescore_of_a_bad_csv_exits_2_in_one_line(capsys, tmp_path, monkeypatch, garble, key):
    s, _, _, path = _screened(tmp_path, monkeypatch)
    text = garble(path.read_text())
    if text is None:
        path.unlink()
    else:
        path.write_text(text)
    chosen = (tmp_path / "chosen.toml").read_text()
    assert main(["validate", "--rescore"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "screening_points.csv" in err[0] and key in err[0], err
    assert (tmp_path / "chosen.toml").read_text() == chosen


def test_chosen_stability_is_checked_and_shown_in_the_robustness_section(tmp_path):
    from sim import validation_robust as rob

    h = v.Hypothesis("lasting", "", (), "less", min_effect=0.1)
    r, _ = _robustness_by_hand({("SFY", "lasting"): (lambda m: -0.5 * m[:, 2], h)})
    scores = dict(zip(ROBUST_PARAMS + ("board.bias",), (0.9, 0.6, 0.5, 0.45, 0.43, 0.42), strict=True))
    st = rob.Stability(
        1000,
        {p: round(sc - 0.1, 2) for p, sc in scores.items()},
        {p: round(sc + 0.1, 2) for p, sc in scores.items()},
        dict(zip(scores, (1.0, 0.95, 0.8, 0.6, 0.4, 0.25), strict=True)),
        0.213,
    )
    path = rob.write_chosen(scores, 5, r.settings, tmp_path / "chosen.toml", st)
    settings = rob.load_settings(path)
    assert settings.stability == rob.Stability(1000, st.low, st.high, st.selected, 0.213)
    r.settings = settings
    text = "\n".join(rob.markdown(r, [_fact("SFY")], {"SFY": True}))
    assert "| parameter | screening score (mu*, normalised) | 95% bootstrap interval " \
        "| in the top 5 of 1000 bootstrap resamples |" in text
    assert "| `clinicians.bias` | 0.900 | 0.800–1.000 | 100% |" in text
    assert "| `managers.w_review` | 0.430 | 0.330–0.530 | 40% |" in text
    assert "exactly the chosen set in 21% of the resamples; the next candidate, `board.bias` " \
        "(score 0.420), is in the top 5 in 25%." in text
    assert "| SFY | yes | 100% | robust |" in text

    good = path.read_text()
    for bad, needle in [
        (good.replace('"managers.bias" = 0.800', '"managers.bias" = 1.5'), "selected.managers.bias"),
        (good.replace("[score_high]", "[score_top]"), "score_top"),
        (good.replace("resamples = 1000", ""), "key 'resamples': is missing"),
        (good.replace('"board.bias" = 0.250\n', ""), "key 'selected': must name the same parameters"),
    ]:
        assert bad != good
        path.write_text(bad)
        with pytest.raises(ScenarioError, match=needle):
            rob.load_settings(path)
