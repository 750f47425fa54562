"""Each mechanism, event and lever moves a named output the way the paper says.

Every test switches one mechanism off (or turns one lever) and compares paired runs on
the same seeds (common random numbers) against an otherwise identical run.  Where the
effect is stochastic it is checked on several seeds with a stated margin, and the
direction must hold on every seed.  The docstring of each test names the claim of
Pannick, Sevdalis & Athanasiou, BMJ Qual Saf 2016 (Box 2, Table 1 or the text) that it
checks.

Scenarios are small (one hospital of 4 wards of 12 clinicians) and short (120-550 days)
so that the whole file runs in well under a minute.  Runs are cached: the reference run
of a comparison is shared by the tests that use it.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

import numpy as np
import pytest

import sim.mechanisms as mech
from sim import QIModel
from sim.scenario import from_dict, load_scenario

# -- scenarios --------------------------------------------------------------------------

ORG = {"wards_per_hospital": 4, "clinicians_per_ward": 12}

#: A co-designed daily safety briefing (works through the issues it surfaces).
BRIEFING = {
    "name": "safety briefing", "pathway": "issues", "burden": 0.03, "evidence": 0.6,
    "face_validity": 0.8, "co_designed": True, "adaptation": 0.3, "usefulness_clinicians": 0.3,
    "fit_manager_plans": 0.7, "issues_per_session": 3.0, "working_days_only": True,
    "effect_max": 0.3,
}
#: An unmodified safety checklist (works through faithful use).
CHECKLIST = {
    "name": "safety checklist", "pathway": "fidelity", "burden": 0.02, "evidence": 0.9,
    "face_validity": 0.5, "adaptation": 0.0, "usefulness_clinicians": 0.5,
    "fit_manager_plans": 0.4, "effect_max": 0.3, "issues_per_session": 0.3,
}
ALIGNED_INCENTIVES = {
    "clinician": {"recognition": 0.5, "career_credit": 0.5},
    "manager": {"performance_review": 0.5, "recognition": 0.5},
    "board": {"quality_metrics": 0.5, "protected_quality_time": 0.5},
}
CLINICIAN_ONLY_INCENTIVES = {  # the same total (3.0), all of it on the front line
    "clinician": {"recognition": 1.0, "career_credit": 1.0, "performance_management": 1.0},
}

BASES: dict[str, dict] = {
    # no incentives at all, default actions: the briefing fades once the facilitator leaves
    "plain": {"organisation": ORG, "interventions": [BRIEFING]},
    # incentives at all three levels plus the board's deeds
    "aligned": {
        "organisation": ORG, "incentives": ALIGNED_INCENTIVES,
        "actions": {"board": {"review_incentives": True, "resources": 0.6},
                    "manager": {"protected_time": 0.5}},
        "interventions": [BRIEFING],
    },
    "clinician_only": {"organisation": ORG, "incentives": CLINICIAN_ONLY_INCENTIVES,
                       "interventions": [BRIEFING]},
    # a mandated, unmodified checklist monitored by ticks, with no facilitator
    "mandate": {
        "organisation": ORG,
        "incentives": {"manager": {"performance_review": 1.0}, "board": {"quality_metrics": 1.0}},
        "actions": {"manager": {"accountability": 0.9}},
        "facilitation": {"enabled": False},
        "interventions": [dict(CHECKLIST, mandate_strength=0.7,
                               monitoring="ticks", face_validity=0.4)],
    },
    # a voluntary checklist with aligned incentives
    "checklist": {"organisation": ORG, "incentives": ALIGNED_INCENTIVES,
                  "interventions": [CHECKLIST]},
}

SEEDS = (1, 2, 3)


# -- runs -------------------------------------------------------------------------------

#: Per-day snapshots of the state (recorded after each step), reduced to the probes below.
SNAPSHOT = {
    "fad": lambda s: s.c_fad.copy(),
    "eng": lambda s: s.c_eng[:, 0].copy(),
    # champion status is drawn afresh when a post changes holder: read it the same day
    "eng_nonchampion": lambda s: s.c_eng[~s.c_champion, 0].mean(keepdims=True),
    "skill": lambda s: s.c_skill[:, 0].copy(),
    "value": lambda s: s.c_value[:, 0].copy(),
    "m_priority": lambda s: s.m_priority[:, 0].copy(),
    "m_share": lambda s: s.m_share[:, 0].copy(),
    "m_useful": lambda s: s.m_useful[:, 0].copy(),
    "b_focus": lambda s: s.b_focus[:, 0].copy(),
    "started_k": lambda s: s.w_started.sum(axis=0),
    "free_time": lambda s: s.w_free_time.copy(),
    "protected": lambda s: s.w_protected[:, 0].copy(),
    "active_k": lambda s: s.w_active.sum(axis=0),
    "launched_k": lambda s: s.launched.sum(axis=0),
}


def _probes(s, snaps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Daily probes: means over posts, managers or wards (per intervention for *_k)."""
    junior = s.c_group == 1  # professional groups stay with the post
    eng = snaps["eng"]
    out = {k: v.mean(axis=1) for k, v in snaps.items() if not k.endswith("_k")}
    out.update(
        eng_junior=eng[:, junior].mean(axis=1), eng_other=eng[:, ~junior].mean(axis=1),
        started=snaps["started_k"][:, 0],
        active_k=snaps["active_k"], launched_k=snaps["launched_k"],
    )
    return out


@dataclass
class Run:
    ts: dict[str, np.ndarray]
    probe: dict[str, np.ndarray] = field(default_factory=dict)
    model: QIModel | None = None  # only for exact runs (see :func:`run`)

    def mean(self, name: str, start: int = 0, stop: int | None = None) -> float:
        """Mean of a timeseries column or a probe over days [start, stop)."""
        x = self.ts[name] if name in self.ts else self.probe[name]
        return float(np.mean(x[start:stop], axis=0))

    def at(self, name: str, day: int) -> float:
        x = self.ts[name] if name in self.ts else self.probe[name]
        return float(x[day])


def scenario(base: str | dict, over: dict | None = None):
    raw = copy.deepcopy(BASES[base] if isinstance(base, str) else base)
    return from_dict(raw).with_overrides(over or {})


class _Sim:
    """One model stepped on demand, with its daily snapshots."""

    def __init__(self, base, over, seed, levers):
        self.model = QIModel(scenario(base, over), rng=seed, detail=False)
        self.rows: dict[str, list] = {k: [] for k in SNAPSHOT}
        self.pulls: dict[int, list] = {}
        for day, kind, strength, duration in levers:
            self.pulls.setdefault(day, []).append((kind, strength, duration))
        self.views: dict[int, Run] = {}

    def upto(self, days: int) -> Run:
        m = self.model
        while m.state.day < days:
            for kind, strength, duration in self.pulls.get(m.state.day, ()):
                m.pull_lever(kind, strength, duration)
            m.step()
            for k, f in SNAPSHOT.items():
                self.rows[k].append(f(m.state))
        if days not in self.views:
            ts = {k: v[:days] for k, v in m.timeseries().items()}
            snaps = {k: np.array(v[:days]) for k, v in self.rows.items()}
            self.views[days] = Run(ts, _probes(m.state, snaps))
        return self.views[days]


_SIMS: dict[str, _Sim] = {}


def run(base: str | dict, over: dict | None = None, seed: int = 1, days: int = 300,
        levers: tuple = (), exact: bool = False) -> Run:
    """The first ``days`` days of ``base`` with dotted ``over``rides on ``seed``.

    ``levers`` are (day, kind, strength, duration) pulled with :meth:`QIModel.pull_lever`
    before that day's step.  Runs are cached and extended on demand: the first N days of a
    run do not depend on how long it goes on (see tests/test_determinism.py).  With
    ``exact`` the run stops at ``days`` and its model is returned too (issue log, summary).
    """
    key = json.dumps([base, over or {}, seed, [list(x) for x in levers], days if exact else 0],
                     sort_keys=True)
    if key not in _SIMS:
        _SIMS[key] = _Sim(base, over, seed, levers)
    sim = _SIMS[key]
    r = sim.upto(days)
    if exact:
        assert sim.model.state.day == days
        r.model = sim.model
    return r


def diffs(base, a: dict | None, b: dict | None, metric, seeds=SEEDS, days=300) -> np.ndarray:
    """Per-seed paired difference metric(run b) - metric(run a) on the same seeds."""
    return np.array([metric(run(base, b, s, days)) - metric(run(base, a, s, days))
                     for s in seeds])


def assert_higher(d: np.ndarray, margin: float, what: str) -> None:
    """b exceeds a on every seed, and on average by at least ``margin``."""
    assert (d > 0).all() and d.mean() >= margin, f"{what}: paired differences {np.round(d, 4)}"


# -- launch_interventions ---------------------------------------------------------------


def test_each_launch_feeds_the_belief_that_initiatives_are_fads():
    """Text: 'Relentless organisational change ... contributes to a general ennui.
    Clinicians, believing that each "fad" will soon be replaced with another, feel there is
    little point in investing heavily in any one initiative' (launch_interventions)."""
    two = {"interventions": [BRIEFING, dict(CHECKLIST, launch_day=60)]}
    never = {"interventions.1.launch_day": 7000}
    launched = run(dict(BASES["plain"], **two), None, 1, 100)
    not_yet = run(dict(BASES["plain"], **two), never, 1, 100)
    # identical up to the launch (common random numbers), then one jump of fad belief
    assert np.array_equal(launched.probe["fad"][:60], not_yet.probe["fad"][:60])
    jump = launched.at("fad", 60) - not_yet.at("fad", 60)
    assert jump > 0.5 * 0.08, jump  # default clinicians.fad_per_launch = 0.08
    assert launched.mean("fad", 60, 100) > not_yet.mean("fad", 60, 100)


