"""Reproducibility to the bit: same scenario and seed, same run; common random numbers.

* the same scenario and seed give identical time series, summary, issue log and narration;
  different seeds give different runs;
* the first N days do not depend on the horizon (or on stepping in pieces);
* switching a mechanism off does not reshuffle the random numbers another mechanism draws:
  the counterfactual harms and the staff changes are identical day by day;
* models do not share random state: running two in either order, or stepping them in
  turn, gives what each gives alone;
* a lever pulled mid-run is the same as the same event on the timeline.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

import sim.events as events_mod
import sim.mechanisms as mech
from sim import QIModel
from sim.scenario import from_dict

ORG = {"wards_per_hospital": 4, "clinicians_per_ward": 12}
BRIEFING = {
    "name": "safety briefing", "pathway": "issues", "burden": 0.03, "evidence": 0.6,
    "face_validity": 0.8, "co_designed": True, "adaptation": 0.3, "usefulness_clinicians": 0.3,
    "fit_manager_plans": 0.7, "issues_per_session": 3.0, "working_days_only": True,
    "effect_max": 0.3,
}
CHECKLIST = {"name": "safety checklist", "pathway": "fidelity", "burden": 0.02,
             "launch_day": 40, "effect_max": 0.3, "monitoring": "ticks", "mandate_strength": 0.3}
#: Two hospitals, two interventions, events of several kinds: most code paths run.
BASE = {
    "organisation": dict(ORG, hospitals=2),
    "incentives": {"clinician": {"recognition": 0.5}, "manager": {"performance_review": 0.5},
                   "board": {"quality_metrics": 0.5}},
    "actions": {"board": {"review_incentives": True, "resources": 0.6},
                "manager": {"protected_time": 0.3}},
    "facilitation": {"end_day": 120},
    "interventions": [BRIEFING, CHECKLIST],
    "events": [
        {"day": 60, "kind": "merger", "duration": 60, "strength": 0.6, "hospital": 1},
        {"day": 90, "kind": "staff_turnover", "strength": 0.3},
        {"day": 100, "kind": "regulator_endorsement", "strength": 0.8},
        {"day": 130, "kind": "inspection", "duration": 30, "strength": 0.5},
    ],
}


def scenario(over: dict | None = None, base: dict = BASE):
    return from_dict(copy.deepcopy(base)).with_overrides(over or {})


def run(over=None, seed=1, days=200, detail=True, base=BASE) -> QIModel:
    return QIModel(scenario(over, base), rng=seed, detail=detail).run(days)


def same_columns(a: dict, b: dict, columns=None) -> list[str]:
    """Columns (of two dicts of arrays) that differ."""
    columns = columns or a.keys()
    return [c for c in columns if not np.array_equal(a[c], b[c])]


# -- same seed, same run ----------------------------------------------------------------


def test_same_scenario_and_seed_give_identical_runs():
    """Reproducible to the bit from a seed: time series, summary, issue log, narration and
    the per-ward and per-intervention detail."""
    a, b = run(seed=11), run(seed=11)
    assert same_columns(a.timeseries(), b.timeseries()) == []
    assert json.dumps(a.summary(), sort_keys=True) == json.dumps(b.summary(), sort_keys=True)
    assert same_columns(a.issue_log(), b.issue_log()) == []
    assert a.events_log() == b.events_log()
    assert same_columns(a.ward_detail(), b.ward_detail()) == []
    assert same_columns(a.intervention_detail(), b.intervention_detail()) == []


def test_scenario_seed_is_the_default_seed():
    """Without an explicit seed the scenario's own ``seed`` is used."""
    a = QIModel(scenario({"seed": 7}), detail=False).run(80)
    b = QIModel(scenario(), rng=7, detail=False).run(80)
    assert same_columns(a.timeseries(), b.timeseries()) == []


def test_different_seeds_give_different_runs():
    """Seeds matter: another seed draws other staff, wards and days."""
    a, b = run(seed=1, days=120, detail=False), run(seed=2, days=120, detail=False)
    differ = same_columns(a.timeseries(), b.timeseries())
    assert {"adoption", "harms_counterfactual", "issues_raised"} <= set(differ)
    assert a.summary() != b.summary()


# -- the horizon ------------------------------------------------------------------------


