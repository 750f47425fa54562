"""Invariants that hold every day of every valid scenario (property-based, hypothesis).

Scenarios are drawn from the schema itself (:data:`sim.schema.PARAMS`,
:data:`~sim.schema.INTERVENTION`, :data:`~sim.schema.EVENT`): a handful of keys with
values anywhere inside their declared ranges (or, in the second test, every key at its
default or at either end of its range), one to three interventions, random events and
levers, on tiny organisations for 20-60 days.  The run is checked after every step.

The examples are derandomised and no example database is kept, so CI sees the same 200
scenarios per test every time.  Regression tests for bugs once found at the edges of the
schema close the file.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import QIModel
from sim.model import COLUMNS
from sim.scenario import from_dict
from sim.schema import EVENT_KINDS, INTERVENTION, PARAMS, Param

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

HORIZON = 60

#: Keys drawn by hand below (structure and keys constrained by other keys).
SPECIAL = {
    "name", "title", "description", "days", "seed",
    "organisation.hospitals", "organisation.wards_per_hospital",
    "organisation.clinicians_per_ward", "organisation.wards_per_manager",
    "organisation.share_consultant", "organisation.share_junior", "organisation.share_nurse",
    "facilitation.start_day", "facilitation.end_day", "facilitation.hospitals",
    "issues.share_cross_department", "issues.share_board",
}
#: Integer keys counted in days: drawn within the horizon so they matter in a short run.
DAY_KEYS = {
    "clinicians.rotation_days": (0, HORIZON), "clinicians.rotation_start": (0, HORIZON),
    "board.meeting_interval": (1, HORIZON), "issues.lapse_days": (7, HORIZON),
}
FREE_PARAMS = [p for p in PARAMS if p.key not in SPECIAL]
IV_SPECIAL = {"name", "launch_day", "scale_up_day", "scale_up_mandate", "pilot_wards",
              "hospitals_at_launch"}
FREE_IV = [p for p in INTERVENTION if p.key not in IV_SPECIAL]

UNIT_COLUMNS = ("adoption", "fidelity", "reported_compliance", "engagement_clinician",
                "engagement_manager", "engagement_board", "alignment", "priority_spread",
                "briefings_held", "facilitator_present")
UNIT_ARRAYS = ("c_eng", "c_skill", "c_value", "c_fad", "m_priority", "m_useful", "m_share",
               "b_focus", "w_use_ema", "w_fid_ema", "w_protected", "w_intensity")
COUNT_COLUMNS = ("issues_raised", "issues_open", "issues_resolved", "issues_lapsed", "harms",
                 "harms_counterfactual")
CUMULATIVE = ("issues_raised", "issues_resolved", "issues_lapsed")


def value_of(p: Param, lo=None, hi=None) -> st.SearchStrategy:
    """Any value the schema allows for ``p`` (within [lo, hi] when given)."""
    if p.choices:
        return st.sampled_from(p.choices)
    if p.kind is bool:
        return st.booleans()
    lo = p.lo if lo is None else lo
    hi = p.hi if hi is None else hi
    if p.kind is int:
        return st.integers(int(lo), int(hi))
    return st.floats(float(lo), float(hi), allow_nan=False, allow_infinity=False)


def corner_of(p: Param, lo=None, hi=None) -> st.SearchStrategy:
    """The default or either end of ``p``'s range (any choice for strings and booleans)."""
    if p.choices or p.kind is bool:
        return value_of(p)
    lo = p.lo if lo is None else lo
    hi = p.hi if hi is None else hi
    return st.sampled_from([p.default, p.kind(lo), p.kind(hi)])