def test_a_concurrent_initiative_lowers_engagement_with_the_first():
    """Mechanism 5 / Box 2: concurrent interventions collide: they compete for the same
    clinician minutes and managers' attention, and each launch feeds fatigue."""
    base = dict(BASES["aligned"], interventions=[BRIEFING, dict(CHECKLIST, launch_day=20)])
    d = diffs(base, {"interventions.1.launch_day": 7000}, None,
              lambda r: r.mean("engagement_clinician", 60, 240), days=240)
    assert (d < 0).all() and d.mean() < -0.02, d


def test_an_abandoned_initiative_no_longer_competes_with_the_others():
    """Mechanism 5: concurrent interventions compete for clinicians' attention; one the
    ward has abandoned is no longer concurrent (clinician_engagement). Abandonment's own
    fatigue is switched off in both arms, so only the load differs."""
    weak = dict(CHECKLIST, launch_day=20)
    base = dict(BASES["aligned"], interventions=[BRIEFING, weak])
    no_fatigue = {"clinicians.fad_per_abandonment": 0.0}
    never = dict(no_fatigue, **{"clinicians.abandon_fraction": 0.0})  # never counted abandoned
    d = diffs(base, never, no_fatigue, lambda r: r.mean("engagement_clinician", 300, 450), days=450)
    assert (d > 0).all() and d.mean() > 0.01, d



def _two_running(days: int = 40) -> QIModel:
    """The aligned briefing with a checklist launched beside it on day 0, stepped ``days``
    days (one hospital of 4 wards, 2 to a manager)."""
    base = dict(BASES["aligned"], interventions=[BRIEFING, CHECKLIST],
                organisation=dict(ORG, wards_per_manager=2))
    m = QIModel(scenario(base), rng=1, detail=False)
    for _ in range(days):
        m.step()
    return m


def test_an_initiative_abandoned_everywhere_leaves_managers_and_the_board():
    """Mechanism 5: an initiative the front line has given up on everywhere is no longer
    concurrent practice; it stops competing for managers' attention and the board's agenda
    (running_somewhere), as long as one ward still runs it, it competes."""
    s = _two_running().state
    assert s.w_active.all() and s.mgr_first_ward.tolist() == [0, 2]
    s.w_abandoned[:] = False
    assert mech.running_somewhere(s, s.launched, s.wph).all()
    s.w_abandoned[[0, 1], 1] = True  # the checklist, on both wards of manager 0 only
    by_mgr = mech.running_somewhere(s, s.m_active, s.mgr_first_ward)
    assert by_mgr.tolist() == [[True, False], [True, True]]
    assert mech.running_somewhere(s, s.launched, s.wph).tolist() == [[True, True]]
    s.w_abandoned[:, 1] = True  # now on every ward
    assert mech.running_somewhere(s, s.launched, s.wph).tolist() == [[True, False]]
    s.w_active[2:, 1] = False  # manager 1's wards never took it up: it stays with them
    by_mgr = mech.running_somewhere(s, s.m_active, s.mgr_first_ward)
    assert by_mgr.tolist() == [[True, False], [True, s.m_active[1, 1]]]


def test_managers_attention_leaves_an_initiative_their_wards_abandoned():
    """Box 2: 'Middle managers' time and attention was strictly limited'; an initiative
    abandoned on all of a manager's wards takes none of it, and the one still running gets
    a larger share (manager_attention)."""
    m = _two_running()
    s, p = m.state, m.params
    s.w_abandoned[:] = False
    mech.manager_attention(s, p)
    both = s.m_share.copy()
    assert (both > 0.01).all()
    s.w_abandoned[[0, 1], 1] = True  # manager 0's wards gave up the checklist
    mech.manager_attention(s, p)
    assert s.m_share[0, 1] == 0.0 and s.m_share[0, 0] > both[0, 0] + 0.01
    assert np.array_equal(s.m_share[1], both[1])  # manager 1's wards still run both
    s.w_abandoned[[0, 1], 1] = [True, False]  # one of manager 0's wards still runs it
    mech.manager_attention(s, p)
    assert np.array_equal(s.m_share, both)


def test_the_board_s_agenda_drops_an_initiative_abandoned_everywhere():
    """Text: the board's attention is contested by 'other initiatives'; one abandoned on
    every ward is off its agenda and no longer pulls its focus from the others
    (board_priorities)."""
    m = _two_running(days=30)  # day 30: a board meeting
    s, p = m.state, m.params
    assert s.day % p.board.meeting_interval == 0
    kept = {k: getattr(s, k).copy() for k in ("b_focus", "b_soft", "b_news_seen")}
    focus = {}
    for abandoned in (False, True):
        for k, v in kept.items():
            setattr(s, k, v.copy())
        s.w_abandoned[:, 1] = abandoned
        mech.board_priorities(s, p)
        focus[abandoned] = s.b_focus.copy()
    assert focus[True][0, 0] > focus[False][0, 0] + 0.01  # the briefing, rid of a rival
    assert focus[True][0, 1] == focus[False][0, 1]  # the checklist's rival runs either way


def test_concurrent_initiatives_compete_as_far_as_they_fill_free_time():
    """Text: concurrent interventions compete for the same clinician minutes (workload
    against staffing); each weighs on the others as far as together they fill the ward's
    free time (crowding), fully when they need more time than the ward has."""
    m = _two_running()
    s, p = m.state, m.params
    running = s.w_active & ~s.w_abandoned
    free = np.maximum(0.0, 1.0 - s.w_workload)
    unprotected = 1.0 - s.w_protected  # (W, 2); BRIEFING's burden 0.03, CHECKLIST's 0.02
    need = 0.03 * unprotected[:, 0] + 0.02 * unprotected[:, 1]
    assert np.allclose(mech.crowding(s, p, running), np.minimum(1.0, need / free))
    assert (mech.crowding(s, p, running) < 0.5).all()  # two light initiatives: room to spare
    one = running.copy()
    one[:, 1] = False
    assert np.allclose(mech.crowding(s, p, one), 0.03 * unprotected[:, 0] / free)
    # the same two on a ward with hardly any free time: they fill it
    s._once["free_time"] = (np.full(s.W, 0.01), np.full(s.N, 0.01))
    assert (mech.crowding(s, p, running) == 1.0).all()



def test_a_briefing_not_held_at_weekends_takes_none_of_the_time_others_are_used_in():
    """Text: concurrent interventions compete for the same minutes of free time, so a
    briefing held on working days only competes with a daily checklist on working days,
    and at weekends, when it is not held, leaves the checklist all the time there is."""

    def checklist_use(day: int, briefing_burden: float) -> np.ndarray:
        m = _two_running(days=day)
        s = copy.deepcopy(m.state)  # its random streams too: both burdens draw the same numbers
        s._once["free_time"] = (np.full(s.W, 0.04), np.full(s.N, 0.04))  # time is short
        p = copy.copy(m.params)
        p.iv = copy.copy(p.iv)
        p.iv.burden = np.array([briefing_burden, 0.02])
        mech.clinician_use(s, p)
        return s.c_use[:, 1]

    # day 0 is a Monday: day 7 is a working day, day 5 a Saturday
    light, heavy = checklist_use(7, 0.03), checklist_use(7, 0.6)
    assert heavy.sum() < light.sum()  # on a working day the heavier briefing crowds it out
    assert (checklist_use(5, 0.03) == checklist_use(5, 0.6)).all()  # at the weekend it does not

# -- spread_between_wards ---------------------------------------------------------------

SPREAD = {
    "organisation": {"wards_per_hospital": 8, "clinicians_per_ward": 12}, "incentives": {
        "clinician": {"recognition": 0.6}, "manager": {"performance_review": 0.5},
        "board": {"quality_metrics": 0.5, "protected_quality_time": 0.5}},
    "actions": {"board": {"resources": 0.8}, "manager": {"protected_time": 0.5}},
    "facilitation": {"end_day": 365, "strength": 0.5},
    "interventions": [dict(CHECKLIST, name="interprofessional rounds", co_designed=True,
                           adaptation=0.3, face_validity=0.7, usefulness_clinicians=0.6,
                           pilot_wards=2)],
}
SPREAD_SEEDS = (1, 2, 3, 4, 5)


def test_intervention_spreads_from_pilot_wards_only_when_spread_is_possible():
    """Table 1 (interprofessional coordination, scaling up): the intervention spread
    between wards of a hospital (spread_between_wards); with spread.rate = 0 it stays on
    its pilot wards."""
    for seed in SEEDS:
        spreading = run(SPREAD, None, seed, 300)
        stuck = run(SPREAD, {"spread.rate": 0.0}, seed, 300)
        assert stuck.probe["started"].max() == 2
        assert spreading.at("started", 299) >= 5, spreading.probe["started"][::30]