def test_first_days_do_not_depend_on_the_horizon():
    """Running 100 days or 300 days: the first 100 rows are identical (nothing looks ahead
    at the scenario's horizon)."""
    short = QIModel(scenario({"days": 100}), rng=3, detail=False).run()
    long = QIModel(scenario({"days": 300}), rng=3, detail=False).run()
    a, b = short.timeseries(), long.timeseries()
    assert len(a["day"]) == 100 and len(b["day"]) == 300
    assert same_columns(a, {c: v[:100] for c, v in b.items()}) == []
    log_short = short.issue_log()["raised_day"]
    assert (long.issue_log()["raised_day"][: len(log_short)] == log_short).all()


def test_stepping_in_pieces_equals_one_run():
    """run(100) then run(200) is the same as run(300), and as 300 single steps."""
    whole = run(seed=4, days=300, detail=False)
    pieces = QIModel(scenario(), rng=4, detail=False).run(100).run(200)
    steps = QIModel(scenario(), rng=4, detail=False)
    for _ in range(300):
        steps.step()
    assert same_columns(whole.timeseries(), pieces.timeseries()) == []
    assert same_columns(whole.timeseries(), steps.timeseries()) == []


# -- common random numbers across switched-off mechanisms -------------------------------

SWITCHES = [
    {"actions.clinician.raise_issues": False},
    {"actions.clinician.influence_peers": False},
    {"actions.manager.broker_issues": False, "actions.manager.resolve_issues": False},
    {"facilitation.enabled": False},
    {"incentives.manager.performance_review": 1.0, "actions.board.resources": 0.0},
    {"interventions.0.effect_max": 0.0, "interventions.1.effect_max": 0.95},
    {"spread.rate": 0.0, "interventions.0.pilot_wards": 2},
    {"workflow.prospective": True, "workflow.capacity": 1},
]


def _spy_staff_changes(monkeypatch) -> list:
    """Record every set of posts that change holder (turnover, rotation, turnover events)."""
    changes: list = []
    real_mech, real_events = mech.replace_posts, events_mod.replace_posts

    def spy(real):
        def wrapper(s, p, mask, *args, **kwargs):
            changes.append((s.day, np.flatnonzero(mask).tolist()))
            return real(s, p, mask, *args, **kwargs)
        return wrapper

    monkeypatch.setattr(mech, "replace_posts", spy(real_mech))
    monkeypatch.setattr(events_mod, "replace_posts", spy(real_events))
    return changes


@pytest.mark.parametrize("switch", SWITCHES, ids=lambda d: ",".join(d))
def test_switching_a_mechanism_keeps_counterfactual_and_staff_changes(monkeypatch, switch):
    """Each mechanism draws from its own stream: switching one off (or turning a lever)
    leaves the counterfactual harms of every ward and day, and every post that changes
    holder, exactly as in the reference run (common random numbers)."""
    changes = _spy_staff_changes(monkeypatch)
    ref = run(seed=5, days=200)
    ref_changes = list(changes)
    changes.clear()
    alt = run(switch, seed=5, days=200)
    assert changes == ref_changes
    assert len(ref_changes) >= 200 and any(ref_changes[i][1] for i in range(len(ref_changes)))
    a, b = ref.ward_detail(), alt.ward_detail()
    assert np.array_equal(a["harms_counterfactual"], b["harms_counterfactual"])
    ta, tb = ref.timeseries(), alt.timeseries()
    assert same_columns(ta, tb, ["harms_counterfactual", "harm_rate_counterfactual",
                                 "harm_rate_expected_counterfactual", "bed_days"]) == []
    s, t = ref.state, alt.state
    for name in ("c_group", "c_ties", "w_workload", "w_acuity", "c_champion"):
        assert np.array_equal(getattr(s, name), getattr(t, name)), name
    # ... while the switch does change the run
    assert same_columns(ta, tb, ["adoption", "issues_raised", "harms", "engagement_manager",
                                 "engagement_board", "fidelity"]) != []


def test_counterfactual_is_untouched_by_the_effect_at_high_harm_counts():
    """The harms with the intervention thin the counterfactual's; how many random numbers
    the thinning uses depends on the effect, so it must not share the counterfactual's
    stream. Checked where a ward has tens of harms a day (the binomial's rejection sampler,
    whose draw count varies)."""
    heavy = {"outcome.harm_rate_baseline": 1000.0, "organisation.beds_per_ward": 200}
    a = run(dict(heavy, **{"interventions.0.effect_max": 0.0, "interventions.1.effect_max": 0.0}),
            seed=6, days=200, detail=False)
    b = run(dict(heavy, **{"interventions.0.effect_max": 0.9, "interventions.1.effect_max": 0.9}),
            seed=6, days=200, detail=False)
    ta, tb = a.timeseries(), b.timeseries()
    assert ta["harms_counterfactual"].min() > 100
    assert np.array_equal(ta["harms_counterfactual"], tb["harms_counterfactual"])
    assert np.array_equal(ta["harms"], ta["harms_counterfactual"])
    assert (tb["harms"] < tb["harms_counterfactual"]).any()