@st.composite
def scenarios(draw, corners: bool = False) -> tuple[dict, int, list]:
    """(nested scenario dict, days, levers) drawn from the schema.

    By default a handful of keys take any value in their ranges; with ``corners`` every
    key sits at its default or at either end of its range, so that extreme combinations of
    many keys are tried together."""
    hospitals = draw(st.integers(1, 2))
    wph = draw(st.integers(1, 3))
    days = draw(st.integers(20, HORIZON))
    flat: dict = {
        "organisation.hospitals": hospitals,
        "organisation.wards_per_hospital": wph,
        "organisation.clinicians_per_ward": draw(st.integers(2, 6)),
        "organisation.wards_per_manager": draw(st.integers(1, wph)),
    }
    # professional groups: shares that sum to one
    cuts = sorted(draw(st.lists(st.integers(0, 10), min_size=2, max_size=2)))
    flat["organisation.share_consultant"] = cuts[0] / 10
    flat["organisation.share_junior"] = (cuts[1] - cuts[0]) / 10
    flat["organisation.share_nurse"] = (10 - cuts[1]) / 10
    if draw(st.booleans()):
        start = draw(st.integers(0, HORIZON))
        flat["facilitation.start_day"] = start
        flat["facilitation.end_day"] = draw(st.integers(start, HORIZON + 10))
        flat["facilitation.hospitals"] = draw(st.integers(0, hospitals))
    if draw(st.booleans()):
        cross = draw(st.floats(0, 1))
        flat["issues.share_cross_department"] = cross
        flat["issues.share_board"] = draw(st.floats(0, 1 - cross))
    if corners:
        for p in FREE_PARAMS:
            limits = DAY_KEYS.get(p.key) or (None, None)
            flat[p.key] = draw(corner_of(p, *limits))
    else:  # a handful of keys, anywhere in their ranges
        keys = draw(st.lists(st.sampled_from(FREE_PARAMS), max_size=12, unique_by=lambda p: p.key))
        for p in keys:
            limits = DAY_KEYS.get(p.key) or (None, None)
            flat[p.key] = draw(value_of(p, *limits))

    ivs = []
    for i in range(draw(st.integers(1, 3))):
        iv = {"name": f"intervention {i}"}
        if corners:
            for p in FREE_IV:
                iv[p.key] = draw(corner_of(p))
        else:
            keys = draw(st.lists(st.sampled_from(FREE_IV), max_size=10, unique_by=lambda p: p.key))
            for p in keys:
                iv[p.key] = draw(value_of(p))
        launch = draw(st.integers(0, HORIZON // 2))
        iv["launch_day"] = launch
        iv["pilot_wards"] = draw(st.integers(0, wph))
        iv["hospitals_at_launch"] = draw(st.integers(0, hospitals))
        if draw(st.booleans()):
            iv["scale_up_day"] = draw(st.integers(launch + 1, HORIZON))
            iv["scale_up_mandate"] = draw(st.floats(0, 1))
        ivs.append(iv)

    events = [{"kind": draw(st.sampled_from(EVENT_KINDS)), "day": draw(st.integers(0, HORIZON)),
               "duration": draw(st.integers(0, HORIZON)), "strength": draw(st.floats(0, 1)),
               "hospital": draw(st.integers(-1, hospitals - 1))}
              for _ in range(draw(st.integers(0, 3)))]
    levers = [(draw(st.integers(0, days - 1)), draw(st.sampled_from(EVENT_KINDS)),
               draw(st.floats(0, 1)), draw(st.integers(0, HORIZON)))
              for _ in range(draw(st.integers(0, 2)))]

    nested: dict = {"interventions": ivs, "events": events}
    for key, value in flat.items():
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested, days, levers


class Recorder:
    """Wraps a generator and keeps its last ``random`` draw (the numbers are unchanged)."""

    def __init__(self, rng: np.random.Generator):
        self.rng, self.last = rng, None

    def random(self, *args, **kwargs):
        self.last = self.rng.random(*args, **kwargs)
        return self.last

    def __getattr__(self, name):
        return getattr(self.rng, name)


def check_day(m: QIModel, u_use: np.ndarray, prev: dict | None, budget: list) -> dict:
    """Assert every invariant on the state and the row just observed; return the row."""
    s, t = m.state, m.state.today
    row = {c: m.datacollector.model_vars[c][-1] for c in COLUMNS}
    day = s.day - 1
    for c in UNIT_COLUMNS:
        assert 0.0 <= row[c] <= 1.0, (day, c, row[c])
    for name in UNIT_ARRAYS:
        a = getattr(s, name)
        assert np.isfinite(a).all() and (a >= 0).all() and (a <= 1).all(), (
            day, name, float(a.min(initial=0)), float(a.max(initial=0)))
    # managers' attention is a budget: shares over interventions sum to at most one
    assert (s.m_share.sum(axis=1) <= 1.0 + 1e-12).all(), (day, s.m_share.sum(axis=1).max())
    # faithful use is use; true fidelity never exceeds adoption
    assert not (s.c_faithful & ~s.c_use).any(), day
    assert row["fidelity"] <= row["adoption"] + 1e-12, (day, row["fidelity"], row["adoption"])
    # counts are non-negative, cumulative counts never fall, the open ones add up
    for c in COUNT_COLUMNS:
        assert row[c] >= 0 and float(row[c]).is_integer(), (day, c, row[c])
    if prev is not None:
        for c in CUMULATIVE:
            assert row[c] >= prev[c], (day, c, prev[c], row[c])
    assert row["issues_open"] == row["issues_raised"] - row["issues_resolved"] - row["issues_lapsed"]
    assert row["issues_open"] == s.issues.n_open
    # harms with the intervention are a thinning of the counterfactual's, ward by ward
    assert (t["harms"] >= 0).all() and (t["harms"] <= t["harms_cf"]).all(), day
    assert row["harms"] <= row["harms_counterfactual"]
    # clinicians' expected QI time never exceeds their free time, as recorded by the model
    assert (t["qi_time_expected"] <= t["free_time"] + 1e-12).all(), day
    # and checked independently of that record: p_use is not kept in
    # the state, but use = (u < p_use) with u the 'use' stream's draw, so every use today
    # bounds p_use from below: sum over used k of need_k * u_k < sum need_k * p_use_k <= free.
    today = np.asarray(getattr(s, "practice_today", np.ones(s.K, dtype=bool)))
    need = m.params.iv.burden[None, :] * (1.0 - s.w_protected)  # (W, K)
    used = s.c_use & today[None, :]
    lower = (need[s.c_ward] * u_use * used).sum(axis=1)
    free = s.w_free_time[s.c_ward]
    assert (lower <= free + 1e-12).all(), (day, float((lower - free).max()))
    # ... and on average the realised QI time respects it (summed over the run)
    realised = (need[s.c_ward] * used).sum(axis=1)
    budget[0] += float(realised.sum())
    budget[1] += float(np.minimum(free, need[s.c_ward].sum(axis=1)).sum())
    budget[2] += float((need[s.c_ward] ** 2).sum()) / 4.0
    return row


def check_run(nested: dict, days: int, levers: list, seed: int) -> None:
    """Run the scenario, checking every invariant after every step, then the outputs."""
    m = QIModel(from_dict(nested), rng=seed, detail=False)
    recorder = Recorder(m.state.rng["use"])
    m.state.rng["use"] = recorder
    pulls: dict[int, list] = {}
    for day, kind, strength, duration in levers:
        pulls.setdefault(day, []).append((kind, strength, duration))
    prev = None
    budget = [0.0, 0.0, 0.0]  # realised QI time, free time available to it, variance bound
    for _ in range(days):
        for kind, strength, duration in pulls.get(m.day, ()):
            m.pull_lever(kind, strength, duration)
        m.step()
        prev = check_day(m, recorder.last, prev, budget)
    realised, available, var = budget
    assert realised <= available + 5 * np.sqrt(var) + 1e-9, budget

    ts = m.timeseries()
    assert len(ts["day"]) == days and (np.diff(ts["day"]) == 1).all()
    log = m.issue_log()
    resolved, lapsed = log["resolved_day"] >= 0, log["lapsed_day"] >= 0
    assert not (resolved & lapsed).any()
    assert (log["resolved_day"][resolved] >= log["raised_day"][resolved]).all()
    assert int((~resolved & ~lapsed).sum()) == m.state.issues.n_open
    summary = m.summary()
    for key in ("adoption_peak", "adoption_final", "sustainment", "fidelity_final",
                "reported_compliance_final", "alignment_mean"):
        assert 0.0 <= summary[key] <= 1.0 + 1e-12, (key, summary[key])


@SETTINGS
@given(scenarios(), st.integers(0, 2**32 - 1))
def test_invariants_hold_every_day(drawn, seed):
    """Shares stay in [0, 1]; fidelity <= adoption; attention shares sum to <= 1; expected QI
    time <= free time; counts non-negative, cumulative counts non-decreasing, open issues =
    raised - resolved - lapsed; harms <= counterfactual harms. Every day."""
    check_run(*drawn, seed)


@SETTINGS
@given(scenarios(corners=True), st.integers(0, 2**32 - 1))
def test_invariants_hold_at_the_corners_of_the_schema(drawn, seed):
    """The same invariants with every key at its default or at either end of its range."""
    check_run(*drawn, seed)


# -- regression tests for bugs once found at the edges of the schema ----------------------

TINY = {"wards_per_hospital": 1, "clinicians_per_ward": 2, "wards_per_manager": 1}


def test_skill_stays_within_unit_interval_at_fast_learning():
    """clinicians.skill_learning may be anything in its declared range [0, 1]."""
    sc = from_dict({"organisation": TINY, "clinicians": {"skill_learning": 1.0},
                    "interventions": [{"name": "checklist"}]})
    m = QIModel(sc, rng=0, detail=False)
    for _ in range(5):
        m.step()
        assert m.state.c_skill.max() <= 1.0, m.state.c_skill.max()


def test_engagement_stays_within_unit_interval_at_fast_adjustment():
    """clinicians.adjust_rate and responsiveness_* may be anything in their declared ranges."""
    sc = from_dict({
        "organisation": dict(TINY, share_consultant=0.0, share_junior=0.0, share_nurse=1.0,
                             champion_share=1.0, champion_engagement=1.0),
        "clinicians": {"adjust_rate": 0.5, "responsiveness_nurse": 3.0, "bias": -10.0},
        "interventions": [{"name": "checklist"}]})
    m = QIModel(sc, rng=1, detail=False)
    for _ in range(5):
        m.step()
        assert m.state.c_eng.min() >= 0.0 and m.state.c_eng.max() <= 1.0, m.state.c_eng[:, 0]
        assert 0.0 <= m.timeseries()["engagement_clinician"][-1] <= 1.0