def test_coleadership_spreads_further_than_front_line_champions_alone():
    """Table 1: 'Co-leadership of top-level administrators and front-line champions best
    facilitated implementation and spread'; 'without more senior support, front-line staff
    are unable to marshal the resources required to spread change'."""
    bottom_up = {"incentives.board.quality_metrics": 0.0,
                 "incentives.board.protected_quality_time": 0.0,
                 "incentives.manager.performance_review": 0.0, "actions.board.resources": 0.0}
    d = diffs(SPREAD, bottom_up, None, lambda r: r.mean("started"), SPREAD_SEEDS, 300)
    assert_higher(d, 0.5, "wards that took it up, co-leadership minus bottom-up")


def test_coleadership_spreads_further_than_top_down_alone():
    """Table 1: co-leadership of administrators and front-line champions beat 'top-down'
    hospitals where managers primarily drove the change effort (champions matter)."""
    top_down = {"organisation.champion_share": 0.0, "incentives.clinician.recognition": 0.0}
    d = diffs(SPREAD, top_down, None, lambda r: r.mean("started"), SPREAD_SEEDS, 300)
    assert_higher(d, 0.5, "wards that took it up, co-leadership minus top-down")


def test_spread_is_held_back_without_senior_resources():
    """Text: 'without more senior support, front-line staff are unable to marshal the
    resources required to spread change' (spread_between_wards): where the board neither
    focuses on the practice nor releases resources for it, champions spread it more slowly
    than they would if their push needed no resources; where senior sponsorship is ample,
    the need for resources changes nothing."""
    bottom_up = {"incentives.board.quality_metrics": 0.0,
                 "incentives.board.protected_quality_time": 0.0,
                 "incentives.manager.performance_review": 0.0}
    free = dict(bottom_up, **{"spread.resources_needed": 0.0})
    d = diffs(SPREAD, bottom_up, free, lambda r: r.mean("started"), SPREAD_SEEDS, 300)
    assert_higher(d, 0.3, "wards that took it up, resources not needed minus needed")
    for seed in SPREAD_SEEDS[:2]:
        ample = run(SPREAD, {"spread.resources_needed": 0.01}, seed, 300)
        never = run(SPREAD, {"spread.resources_needed": 0.0}, seed, 300)
        assert np.array_equal(ample.probe["started"], never.probe["started"])


# -- strategic_selection ----------------------------------------------------------------

OVERLOAD_IVS = [
    dict(BRIEFING, evidence=0.8),
    dict(CHECKLIST, name="sepsis bundle", evidence=0.7, launch_day=30),
    dict(CHECKLIST, name="falls prevention", evidence=0.3, launch_day=60),
    dict(CHECKLIST, name="discharge checklist", evidence=0.2, launch_day=90),
]
OVERLOAD = dict(BASES["aligned"], interventions=OVERLOAD_IVS)


def test_prospective_workflow_never_launches_deferred_interventions():
    """Text: 'if organisations are to select only the QI targets that they have the capacity
    and willpower to pursue, other potentially valuable initiatives need be deferred';
    selection favours 'the strongest evidence' (strategic_selection)."""
    prospective = run(OVERLOAD, {"workflow.prospective": True, "workflow.capacity": 2}, 1, 150,
                      exact=True)
    haphazard = run(OVERLOAD, None, 1, 150)
    assert prospective.model.state.deferred[0].tolist() == [False, False, True, True]
    active = prospective.probe["active_k"]
    assert active[:, 2:].max() == 0 and prospective.probe["launched_k"][:, 2:].max() == 0
    assert active[-1, :2].min() > 0
    assert haphazard.probe["active_k"][-1].min() > 0  # without the workflow all four launch


def test_strategic_selection_spares_staff_initiative_fatigue():
    """Text: 'The strategic selection of a limited number of QI interventions, appropriate
    to the organisation's capacity to implement them, is therefore crucial' (fewer launches,
    less fatigue, more engagement with what is kept)."""
    sel = {"workflow.prospective": True, "workflow.capacity": 2}
    d_fad = diffs(OVERLOAD, None, sel, lambda r: r.mean("fad", 100, 240), days=240)
    assert (d_fad < 0).all() and d_fad.mean() < -0.05, d_fad
    d_eng = diffs(OVERLOAD, None, sel, lambda r: r.mean("engagement_clinician", 100, 240),
                  days=240)
    assert_higher(d_eng, 0.02, "engagement with the kept briefing, selected minus haphazard")


# -- external_facilitation --------------------------------------------------------------


def test_facilitator_raises_adoption_in_the_first_months():
    """Text / Table 1: in trials 'investigators ensured there was adequate managerial
    participation - or took on managerial roles themselves' (external_facilitation)."""
    d = diffs("plain", {"facilitation.enabled": False}, None,
              lambda r: r.mean("adoption", 30, 150), days=150)
    assert_higher(d, 0.1, "adoption in months 1-5, facilitated minus not")


def test_facilitator_brokers_issues_managers_are_not_brokering():
    """Table 1: the facilitator ('local investigator') does the managerial work - systems
    changes - while present: more issues resolved during facilitation."""
    d = diffs("plain", {"facilitation.enabled": False}, None,
              lambda r: r.at("issues_resolved", 149), days=150)
    assert_higher(d, 20, "issues resolved by day 150, facilitated minus not")


# -- board_priorities -------------------------------------------------------------------


def test_quality_metrics_and_protected_time_raise_board_focus():
    """Figure 1: board interest 'is further reinforced by protected board time for quality
    issues, and board-level use of quality metrics' (board_priorities)."""
    inc = {"incentives.board.quality_metrics": 1.0, "incentives.board.protected_quality_time": 1.0}
    d = diffs("plain", None, inc, lambda r: r.mean("engagement_board", 60, 200), days=200)
    assert_higher(d, 0.15, "board focus, with board incentives minus without")


def test_board_protecting_its_own_strategy_resists_external_priorities():
    """Box 2: 'the regulatory environment did not allow for a self-determined quality
    strategy, with quality priorities established largely by the local healthcare
    commissioning body and a national quality inspectorate'; Figure 1: boards 'generate (and
    protect) an institution-specific quality strategy'."""
    over = {"board.external_pressure": 0.9}
    d = diffs("aligned", over, dict(over, **{"actions.board.protect_strategy": 1.0}),
              lambda r: r.mean("engagement_board", 60, 200), days=200)
    assert_higher(d, 0.1, "board focus, protected strategy minus not")


def test_managers_lobbying_raises_board_focus():
    """Text: middle managers are 'upwardly influencing their seniors to draw attention to the
    high-level support needed'; Figure 1: 'influencing their supervisors to attract
    organisational support and resources'."""
    d = diffs("aligned", {"actions.manager.lobby_board": False}, None,
              lambda r: r.mean("engagement_board", 120, 300), days=300)
    assert_higher(d, 0.02, "board focus, lobbying minus not")


def test_board_focus_moves_only_at_board_meetings():
    """Mechanism 1 / brief: board attention is set at board meetings (every 30 days by
    default; here every 45), and moves at each."""
    r = run("aligned", {"board.meeting_interval": 45}, 1, 200)
    focus = r.probe["b_focus"]
    changed = np.flatnonzero(np.diff(focus) != 0) + 1
    assert set(changed) == {45, 90, 135, 180}, changed


# -- manager_priorities -----------------------------------------------------------------


def test_performance_reviews_raise_managers_priority():
    """Text: senior managers should 'incentivise QI commitment in performance reviews'
    (manager_priorities)."""
    d = diffs("plain", None, {"incentives.manager.performance_review": 1.0},
              lambda r: r.mean("engagement_manager", 60, 200), days=200)
    assert_higher(d, 0.1, "manager priority, review minus none")


def test_board_emphasis_raises_managers_priority():
    """Text: 'senior managers should directly emphasise QI as an organisational priority'."""
    d = diffs("aligned", {"actions.board.emphasis": False}, None,
              lambda r: r.mean("engagement_manager", 60, 200), days=200)
    assert_higher(d, 0.02, "manager priority, emphasis minus none")


def test_usefulness_to_business_plans_raises_managers_priority():
    """Box 2: 'Where HEADS-UP generated information to bolster middle managers' existing
    business plans ... those managers ... gave HEADS-UP their personal backing', while those
    'for whom HEADS-UP was less directly useful did less'. Managers here are not personally
    incentivised, as in Box 2."""
    poor, good = {"interventions.0.fit_manager_plans": 0.1}, None  # briefing: 0.7
    d = diffs("plain", poor, good, lambda r: r.mean("m_useful", 150, 300))
    assert_higher(d, 0.03, "usefulness to plans, good fit minus poor fit")
    d = diffs("plain", poor, good, lambda r: r.mean("engagement_manager", 150, 300))
    assert_higher(d, 0.01, "manager priority, good fit minus poor fit")


# -- manager_attention ------------------------------------------------------------------


def test_operational_demands_crowd_out_managers_qi_attention():
    """Box 2: 'Middle managers' time and attention was strictly limited, and competing
    priorities ... often precluded meaningful progress' (manager_attention)."""
    d = diffs("aligned", None, {"managers.operational_demand": 8.0},
              lambda r: r.mean("m_share", 30, 300))
    assert (d < 0).all() and d.mean() < -0.05, d
    # once the facilitator (who does the managerial work while present) has left on day 180
    d = diffs("aligned", None, {"managers.operational_demand": 8.0},
              lambda r: r.at("issues_resolved", 299) - r.at("issues_resolved", 180))
    assert (d < 0).all() and d.mean() < -20, d