def test_case_mix_noise_is_common_to_runs_that_differ_only_in_the_trend():
    """Sensitivity sweeps over the secular trend compare like with like: the expected
    counterfactual rates differ by exactly the trend factor, day by day."""
    a = run({"outcome.secular_trend": 0.0}, seed=1, days=365, detail=False).timeseries()
    b = run({"outcome.secular_trend": 0.2}, seed=1, days=365, detail=False).timeseries()
    ratio = b["harm_rate_expected_counterfactual"] / a["harm_rate_expected_counterfactual"]
    factor = 0.8 ** (a["day"] / 365.0)
    np.testing.assert_allclose(ratio, factor, rtol=1e-9)


# -- models do not share random state ---------------------------------------------------


def test_running_order_and_interleaving_do_not_matter():
    """Two models run one after the other (in either order) or stepped in turn give the
    same results as each run alone: no global random state is shared."""
    other = {"actions.clinician.raise_issues": False, "organisation.clinicians_per_ward": 8}
    alone_a = run(seed=8, days=150, detail=False).timeseries()
    alone_b = run(other, seed=9, days=150, detail=False).timeseries()

    b_first = run(other, seed=9, days=150, detail=False).timeseries()
    a_second = run(seed=8, days=150, detail=False).timeseries()
    assert same_columns(alone_a, a_second) == [] and same_columns(alone_b, b_first) == []

    a = QIModel(scenario(), rng=8, detail=False)
    b = QIModel(scenario(other), rng=9, detail=False)
    np.random.seed(12345)  # the legacy global generator must not matter either
    for day in range(150):
        a.step()
        b.step()
        if day % 7 == 3:  # and reading one model mid-run does not disturb the other
            b.summary()
            np.random.random(10)
    assert same_columns(alone_a, a.timeseries()) == []
    assert same_columns(alone_b, b.timeseries()) == []


def test_same_seed_same_scenario_in_two_live_models_stay_in_lockstep():
    """Two copies of the same run stepped in turn remain identical every day."""
    a = QIModel(scenario(), rng=10, detail=False)
    b = QIModel(scenario(), rng=10, detail=False)
    for _ in range(120):
        a.step()
        b.step()
        assert np.array_equal(a.state.c_eng, b.state.c_eng)
        assert np.array_equal(a.state.c_use, b.state.c_use)


# -- levers ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind,strength,duration", [
    ("reviews_include_qi", 1.0, 0), ("protected_time", 0.8, 0), ("resources", 0.9, 0),
    ("merger", 0.7, 60), ("facilitator_leaves", 1.0, 0), ("staff_turnover", 0.4, 0),
])
def test_lever_pulled_mid_run_equals_the_same_timeline_event(kind, strength, duration):
    """A trainer's lever is an event applied to the state on the next day: pulling it before
    day 70 gives the same run as the same event on the timeline on day 70, and says the
    same; and it acts (the run differs from one without it)."""
    over = {"actions.board.review_incentives": False}  # so that the reviews lever has work to do
    ev = {"day": 70, "kind": kind, "strength": strength, "duration": duration, "hospital": -1}
    timeline = scenario({**over, "events": BASE["events"] + [ev]})
    a = QIModel(timeline, rng=12, detail=False).run(150)
    b = QIModel(scenario(over), rng=12, detail=False).run(70)
    b.pull_lever(kind, strength, duration)
    b.run(80)
    assert same_columns(a.timeseries(), b.timeseries()) == []
    lines_a = [x for x in a.events_log() if x.startswith("Day 70:")]
    lines_b = [x.replace("Lever pulled: ", "") for x in b.events_log() if x.startswith("Day 70:")]
    assert [x.lower() for x in lines_a] == [x.lower() for x in lines_b] and lines_a  # "Lever pulled: ..."
    without = QIModel(scenario(over), rng=12, detail=False).run(150)
    arrays = {k: v for k, v in vars(b.state).items() if isinstance(v, np.ndarray)}
    assert same_columns(arrays, vars(without.state), list(arrays)) != []  # the lever acted
