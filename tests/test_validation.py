"""The validation suite's machinery: fact files, outcomes, pass rules, the command."""

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
    m = QIModel(load_scenario("co_leadership", ["days=200"]), rng=2).run()
    running = v._wards_running(m)
    expected = (m.state.w_use_ema[:, 0] >= m.params.spread.running_threshold).mean()
    assert running[-1] == pytest.approx(expected)


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
    path.write_text(path.read_text().replace("managers.bais=1", "managers.bias=1") + (
        '[[hypotheses]]\nname = "h"\nstatement = "s"\ntest = "bigger"\n'
        'terms = [{ arm = "a", outcome = "adoption", window = [0, 30], weight = 1.0 }]\n'
    ))
    with pytest.raises(ScenarioError, match="hypotheses.0.test"):
        v.load_fact(path)


def test_validate_command_rejects_an_unknown_fact(capsys, tmp_path):
    assert main(["validate", "--only", "SF42", "--report", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "SF42" in err[0]
    assert not (tmp_path / "r").exists()


def test_validate_command_writes_its_report(capsys, tmp_path):
    status = main(["validate", "--only", "SF3", "--replicates", "3", "--workers", "1",
                   "--report", str(tmp_path / "r"), "--quiet"])
    out = capsys.readouterr().out
    assert status == 0 and "SF3" in out and "1 of 1 facts pass" in out
    assert (tmp_path / "r" / "VALIDATION.md").read_text().startswith("# Validation report")
    assert (tmp_path / "r" / "validation_forest.png").stat().st_size > 0