def test_concurrent_interventions_split_managers_attention():
    """Mechanism 1: attention is finite; a second active initiative takes some of the
    managers' QI attention from the first."""
    base = dict(BASES["aligned"], interventions=[BRIEFING, dict(CHECKLIST, launch_day=20)])
    d = diffs(base, {"interventions.1.launch_day": 7000}, None,
              lambda r: r.mean("m_share", 40, 150), days=150)
    assert (d < 0).all() and d.mean() < -0.02, d


# -- manager_actions --------------------------------------------------------------------


def test_backing_with_resources_beats_expressed_support():
    """Text: 'active managerial involvement goes no further than the "expressions of
    support"'; senior managers should '- vitally - make available the necessary resources'.
    Box 2: backing 'although no additional resources were available' (manager_actions)."""
    d = diffs("aligned", {"actions.board.resources": 0.0}, None,  # aligned: 0.6
              lambda r: r.mean("engagement_clinician", 60, 300))
    assert_higher(d, 0.02, "clinician engagement, resources minus words alone")


def test_holding_to_account_without_micromanaging_raises_engagement():
    """Text: 'Managers who effectively facilitate QI, without micromanaging it, are well
    appreciated by front-line staff'; Box 2: less useful intervention, managers 'did less to
    hold their service areas accountable'."""
    d = diffs("aligned", {"actions.manager.accountability": 0.0}, None,  # default 0.4
              lambda r: r.mean("engagement_clinician", 60, 300))
    assert_higher(d, 0.01, "clinician engagement, moderate accountability minus none")


def test_micromanagement_costs_intrinsic_motivation():
    """Text: 'Managers who effectively facilitate QI, without micromanaging it, are well
    appreciated'. Once managers prioritise QI (days 150-300), holding wards to account
    beyond the micromanagement threshold (0.6) lowers clinicians' engagement against
    accountability that stays at the threshold."""
    d = diffs("aligned", {"actions.manager.accountability": 0.6},
              {"actions.manager.accountability": 1.0},
              lambda r: r.mean("engagement_clinician", 150, 300))
    assert (d < 0).all() and d.mean() < -0.01, d


def test_protected_time_raises_engagement():
    """Text: 'active clinical involvement is more likely when ... there is protected time for
    training to use them'; Box 2: 'no protected time was made available'."""
    funded = {"actions.board.resources": 1.0}
    d = diffs("aligned", dict(funded, **{"actions.manager.protected_time": 0.0}),
              dict(funded, **{"actions.manager.protected_time": 1.0}),
              lambda r: r.mean("engagement_clinician", 60, 300))
    assert_higher(d, 0.01, "clinician engagement, protected time minus none")


def test_protected_time_needs_board_resources():
    """Schema (actions.manager.protected_time: 'needs board resources'); text: senior
    managers must '- vitally - make available the necessary resources'. With no resources
    released, managers cannot protect time: the protected-time lever has no effect."""
    over = {"actions.board.resources": 0.0}
    r0 = run("aligned", dict(over, **{"actions.manager.protected_time": 0.0}), 1, 120)
    r1 = run("aligned", dict(over, **{"actions.manager.protected_time": 1.0}), 1, 120)
    assert r1.probe["protected"].max() == 0.0
    assert np.array_equal(r0.ts["adoption"], r1.ts["adoption"])
    assert np.array_equal(r0.probe["eng"], r1.probe["eng"])


# -- clinician_engagement ---------------------------------------------------------------


def test_clinician_incentives_raise_engagement():
    """Figure 1: 'Clinicians' participation is supported, recognised and rewarded, perhaps
    as part of a formal performance management process' (clinician_engagement)."""
    d = diffs("plain", None, {"incentives.clinician.recognition": 1.0},
              lambda r: r.mean("engagement_clinician", 60, 300), days=300)
    assert_higher(d, 0.03, "clinician engagement, recognition minus none")


def test_career_credit_moves_junior_doctors_most():
    """Box 2: 'QI participation was not formally rewarded, but some junior clinical staff were
    able to exploit their involvement in HEADS-UP to help with career progression'."""
    def gain(r0, r1, probe):
        return r1.mean(probe, 100, 300) - r0.mean(probe, 100, 300)

    still = {"clinicians.rotation_days": 0}  # the same junior doctors throughout
    for seed in SEEDS:
        r0 = run("plain", still, seed, 300)
        r1 = run("plain", dict(still, **{"incentives.clinician.career_credit": 1.0}), seed, 300)
        assert gain(r0, r1, "eng_junior") > gain(r0, r1, "eng_other") > 0


def test_codesign_lowers_resistance():
    """Box 2: 'the face validity of the HEADS-UP tool (and its co-design) mitigated much of
    their expected resistance'; 'co-design may also in itself improve staff ownership'."""
    d = diffs("plain", {"interventions.0.co_designed": False}, None,
              lambda r: r.mean("engagement_clinician", 30, 300), days=300)
    assert_higher(d, 0.01, "clinician engagement, co-designed minus not")


def test_face_validity_lowers_resistance():
    """Text: co-design 'to maximise its face validity, mitigated much of their expected
    resistance'; 'the intervention's characteristics, at least in part, determine its
    reception'."""
    d = diffs("plain", {"interventions.0.face_validity": 0.1}, None,  # briefing: 0.8
              lambda r: r.mean("engagement_clinician", 30, 300))
    assert_higher(d, 0.03, "clinician engagement, high minus low face validity")


def test_belief_in_fads_lowers_engagement():
    """Box 2: 'Front-line staff expressed initiative fatigue at the beginning of the study';
    text: staff see 'little point in investing heavily in any one initiative'."""
    d = diffs("plain", None, {"clinicians.fad_belief_initial": 0.8},  # default 0.3
              lambda r: r.mean("engagement_clinician", 30, 300))
    assert (d < 0).all() and d.mean() < -0.03, d


def test_champions_engage_their_peers():
    """Table 1: front-line champions; text: interventions 'that used peer facilitation' have
    immediate appeal. Champions raise their peers' engagement through peer ties."""
    over = {"organisation.champion_share": 0.3, "organisation.champion_engagement": 0.9}
    d = diffs("plain", dict(over, **{"actions.clinician.influence_peers": False}), over,
              lambda r: r.mean("eng_nonchampion", 10, 150), days=150)
    assert_higher(d, 0.01, "non-champions' engagement, peer influence minus none")


# -- clinician_use ----------------------------------------------------------------------


def _gap(r: Run) -> float:
    return r.mean("reported_compliance", 60, 200) - r.mean("fidelity", 60, 200)


def test_mandate_with_tick_monitoring_widens_reported_vs_true_gap():
    """SF3 / text: 'unmodified checklists are unlikely to be used as intended, nor improve
    patient outcomes - regardless of hospitals' reported compliance' (clinician_use)."""
    d = diffs("mandate", {"interventions.0.mandate_strength": 0.2}, None, _gap,  # mandate: 0.7
              days=200)
    assert_higher(d, 0.1, "reported minus true compliance, strong minus weak mandate")


def test_monitoring_fidelity_instead_of_ticks_shrinks_the_gap():
    """Mechanism 8: the gap depends on what the monitoring checks; monitoring that counts
    ticks raises reported compliance without faithful use."""
    d = diffs("mandate", {"interventions.0.monitoring": "fidelity"}, None, _gap, days=200)
    assert_higher(d, 0.05, "gap, ticks minus fidelity monitoring")


def test_local_adaptation_shrinks_the_gap():
    """SF3 / text: 'local adaptation is the most commonly cited factor affecting checklist
    implementation'; adapted tools are used as intended more often than reported-only."""
    d = diffs("mandate", {"interventions.0.adaptation": 0.4}, None, _gap, days=200)
    assert_higher(d, 0.05, "gap, unadapted minus adapted within the soft periphery")


def test_mandate_raises_use_far_more_than_faithful_use():
    """Table 1 (checklist scale-up): mandatory implementation without managerial
    involvement - 'meaningful local implementation unlikely to have taken place'."""
    weak, strong = {"interventions.0.mandate_strength": 0.2}, None  # mandate: 0.7
    d_use = diffs("mandate", weak, strong, lambda r: r.mean("adoption", 60, 200), days=200)
    d_fid = diffs("mandate", weak, strong, lambda r: r.mean("fidelity", 60, 200), days=200)
    assert_higher(d_use, 0.3, "adoption, strong minus weak mandate")
    assert (d_use > 2 * d_fid).all(), (d_use, d_fid)


def test_adaptation_beyond_soft_periphery_lowers_fidelity_but_raises_engagement():
    """Text: the 'soft periphery' - 'the elements that should be flexibly adapted to optimise
    the programme's acceptance, without invalidating the entire intervention'."""
    within = {"interventions.0.adaptation": 0.4, "interventions.0.soft_periphery": 0.4}
    beyond = {"interventions.0.adaptation": 0.9, "interventions.0.soft_periphery": 0.4}
    d_eng = diffs("checklist", within, beyond,
                  lambda r: r.mean("engagement_clinician", 30, 200), days=200)
    assert_higher(d_eng, 0.005, "engagement, over-adapted minus within the periphery")
    d_fid = diffs("checklist", within, beyond, lambda r: r.mean("fidelity", 30, 200), days=200)
    assert (d_fid < 0).all() and d_fid.mean() < -0.05, d_fid


def test_workload_leaves_no_time_for_qi():
    """Mechanism: use needs free time (workload against staffing); the paper's 'financial and
    opportunity costs' and 'sustained organisational turbulence'."""
    d = diffs("aligned", None, {"organisation.workload_mean": 0.985},  # default 0.85
              lambda r: r.mean("adoption", 30, 300))
    assert (d < 0).all() and d.mean() < -0.1, d


# -- learning_and_value -----------------------------------------------------------------


def test_training_raises_skill_and_faithful_use():
    """Text: 'active clinical involvement is more likely when QI tools have been purposefully
    tailored, and when there is protected time for training to use them'
    (learning_and_value)."""
    none = {"actions.manager.training": 0.0}  # default 0.5
    d_skill = diffs("checklist", none, None, lambda r: r.mean("skill", 10, 120), days=120)
    assert_higher(d_skill, 0.05, "skill, training minus none")
    d_fid = diffs("checklist", none, None, lambda r: r.mean("fidelity", 10, 120), days=120)
    assert_higher(d_fid, 0.01, "fidelity, training minus none")


def test_no_skill_no_faithful_use():
    """Mechanism: faithful use needs skill with the intervention (skill_learning = 0 leaves
    every use unfaithful)."""
    r = run("checklist", {"clinicians.skill_learning": 0.0}, 1, 120)
    assert r.ts["adoption"].max() > 0 and r.ts["fidelity"].max() == 0


def test_usefulness_to_own_practice_is_perceived_as_reward():
    """Box 2: 'Others reflected that they found HEADS-UP useful for their own practice ...
    which may have been perceived as a benefit or reward'."""
    useful = {"interventions.0.usefulness_clinicians": 1.0}  # briefing: 0.3
    d = diffs("plain", None, useful, lambda r: r.mean("value", 30, 300))
    assert_higher(d, 0.05, "perceived value, useful minus not")
    d = diffs("plain", None, useful, lambda r: r.mean("engagement_clinician", 30, 300))
    assert_higher(d, 0.03, "engagement, useful minus not")


# -- raise_issues -----------------------------------------------------------------------


def test_well_attended_briefing_held_on_the_reliable_share_of_working_days():
    """briefing_held: HEADS-UP's briefing was held on a median 80% of working days; a
    briefing everyone attends is held on briefing_reliability of them, never at weekends;
    one that is never held surfaces no issues and is never used."""
    for seed in SEEDS:
        r = run("aligned", {"issues.briefing_reliability": 0.6}, seed, 200)
        held = r.ts["briefings_held"][100:200]
        working = (np.arange(100, 200) % 7) < 5
        assert held[~working].max() == 0
        assert abs(held[working].mean() - 0.6) < 0.08, held[working].mean()
    r = run("aligned", {"issues.briefing_reliability": 0.0}, 1, 100)
    assert r.ts["briefings_held"].max() == 0 and r.ts["issues_raised"].max() == 0
    assert r.ts["adoption"].max() == 0 and r.ts["fidelity"].max() == 0


def test_a_briefing_is_used_only_on_the_days_it_is_held():
    """briefings_meet: the briefing 'piggybacked onto existing staff meetings', so nobody
    on a ward takes part in it, faithfully or not, on a working day its meeting is not
    held; on the days it is held, its use is drawn as for any intervention."""
    d = QIModel("heads_up_site", rng=1, detail=True).run(300).ward_detail()
    working = (d["day"] % 7) < 5
    held = d["briefing_held"] == 1
    not_held = working & ~held
    assert not_held.sum() > 100  # the check below has ward-days to look at
    assert d["adoption"][not_held].max() == 0 and d["fidelity"][not_held].max() == 0
    assert d["adoption"][working & held].mean() > 0.5


def test_a_briefing_not_held_teaches_nothing_and_costs_nothing_to_those_ready_for_it():
    """learning_and_value: a meeting that did not take place is no experience of it for
    those ready to take part (their skill and perceived value stay as they were that
    day), while on the same ward skill fades for those who were not ready, as on any day
    they do not use it. Training, turnover and the value of resolved issues are switched
    off so that use alone moves skill and value."""
    over = {"actions.manager.training": 0.0, "clinicians.turnover_per_year": 0.0,
            "clinicians.rotation_days": 0, "issues.value_per_resolution": 0.0}
    m = QIModel(load_scenario("heads_up_site", over), rng=2)
    s = m.state
    kept = faded = 0
    for _ in range(200):
        skill, value = s.c_skill.copy(), s.c_value.copy()
        m.step()
        if s.c_missed is None:
            continue
        missed = s.c_missed
        assert (s.c_skill[missed] == skill[missed]).all() and (s.c_value[missed] == value[missed]).all()
        kept += int(missed.sum())
        cancelled_ward = missed.reshape(s.W, s.cpw, s.K).any(axis=1).repeat(s.cpw, axis=0)
        not_ready = cancelled_ward & ~missed & (skill > 0)
        assert (s.c_skill[not_ready] < skill[not_ready]).all()
        faded += int(not_ready.sum())
    assert kept > 500 and faded > 50


def test_other_interventions_are_used_whether_or_not_the_briefing_is_held():
    """briefings_meet takes out only the briefing: on a ward whose briefing is not held,
    the other initiatives are used as on any other day (initiative_overload: a briefing
    and four others)."""
    m = QIModel("initiative_overload", rng=3)
    s = m.state
    briefing = m.params.iv.briefing
    assert briefing.sum() == 1
    others_used_where_not_held = 0
    for _ in range(250):
        m.step()
        if (s.day - 1) % 7 >= 5:
            continue
        not_held = (~s.w_briefing[:, briefing].ravel()).repeat(s.cpw)
        assert not s.c_use[not_held][:, briefing].any()
        others_used_where_not_held += int(s.c_use[not_held][:, ~briefing].sum())
    assert others_used_where_not_held > 100


def test_no_issues_when_clinicians_do_not_raise_them():
    """Box 2: in the briefings 'clinical staff would identify risks' - the issue loop starts
    only with staff raising them (raise_issues)."""
    r = run("aligned", {"actions.clinician.raise_issues": False}, 1, 200)
    for col in ("issues_raised", "issues_open", "issues_resolved", "issues_lapsed"):
        assert r.ts[col].max() == 0, col
    assert run("aligned", None, 1, 200).at("issues_raised", 199) > 100


def test_unresolved_backlog_discourages_raising_issues():
    """SF9 / brief: with clinician-only teams, an unresolved backlog of issues needing
    managerial authority lowers how often issues are raised; text: 'disillusionment ...
    ensues'."""
    def raised_after_exit(r):
        return r.at("issues_raised", 359) - r.at("issues_raised", 180)

    d = diffs("clinician_only", {"issues.backlog_sensitivity": 0.0}, None,  # default 0.5
              raised_after_exit, days=360)
    assert (d < 0).all() and d.mean() < -20, d


# -- resolve_issues ---------------------------------------------------------------------


def _resolved_by_authority(r: Run) -> dict[str, int]:
    log = r.model.issue_log()
    assert r.model.state.day == len(r.ts["day"])
    done = log["resolved_day"] >= 0
    return {a: int((done & (log["authority"] == a)).sum())
            for a in ("ward", "cross_department", "board")}


def test_brokering_resolves_cross_department_issues():
    """Text: 'managers have an important role to play in navigating cross-departmental
    obstacles'; middle managers act 'as information brokers' (resolve_issues)."""
    for seed in SEEDS:
        brokered = _resolved_by_authority(run("aligned", None, seed, 250, exact=True))
        unbrokered = _resolved_by_authority(
            run("aligned", {"actions.manager.broker_issues": False}, seed, 250, exact=True))
        assert unbrokered["cross_department"] == 0 and unbrokered["board"] == 0
        assert brokered["cross_department"] > 20
        assert unbrokered["ward"] > 0


def test_resolution_needs_managerial_capacity():
    """Box 2: 'Middle managers' time and attention was strictly limited'; with no capacity
    for issues nothing is resolved, whatever the agreement."""
    r = run("aligned", {"issues.capacity_per_manager": 0.0}, 1, 200)
    assert r.at("issues_raised", 199) > 100 and r.ts["issues_resolved"].max() == 0


def test_ward_issues_left_to_the_facilitator_when_managers_do_not_resolve_them():
    """Table 1: while present the facilitator fulfils 'a dedicated managerial role'; when
    managers do not resolve issues in their remit, none are resolved after it leaves."""
    r = run("aligned", {"actions.manager.resolve_issues": False,
                        "actions.manager.broker_issues": False}, 1, 300)
    resolved = r.ts["issues_resolved"]
    assert resolved[179] > 0 and resolved[-1] == resolved[180]


def test_agreement_predicts_resolution_better_than_severity():
    """Box 2 / SF6: 'resolution of the persistent issues raised in the HEADS-UP briefings
    appeared to depend less on each one's inherent safety threat, than on agreement between
    clinical staff and managers of the need for change'."""
    for seed in SEEDS:
        log = run("plain", None, seed, 300, exact=True).model.issue_log()
        closed = (log["resolved_day"] >= 0) | (log["lapsed_day"] >= 0)
        done = (log["resolved_day"][closed] >= 0).astype(float)
        r_agree = np.corrcoef(done, log["agreement"][closed])[0, 1]
        r_sev = np.corrcoef(done, log["severity"][closed])[0, 1]
        assert r_agree > r_sev + 0.05, (seed, r_agree, r_sev)


def test_managers_short_of_capacity_resolve_agreed_issues_first():
    """triage: where the issues ask more than managers' capacity (here a tenth of the
    default), capacity goes first to the issues both sides agree on; with triage off it is
    shared in proportion to each issue's pull."""

    def agreement_gap(triage, seed):  # mean agreement, resolved minus lapsed issues
        over = {"issues.triage": triage, "issues.capacity_per_manager": 1.0}
        log = run("aligned", over, seed, 300, exact=True).model.issue_log()
        resolved, lapsed = log["resolved_day"] >= 0, log["lapsed_day"] >= 0
        return log["agreement"][resolved].mean() - log["agreement"][lapsed].mean()

    d = np.array([agreement_gap(1.0, s) - agreement_gap(0.0, s) for s in SEEDS])
    assert_higher(d, 0.01, "agreement gap of resolved over lapsed issues, triage minus none")
    # where capacity never binds, triage changes nothing
    for seed in SEEDS[:1]:
        a = run("aligned", {"issues.capacity_per_manager": 100.0, "issues.triage": 0.0}, seed, 200)
        b = run("aligned", {"issues.capacity_per_manager": 100.0, "issues.triage": 3.0}, seed, 200)
        assert np.array_equal(a.ts["issues_resolved"], b.ts["issues_resolved"])


def test_triage_hazards_stay_finite_and_within_capacity():
    """triage on hand-made issues: where capacity binds, the ward resolves no more than its
    capacity and each issue no faster than its pull; where it does not, each issue keeps its
    pull, including an issue nobody can resolve (pull 0: a hazard of 0, not 0 x infinity)."""
    from types import SimpleNamespace as NS

    s = NS(W=2, K=1, w_capacity=np.array([[0.3], [5.0]]))
    p = NS(issues=NS(triage=1.0))
    pull = np.array([0.4, 0.4, 0.2, 0.0, 0.5])
    agreement = np.array([0.9, 0.1, 0.5, 0.5, 0.5])
    cell = np.array([0, 0, 0, 1, 1])
    short = np.array([[True], [False]])
    with np.errstate(all="raise"):
        hazard = mech.triage(s, p, pull, agreement, cell, short)
    assert np.isfinite(hazard).all() and (hazard <= pull).all()
    assert hazard[:3].sum() <= 0.3 + 1e-12 and hazard[0] > hazard[1]  # agreed-on first
    assert hazard[3] == 0.0 and hazard[4] == 0.5


# -- feedback_from_issues ---------------------------------------------------------------


def test_resolved_issues_feed_managers_usefulness_and_priority():
    """Box 2: 'Where HEADS-UP generated information to bolster middle managers' existing
    business plans ... those managers coordinated staff-identified opportunities'
    (feedback_from_issues)."""
    for seed in SEEDS:
        off = run("aligned", {"managers.usefulness_gain": 0.0}, seed, 300)
        assert off.probe["m_useful"].max() == 0
    d = diffs("aligned", {"managers.usefulness_gain": 0.0}, None,
              lambda r: r.mean("engagement_manager", 150, 300))
    assert_higher(d, 0.1, "manager priority, usefulness feedback minus none")


def test_resolved_issues_feed_clinicians_perceived_value():
    """Box 2: staff found 'it improved the quality of interdisciplinary care for their
    patients, which may have been perceived as a benefit or reward'."""
    d = diffs("plain", {"issues.value_per_resolution": 0.0}, None,
              lambda r: r.mean("engagement_clinician", 60, 250), days=250)
    assert_higher(d, 0.03, "engagement, value from resolutions minus none")


def test_briefing_improves_care_only_through_resolved_issues():
    """Mechanism 4: a briefing works through resolving the issues it surfaces; with no
    improvement per resolution its harms equal the counterfactual's."""
    r = run("aligned", {"issues.improvement_per_resolution": 0.0}, 1, 200)
    assert np.array_equal(r.ts["harms"], r.ts["harms_counterfactual"])
    r = run("aligned", None, 1, 300)
    assert r.ts["harms"][150:].sum() < 0.95 * r.ts["harms_counterfactual"][150:].sum()


def test_improvements_erode_where_nobody_maintains_them():
    """improvement_kept: a fix lasts while the ward runs the practice and its manager owns
    it; after a clinician-only programme's facilitator leaves, its gains fade unless
    unmaintained fixes were as durable as maintained ones."""
    late = lambda r: 1.0 - r.ts["harms"][400:500].sum() / r.ts["harms_counterfactual"][400:500].sum()  # noqa: E731
    durable = {"issues.improvement_half_life_unmaintained": 180}
    assert_higher(diffs("clinician_only", None, durable, late, days=500), 0.03,
                  "late effect, durable minus eroding fixes (clinician-only)")
    # where managers own the fixes and the ward keeps the practice, it makes little odds
    d = diffs("aligned", None, durable, late, days=500)
    assert abs(d.mean()) < 0.03, d


# -- initiative_fatigue -----------------------------------------------------------------


def test_unresolved_backlog_breeds_cynicism():
    """Brief mechanism 4 / text: 'administrative engagement is equally important, or
    disillusionment ... ensues' - issues needing managers' authority that lapse unresolved
    raise belief in fads (initiative_fatigue)."""
    d = diffs("clinician_only", {"clinicians.fad_per_lapse": 0.0}, None,
              lambda r: r.mean("fad", 180, 360), days=360)
    assert_higher(d, 0.02, "fad belief, lapse feedback minus none")


@pytest.mark.parametrize("preset", ["aligned", "initiative_overload"])
def test_fad_counts_only_issues_above_the_ward_s_authority_as_they_close(preset):
    """The evidence initiative_fatigue reads, per ward and day, is the issue log's: the
    issues needing cross-department or board authority that were resolved, or lapsed,
    that day (one intervention, and five, whose cells are ward x intervention)."""
    m = QIModel(preset, rng=2, detail=True)
    s = m.state
    days = 200
    seen = {"resolved": np.zeros((days, s.W)), "lapsed": np.zeros((days, s.W))}
    for d in range(days):
        m.step()
        seen["resolved"][d] = s.today["resolved_above"]
        seen["lapsed"][d] = s.today["lapsed_above"]
    log = m.issue_log()
    above = log["authority"] != "ward"
    for what in ("resolved", "lapsed"):
        day = log[f"{what}_day"]
        want = np.zeros((days, s.W))
        sel = above & (day >= 0) & (day < days)
        np.add.at(want, (day[sel], log["ward"][sel]), 1)
        np.testing.assert_array_equal(seen[what], want, err_msg=what)
        assert want.sum() > 0, what  # the check is not vacuous
    assert (log["authority"][log["resolved_day"] >= 0] == "ward").any()  # ward issues exist, not counted


def test_resolved_issues_restore_faith_in_initiatives():
    """Mechanism 4: resolution feeds back to clinicians; issues needing authority above the
    ward that managers do resolve are evidence against the belief that initiatives are
    fads (initiative_fatigue)."""
    d = diffs("aligned", None, {"clinicians.fad_per_resolution": 0.0},
              lambda r: r.mean("fad", 300, 450), days=450)
    assert_higher(d, 0.05, "fad belief, no resolution feedback minus feedback")


def test_a_working_intervention_leaves_less_cynicism_than_a_failing_one():
    """Where managers resolve what the ward raises (aligned), fad belief ends lower than
    where the issues above the ward's authority go nowhere (clinician_only): the belief
    follows the evidence, not the size of the work in progress."""
    for seed in SEEDS:
        aligned = run("aligned", None, seed, 540).mean("fad", 420, 540)
        failing = run("clinician_only", None, seed, 540).mean("fad", 420, 540)
        assert failing - aligned > 0.15, (seed, aligned, failing)


def test_abandoned_initiatives_feed_fad_belief():
    """Text: 'believing that each "fad" will soon be replaced with another'; a ward abandoning
    an initiative confirms the belief."""
    # wards abandon the briefing after the facilitator leaves (day 180); each abandonment
    # adds 0.1 to its 12 clinicians' belief (a quarter of the posts), which rotation and
    # turnover then dilute
    d = diffs("plain", {"clinicians.fad_per_abandonment": 0.0}, None,  # default 0.1
              lambda r: r.mean("fad", 200, 300))
    assert_higher(d, 0.015, "fad belief, abandonment feedback minus none")


def test_visible_success_slowly_restores_faith_in_initiatives():
    """Box 2: 'HEADS-UP was incorporated into normal workflow' despite initial fatigue; fad
    belief recovers while the intervention visibly works."""
    d = diffs("aligned", None, {"clinicians.fad_recovery": 0.005},  # default 0.0005
              lambda r: r.mean("fad", 150, 300))
    assert (d < 0).all() and d.mean() < -0.1, d


# -- patient_outcome --------------------------------------------------------------------


def test_counterfactual_harm_rate_falls_only_with_the_secular_trend():
    """Text: 'Discrete QI interventions also struggle to outperform the secular trend towards
    system-wide improvement' (patient_outcome): the counterfactual falls with the trend
    (a relative yearly decline: 10% a year at 0.1), and not at all without it."""
    quiet = {"outcome.noise_sd": 0.0}
    flat = run("aligned", dict(quiet, **{"outcome.secular_trend": 0.0}), 1, 365)
    trend = run("aligned", dict(quiet, **{"outcome.secular_trend": 0.1}), 1, 365)
    e0 = flat.ts["harm_rate_expected_counterfactual"]
    e1 = trend.ts["harm_rate_expected_counterfactual"]
    np.testing.assert_allclose(e0, e0[0], rtol=1e-12)
    assert (np.diff(e1) < 0).all()
    assert e1[364] / e1[0] == pytest.approx(0.9, rel=0.01)
    # with day-to-day case-mix noise: a clear fall over the year only with the trend
    for seed in SEEDS:
        e0 = run("aligned", {"outcome.secular_trend": 0.0}, seed, 365).ts[
            "harm_rate_expected_counterfactual"]
        e1 = run("aligned", {"outcome.secular_trend": 0.1}, seed, 365).ts[
            "harm_rate_expected_counterfactual"]
        assert e1[-90:].mean() / e1[:90].mean() < 0.96
        assert abs(e0[-90:].mean() / e0[:90].mean() - 1) < 0.04


def test_harms_with_intervention_never_exceed_counterfactual():
    """Mechanism 9: the effect is measured against a counterfactual with the same random
    numbers: harms are a thinning of the counterfactual's harms, every ward and day."""
    for base in ("aligned", "mandate", "clinician_only"):
        r = run(base, None, 1, 300)
        assert (r.ts["harms"] <= r.ts["harms_counterfactual"]).all()
    m = QIModel(scenario("aligned"), rng=5, detail=True).run(150)
    wd = m.ward_detail()
    assert (wd["harms"] <= wd["harms_counterfactual"]).all()


def test_faithful_use_reduces_harm_against_the_counterfactual():
    """Table 1 (checklist trial): 'Reduced in-hospital complications' - a fidelity-pathway
    intervention cuts harm against the same wards' counterfactual, and the counterfactual is
    untouched by the intervention's effect size."""
    none = run("checklist", {"interventions.0.effect_max": 0.0, "facilitation.end_day": 365},
               1, 300)
    some = run("checklist", {"interventions.0.effect_max": 0.5, "facilitation.end_day": 365},
               1, 300)
    assert np.array_equal(none.ts["harms_counterfactual"], some.ts["harms_counterfactual"])
    assert np.array_equal(none.ts["harms"], none.ts["harms_counterfactual"])
    assert some.ts["harms"][60:].sum() < 0.95 * some.ts["harms_counterfactual"][60:].sum()


# -- measure_alignment ------------------------------------------------------------------


def test_alignment_is_geometric_mean_of_the_three_levels():
    """Figure 1: 'successfully align the interests of clinicians and non-clinicians at
    multiple levels'; the index is 1 only when all three levels prioritise QI and 0 when any
    gives it none (measure_alignment)."""
    # without staff change the levels can be read back from the state after the step
    still = {"clinicians.turnover_per_year": 0.0, "clinicians.rotation_days": 0}
    m = QIModel(scenario("aligned", still), rng=3, detail=False)
    for _ in range(120):
        m.step()
        s, t = m.state, m.state.today
        lc = s.c_eng[:, 0].reshape(s.W, s.cpw).mean(axis=1)
        lm = s.m_priority[s.ward_mgr, 0]
        lb = s.b_focus[s.ward_hosp, 0]
        np.testing.assert_allclose(t["alignment"], (lc * lm * lb) ** (1 / 3), rtol=1e-9)
        assert (t["alignment"] <= np.maximum(np.maximum(lc, lm), lb) + 1e-12).all()
        assert (t["alignment"] >= np.minimum(np.minimum(lc, lm), lb) - 1e-12).all()
    assert m.timeseries()["alignment"][-1] == pytest.approx(m.state.today["alignment"].mean())
    # with staff change, the day's levels are those measured before posts changed hands
    m = QIModel(scenario("aligned"), rng=3, detail=False)
    for _ in range(120):
        m.step()
        t = m.state.today
        np.testing.assert_allclose(t["alignment"], np.cbrt(t["level_c"] * t["level_m"]
                                                           * t["level_b"]), rtol=1e-12)
    # a level at zero makes the index zero, whatever the others
    frozen = {"board.focus_initial": 0.0, "board.adjust_per_meeting": 0.0}
    ts = QIModel(scenario("aligned", frozen), rng=3, detail=False).run(30).timeseries()
    assert ts["alignment"].max() == 0.0 and ts["engagement_clinician"].min() > 0


def test_alignment_is_an_observation_not_an_input(monkeypatch):
    """Brief mechanism 11: alignment 'is an observation, not an input to any rule'. Replacing
    the index by garbage (NaN) changes nothing else in the run."""
    ref = QIModel(scenario("aligned"), rng=2, detail=False).run(200)
    original = mech.measure_alignment

    def garbage(s, p):
        original(s, p)
        s.today["alignment"] = np.full(s.W, np.nan)
        s.today["spread"] = np.full(s.W, np.nan)
        s.today["level_c"] = s.today["level_c"].copy()

    monkeypatch.setattr(mech, "measure_alignment", garbage)
    other = QIModel(scenario("aligned"), rng=2, detail=False).run(200)
    a, b = ref.timeseries(), other.timeseries()
    assert np.isnan(b["alignment"]).all()
    for col in a:
        if col not in ("alignment", "priority_spread"):
            assert np.array_equal(a[col], b[col]), col
    assert ref.issue_log()["resolved_day"].tolist() == other.issue_log()["resolved_day"].tolist()


def test_reading_alignment_does_not_alter_the_run():
    """Brief mechanism 11: measuring alignment every day (and reading every agent's state)
    leaves the run bit-for-bit unchanged."""
    ref = QIModel(scenario("plain"), rng=4, detail=False).run(150)
    m = QIModel(scenario("plain"), rng=4, detail=False)
    seen = []
    for _ in range(150):
        m.step()
        seen.append(float(m.state.today["alignment"].mean()))
        for agent in m.agents:
            _ = getattr(agent, "engagement", None), getattr(agent, "priority", None)
        if m.day % 50 == 0:
            m.summary()
            m.timeseries()
    a, b = ref.timeseries(), m.timeseries()
    assert all(np.array_equal(a[c], b[c]) for c in a)
    assert seen == b["alignment"].tolist()


# -- turnover_and_rotation --------------------------------------------------------------


def test_rotation_of_junior_doctors_erodes_skill():
    """Brief / text: QI participation must survive staff change - junior doctors rotate and
    their successors start unfamiliar with the intervention (turnover_and_rotation)."""
    d = diffs("checklist", {"clinicians.rotation_days": 0, "clinicians.turnover_per_year": 0.0},
              {"clinicians.turnover_per_year": 0.0},  # default rotation every 120 days
              lambda r: r.mean("skill", 60, 200), days=200)
    assert (d < 0).all() and d.mean() < -0.02, d


def test_staff_turnover_erodes_skill_with_the_intervention():
    """Text: reluctance 'is especially apparent in periods of sustained organisational
    turbulence'; newcomers start unskilled with the intervention."""
    d = diffs("aligned", None, {"clinicians.turnover_per_year": 1.0},  # default 0.1
              lambda r: r.mean("skill", 60, 300))
    assert (d < 0).all() and d.mean() < -0.05, d


# -- events and levers ------------------------------------------------------------------


def _event(kind, day, strength=0.8, duration=0):
    return {"events": [{"kind": kind, "day": day, "strength": strength, "duration": duration}]}


def test_merger_takes_managers_attention_from_qi():
    """Box 2: 'competing priorities (eg, the implementation of an electronic health record,
    or a forthcoming merger) often precluded meaningful progress with this QI intervention'."""
    merger = _event("merger", 90, 0.8, 150)
    d = diffs("aligned", None, merger, lambda r: r.mean("m_share", 90, 240), days=240)
    assert (d < 0).all() and d.mean() < -0.03, d
    d = diffs("aligned", None, merger,
              lambda r: r.at("issues_resolved", 239) - r.at("issues_resolved", 89), days=240)
    assert (d < 0).all() and d.mean() < -20, d


def test_merger_cuts_board_focus_and_resources():
    """Box 2: 'As the organisation moved to merge with another institution, fewer resources
    were available for continuous QI in the interim'."""
    merger = _event("merger", 90, 0.8, 150)
    d = diffs("aligned", None, merger, lambda r: r.mean("engagement_board", 120, 240),
              days=240)
    assert (d < 0).all() and d.mean() < -0.05, d
    d = diffs("aligned", None, merger, lambda r: r.mean("engagement_clinician", 120, 240),
              days=240)
    assert (d < 0).all(), d


def test_ehr_rollout_takes_clinicians_time_and_managers_attention():
    """Box 2: competing priorities such as 'the implementation of an electronic health
    record' precluded progress."""
    ehr = _event("ehr_rollout", 60, 1.0, 120)
    for seed in SEEDS:
        a, b = run("aligned", None, seed, 200), run("aligned", ehr, seed, 200)
        assert b.mean("free_time", 60, 180) < a.mean("free_time", 60, 180) - 0.05
        assert b.mean("m_share", 60, 180) < a.mean("m_share", 60, 180)
        assert np.array_equal(a.probe["free_time"][:60], b.probe["free_time"][:60])
    d = diffs("aligned", None, ehr, lambda r: r.mean("adoption", 70, 180), days=200)
    assert (d < 0).all() and d.mean() < -0.05, d


def test_regulator_endorsement_moves_board_first_then_managers():
    """Box 2 / SF8: 'an endorsement by the Care Quality Commission during the study period
    prompted senior managers to designate a greater focus on the programme'."""
    base = dict(BASES["plain"], actions={"board": {"review_incentives": True}},
                board={"external_pressure": 0.7})
    endorse = _event("regulator_endorsement", 100, 1.0)
    for seed in SEEDS:
        a, b = run(base, None, seed, 260), run(base, endorse, seed, 260)
        db = b.probe["b_focus"] - a.probe["b_focus"]
        dm = b.probe["m_priority"] - a.probe["m_priority"]
        assert np.abs(db[:120]).max() == 0 and np.abs(dm[:120]).max() == 0
        assert db[120] > 0.05  # the board moves at its first meeting after the endorsement
        assert dm[121] < db[120] / 5  # managers have barely moved yet
        assert dm[240] > 0.02  # and follow later


def test_board_acts_on_external_news_decisively_and_on_the_rest_incrementally():
    """Box 2: the endorsement 'prompted senior managers to designate a greater focus on the
    programme' (board_adjustment): at its first meeting after the news, the board moves most
    of the way to its new target; without news, external salience changes nothing."""
    base = dict(BASES["plain"], board={"external_pressure": 0.7})
    endorse = _event("regulator_endorsement", 100, 1.0)
    for seed in SEEDS:
        calm = {"board.external_salience": 0.0}
        a, b = run(base, calm, seed, 200), run(base, dict(calm, **endorse), seed, 200)
        c, d = run(base, None, seed, 200), run(base, endorse, seed, 200)
        slow = b.probe["b_focus"][120] - a.probe["b_focus"][120]
        fast = d.probe["b_focus"][120] - c.probe["b_focus"][120]
        assert slow > 0.02 and fast > 2.5 * slow, (slow, fast)
        # the news is taken as seen: the next meeting moves at the ordinary rate again
        step_after = d.probe["b_focus"][150] - d.probe["b_focus"][120]
        assert abs(step_after) < fast / 3, (step_after, fast)
        assert np.array_equal(a.probe["b_focus"], c.probe["b_focus"])
    # an endorsement before the launch waits for it: the first meeting with the
    # intervention launched (day 90) acts on it decisively
    late = dict(base, interventions=[dict(BRIEFING, launch_day=70)])
    early = _event("regulator_endorsement", 10, 1.0)
    for seed in SEEDS[:2]:
        calm = {"board.external_salience": 0.0}
        slow = run(late, dict(calm, **early), seed, 120).probe["b_focus"][90]
        fast = run(late, early, seed, 120).probe["b_focus"][90]
        assert fast > slow + 0.05, (slow, fast)


def test_endorsement_lifts_external_priorities_pull_off_the_programme():
    """Box 2: quality priorities were 'established largely by the local healthcare
    commissioning body and a national quality inspectorate', and that inspectorate's
    endorsement 'prompted senior managers to designate a greater focus on the programme'
    (board_priorities): the endorsed programme is now on the external agenda, so external
    priorities pull the board's focus away from it less, the more so the heavier they weigh."""
    base = dict(BASES["plain"], board={"external_pressure": 0.7})  # (gain() sets it per call)
    endorse = _event("regulator_endorsement", 100, 1.0)
    off = {"board.endorsement_aligns": 0.0}

    def gain(pressure: float) -> np.ndarray:  # focus gained from aligning the agendas
        over = {"board.external_pressure": pressure}
        return diffs(base, dict(endorse, **over, **off), dict(endorse, **over),
                     lambda r: r.mean("b_focus", 120, 200), days=200)

    heavy, light = gain(0.7), gain(0.2)
    assert (heavy > 0.05).all() and (heavy > light).all(), (heavy, light)
    # without an endorsement the term changes nothing, to the bit
    for seed in SEEDS[:2]:
        a, b = run(base, off, seed, 200), run(base, None, seed, 200)
        assert np.array_equal(a.probe["b_focus"], b.probe["b_focus"])


def test_regulator_endorsement_moves_managers_more_where_it_fits_their_plans():
    """SF8 / Box 2: managers followed more where 'HEADS-UP generated information to bolster
    middle managers' existing business plans'."""
    base = dict(BASES["plain"], actions={"board": {"review_incentives": True}},
                board={"external_pressure": 0.7})
    endorse = _event("regulator_endorsement", 100, 1.0)

    def rise(fit: dict):  # managers' priority gained from the endorsement, per seed
        return diffs(base, fit or None, dict(endorse, **fit),
                     lambda r: r.mean("m_priority", 150, 300), days=300)

    d = rise({}) - rise({"interventions.0.fit_manager_plans": 0.1})  # briefing: 0.7
    assert (d > 0).all(), d


def test_inspection_inflates_reported_compliance_not_fidelity():
    """Mechanism 8 / text: '... regardless of hospitals' reported compliance': an inspection
    raises the pressure to show compliance whether or not practice changes. (The board here
    already uses quality metrics in full, so the inspection's only channel is the pressure
    on what is reported: use and fidelity stay exactly as they were.)"""
    insp = _event("inspection", 60, 1.0, 60)
    for seed in SEEDS:
        a, b = run("mandate", None, seed, 150), run("mandate", insp, seed, 150)
        assert np.array_equal(a.ts["fidelity"], b.ts["fidelity"])
        assert np.array_equal(a.ts["adoption"], b.ts["adoption"])
        assert b.mean("reported_compliance", 60, 120) > a.mean("reported_compliance", 60, 120)
        assert np.array_equal(a.ts["reported_compliance"][:60], b.ts["reported_compliance"][:60])


def test_staff_turnover_event_replaces_skilled_staff_with_newcomers():
    """Text: reluctance is 'especially apparent in periods of sustained organisational
    turbulence'; newcomers do not know the intervention (staff_turnover)."""
    ev = _event("staff_turnover", 100, 0.6)
    for seed in SEEDS:
        a, b = run("aligned", None, seed, 130), run("aligned", ev, seed, 130)
        assert b.at("skill", 100) < a.at("skill", 100) - 0.3
        assert b.at("eng", 100) < a.at("eng", 100) - 0.2


def test_facilitator_leaving_early_lowers_adoption():
    """SF10 / Table 1: what remains after the facilitator leaves depends on real managerial
    alignment; with none, an early exit loses adoption (facilitator_leaves)."""
    d = diffs("plain", None, _event("facilitator_leaves", 60),
              lambda r: r.mean("adoption", 90, 180), days=180)
    assert (d < 0).all() and d.mean() < -0.1, d


def test_facilitator_exit_hurts_clinician_only_more_than_aligned():
    """SF1 / text: 'In trials reporting significant improvements, investigators ensured there
    was adequate managerial participation - or took on managerial roles themselves';
    clinician-only incentives lose more adoption when the facilitator leaves."""
    def loss(base):  # adoption lost to an early exit (day 60), per seed
        return -diffs(base, None, _event("facilitator_leaves", 60),
                      lambda r: r.mean("adoption", 120, 240), days=240)

    assert (loss("clinician_only") > loss("aligned")).all()


def test_reviews_including_qi_raise_managers_priority():
    """Text: senior managers should 'incentivise QI commitment in performance reviews'
    (reviews_include_qi lever)."""
    for seed in SEEDS:
        a = run("plain", None, seed, 200)
        b = run("plain", None, seed, 200, levers=((60, "reviews_include_qi", 1.0, 0),))
        assert np.array_equal(a.probe["m_priority"][:60], b.probe["m_priority"][:60])
        assert b.mean("m_priority", 100, 200) > a.mean("m_priority", 100, 200) + 0.01


def test_protected_time_lever_raises_engagement():
    """Text: involvement is more likely 'when there is protected time for training'
    (protected_time lever)."""
    funded = {"actions.manager.protected_time": 0.0, "actions.board.resources": 1.0}
    d = diffs("aligned", funded, dict(_event("protected_time", 30, 1.0), **funded),
              lambda r: r.mean("engagement_clinician", 60, 250), days=250)
    assert_higher(d, 0.01, "engagement, protected time granted minus not")


def test_resources_lever_raises_engagement():
    """Text: senior managers must '- vitally - make available the necessary resources'
    (resources lever)."""
    for seed in SEEDS:
        a = run("aligned", {"actions.board.resources": 0.0}, seed, 250)
        b = run("aligned", {"actions.board.resources": 0.0}, seed, 250,
                levers=((30, "resources", 1.0, 0),))
        assert b.mean("engagement_clinician", 60, 250) > a.mean("engagement_clinician", 60, 250)


# -- the central claim ------------------------------------------------------------------


def test_clinician_only_incentives_sustain_less_than_aligned_at_same_total():
    """SF1 / abstract: 'this focus on clinicians, at the relative expense of managerial
    staff, has proven counterproductive'; Figure 1: interventions succeed when they 'align
    the interests of clinicians and non-clinicians at multiple levels'. Same total
    incentive (3.0), same actions; adoption 12 months after the facilitator leaves."""
    aligned = {"incentives": ALIGNED_INCENTIVES, "organisation": ORG, "interventions": [BRIEFING]}
    clinician = BASES["clinician_only"]

    def late(r):
        return r.mean("adoption", 455, 545)

    d = np.array([late(run(aligned, None, s, 545)) - late(run(clinician, None, s, 545))
                  for s in SEEDS])
    assert_higher(d, 0.1, "adoption 12 months after exit, aligned minus clinician-only")
    def sustainment(r):  # as in QIModel.summary(): last 90 days' adoption over its peak
        return r.mean("adoption", 455, 545) / r.ts["adoption"].max()

    sus = np.array([sustainment(run(aligned, None, s, 545)) - sustainment(run(clinician, None, s, 545))
                    for s in SEEDS])
    assert_higher(sus, 0.1, "sustainment, aligned minus clinician-only")
