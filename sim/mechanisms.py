"""The model's mechanisms, one small function each, run once a day in this order
(strategic selection runs once, when the model is built).

Every function reads and writes the arrays of :class:`sim.state.State` for all
hospitals, wards and posts at once (no per-agent loop), and its docstring names the
claim of Pannick, Sevdalis & Athanasiou (BMJ Qual Saf 2016) that it encodes.
"""

from __future__ import annotations

import math
from types import SimpleNamespace as NS

import numpy as np

from .state import State


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def launch_interventions(s: State, p: NS) -> list[tuple[int, int]]:
    """Launch each intervention on its day (in the first hospitals) and at scale-up (in the rest).

    Claim: each launch adds load and feeds the belief that initiatives are fads
    ('relentless organisational change ... a general ennui'); a trial in a few sites may
    be followed by a scale-up, often mandated. Returns the (hospital, intervention)
    pairs launched today.
    """
    iv = p.iv
    if s.day not in iv.launch_days:  # (launch and scale-up days)
        return []
    n_first = np.where(iv.hospitals_at_launch > 0, iv.hospitals_at_launch, s.H)
    first = np.arange(s.H)[:, None] < n_first[None, :]
    due = ((iv.launch_day == s.day)[None, :] & first) | ((iv.scale_up_day == s.day)[None, :] & ~first)
    due &= ~s.launched & ~s.deferred
    if not due.any():
        return []
    s.launched |= due
    s.active = s.launched & ~s.deferred
    s.mandate = np.where(due, np.where(first, iv.mandate_strength, iv.scale_up_mandate), s.mandate)
    s.c_fad = np.minimum(1.0, s.c_fad + p.clinicians.fad_per_launch * due.sum(axis=1)[s.c_hosp])
    pilot = np.where(iv.pilot_wards > 0, iv.pilot_wards, s.wph)
    local = np.arange(s.W) % s.wph
    start_wards(s, due[s.ward_hosp] & (local[:, None] < pilot[None, :]))
    return [tuple(x) for x in np.argwhere(due)]


def start_wards(s: State, start: np.ndarray) -> None:
    """Wards in ``start`` (W, K) take up an intervention: their staff meet it afresh."""
    s.w_started |= start
    s.w_active = s.w_started & s.active[s.ward_hosp]
    s.m_active = np.maximum.reduceat(s.w_active, s.mgr_first_ward, axis=0)
    hit = start[s.c_ward]
    s.c_eng[hit] = np.broadcast_to(s.c_eng_start[:, None], hit.shape)[hit]


def spread_between_wards(s: State, p: NS) -> list[tuple[int, int]]:
    """Wards that do not yet run an intervention take it up as it spreads in their hospital.

    Claim (Table 1, interprofessional coordination scale-up): implementation and spread
    were best with co-leadership of top-level administrators and front-line champions;
    spread needs sponsorship from the board (focus with resources), the ward's manager
    and champions, and 'without more senior support, front-line staff are unable to
    marshal the resources required to spread change': below ``spread.resources_needed``
    of board focus x resources, champions' push is scaled down in proportion (managers
    and the board sponsor with resources of their own). Returns the (ward, intervention)
    pairs that started today.
    """
    sp = p.spread
    u = s.rng["spread"].random((s.W, s.K))
    if np.count_nonzero(s.w_started) == s.W * s.K:  # every ward has taken up everything
        return []
    candidates = s.active[s.ward_hosp] & ~s.w_started
    if not np.count_nonzero(candidates):
        return []
    running = s.hosp_mean(s.w_started & (s.w_use_ema >= sp.running_threshold))
    top = (s.b_focus * s.resources[:, None])[s.ward_hosp]
    champ_eng = (s.c_eng * s.c_champion[:, None]).reshape(s.W, s.cpw, s.K).sum(axis=1)
    champions = champ_eng / np.maximum(s.w_champions, 1)[:, None]
    if sp.resources_needed > 0:  # champions push only as far as the resources let them
        champions = champions * np.minimum(1.0, top / sp.resources_needed)
    weights = sp.w_board + sp.w_manager + sp.w_champions
    sponsor = (sp.w_board * top + sp.w_manager * s.m_priority[s.ward_mgr] + sp.w_champions * champions) / max(
        weights, 1e-9
    )
    new = candidates & (u < sp.rate * running[s.ward_hosp] * sponsor)
    if new.any():
        start_wards(s, new)
    return [tuple(x) for x in np.argwhere(new)]


def strategic_selection(s: State, p: NS) -> list[tuple[int, int]]:
    """Prospective workflow: select few, strong interventions, once, before any launch.

    Claim: strategic selection of a limited number of interventions, appropriate to the
    organisation's capacity, with the strongest evidence, co-designed with clinicians;
    jointly chosen targets serve managers' plans. The paper's staff and managers rank
    the threats they face; here the interventions are ranked on their fixed attributes
    (a limitation, docs/ODD.md 7.3). Returns the deferred pairs.
    """
    if not p.workflow.prospective or s.K == 0:
        return []
    iv = p.iv
    score = iv.evidence * (iv.face_validity + iv.fit_manager_plans + iv.usefulness_clinicians) / 3.0
    score = score + p.workflow.codesign_bonus * iv.co_designed
    order = np.argsort(-score, kind="stable")
    keep = np.zeros(s.K, dtype=bool)
    keep[order[: p.workflow.capacity]] = True
    s.deferred[:] = ~keep[None, :]
    s.m_fit_plans[:, keep] = np.minimum(1.0, s.m_fit_plans[:, keep] + p.workflow.fit_boost)
    return [(h, k) for h in range(s.H) for k in np.flatnonzero(~keep)]


def external_facilitation(s: State, p: NS) -> None:
    """The facilitator is present between arrival and departure.

    Claim: in trials, investigators 'took on managerial roles themselves'; what remains
    after they leave depends on real managerial alignment.
    """
    s.facil_present = (s.day >= s.facil_from) & (s.day < s.facil_until)


def board_priorities(s: State, p: NS) -> None:
    """At board meetings, the board's focus on each intervention moves toward its target.

    Claim: board attention is finite and contested: quality metrics, protected quality
    time (and an inspection, which turns the board to its quality metrics), regulator
    endorsement, managers' lobbying and soft intelligence raise it; externally imposed
    priorities (unless the board protects its own strategy), organisational events (a
    merger) and other initiatives competing for the same agenda pull it away: those still
    running on a ward of the hospital (one that every ward which took it up has abandoned
    is no longer on the agenda, :func:`running_somewhere`). A
    regulator's endorsement also puts the programme on the external agenda (Box 2: the
    quality priorities were set 'largely by the local healthcare commissioning body and a
    national quality inspectorate', and the Care Quality Commission, that inspectorate,
    endorsed it), so it lifts part of their pull (``board.endorsement_aligns``; like the
    endorsement, per hospital).
    """
    b, inc = p.board, p.incentives.board
    s.b_soft += (np.minimum(1.0, s.today.get("board_issues", 0.0)) - s.b_soft) / b.soft_intelligence_memory
    if s.day % b.meeting_interval:
        return
    lobby = _mgr_to_hosp(s, s.m_priority * s.m_useful) * p.actions.manager.lobby_board
    external = b.external_pressure * (1.0 - p.actions.board.protect_strategy)
    external = external * (1.0 - b.endorsement_aligns * s.regulator)[:, None]  # (H, 1)
    z = (
        b.bias
        + b.w_metrics * np.maximum(inc.quality_metrics, s.inspection)[:, None]
        + b.w_protected_time * inc.protected_quality_time
        + b.w_regulator * (s.regulator[:, None] + p.actions.board.engage_regulator * p.iv.evidence[None, :])
        + b.w_lobbying * lobby
        + b.w_soft_intelligence * s.b_soft
        - b.w_external * external
        - b.w_events * s.merger[:, None]
        - b.w_load * _others(running_somewhere(s, s.launched, s.wph))
    )
    target = sigmoid(z)
    rate = board_adjustment(s, p)  # and the endorsement's news taken in where launched
    s.b_focus += np.where(s.launched, rate * (target - s.b_focus), 0.0)


def running_somewhere(s: State, live: np.ndarray, groups: int | np.ndarray) -> np.ndarray:
    """``live`` (groups, K), less the interventions that every ward of the group which took
    them up has abandoned: (groups, K). The groups are hospitals when ``groups`` is the
    number of wards per hospital, middle managers when it is each manager's first ward
    (a manager's wards are consecutive, as a hospital's are).

    Claim: an initiative the front line has given up on everywhere is no longer concurrent
    practice (7.15): nothing remains for a manager to hold to account, train or broker, nor
    for the board to follow, so it stops competing for their attention, as it stops weighing
    on clinicians (:func:`clinician_engagement`). A group none of whose wards has taken the
    intervention up yet keeps it as it is.
    """
    if not np.count_nonzero(s.w_abandoned):  # (nothing abandoned: every live one still runs)
        return live
    running = s.w_active & ~s.w_abandoned
    if isinstance(groups, int):
        started = s.w_active.reshape(-1, groups, s.K).any(axis=1)
        running = running.reshape(-1, groups, s.K).any(axis=1)
    else:
        started = np.logical_or.reduceat(s.w_active, groups, axis=0)
        running = np.logical_or.reduceat(running, groups, axis=0)
    return live & (running | ~started)


def _others(x: np.ndarray) -> np.ndarray:
    """For each intervention, how many of the others ``x`` (groups, K) counts: (groups, K)."""
    return x.sum(axis=1, keepdims=True) - x


def board_adjustment(s: State, p: NS) -> np.ndarray:
    """How far each board's focus on each intervention moves toward its target at today's
    meeting, (H, K); the regulator's news is then taken in where the intervention is launched.

    Claim (Box 2): 'an endorsement by the Care Quality Commission ... prompted senior
    managers to designate a greater focus on the programme'. A board acts on salient
    external news (a regulator's endorsement) decisively, at its first meeting after it
    with the intervention launched, and on its other signals (metrics, an inspection,
    lobbying, soft intelligence) incrementally. The news is how far the endorsement rose
    since the board last moved its focus on the intervention; a meeting before the launch
    leaves the news waiting for the launch.
    """
    b = p.board
    news = np.clip(s.regulator[:, None] - s.b_news_seen, 0.0, 1.0)
    s.b_news_seen = np.where(s.launched, s.regulator[:, None], s.b_news_seen)
    return b.adjust_per_meeting + (1.0 - b.adjust_per_meeting) * b.external_salience * news


def manager_priorities(s: State, p: NS) -> None:
    """Middle managers' QI priority moves toward a target set by their incentives.

    Claim: managers are moved by performance reviews that include QI (which the board
    may add), recognition, senior emphasis, and the intervention's usefulness to their
    own business plans (fed by the issues it resolves); enthusiasm is not automatic.
    """
    m, inc = p.managers, p.incentives.manager
    hosp = s.mgr_hosp
    review = np.maximum(inc.performance_review, (s.review_on[:, None] * s.b_focus))[hosp]
    emphasis = (p.actions.board.emphasis * s.b_focus)[hosp]
    z = (
        m.bias
        + m.w_review * review
        + m.w_recognition * inc.recognition
        + m.w_usefulness * s.m_useful
        + m.w_emphasis * emphasis
    )
    target = sigmoid(z)
    s.m_priority += np.where(s.m_active, m.adjust_rate * (target - s.m_priority), 0.0)


def manager_attention(s: State, p: NS) -> None:
    """Managers split a finite attention budget between QI and competing priorities.

    Claim: middle managers' time and attention are strictly limited; competing
    priorities (operational targets, an EHR roll-out, a merger) and concurrent
    interventions preclude progress: those still running on one of the manager's wards (an
    intervention all of them have abandoned takes no attention, :func:`running_somewhere`).
    Shares of attention sum to at most 1. A present facilitator does the managerial work
    managers are not doing.
    """
    m = p.managers
    salience = s.m_priority * running_somewhere(s, s.m_active, s.mgr_first_ward)
    events = s.merger + s.ehr
    if np.count_nonzero(events):
        other = (m.operational_demand + m.event_demand * events[s.mgr_hosp])[:, None]
    else:  # (operational demand + event demand x 0 is the operational demand)
        other = m.operational_demand
    s.m_share = salience / np.maximum(_sum_k(salience)[:, None] + other, 1e-12)
    # a ward's share of its manager's QI attention; the facilitator stands in for a manager
    # giving QI the full share, scaled by the facilitator's strength
    share = s.m_share[s.ward_mgr]
    if np.count_nonzero(s.facil_present):
        facil = (p.facilitation.strength * s.facil_present)[s.ward_hosp][:, None] * m.qi_share_full
    else:  # (no facilitator: 0 x strength x full share)
        facil = 0.0
    s.w_intensity = np.minimum(1.0, share / m.qi_share_full)
    acting = np.maximum(share, facil)
    effective = np.minimum(1.0, acting / m.qi_share_full)
    # each ward's part of its manager's non-clinical time: the structure's, never changes
    per_ward = s.once("mgr_time_per_ward", lambda: (1.0 - m.clinical_share) / s.mgr_wards[s.ward_mgr, None])
    s.w_capacity = p.issues.capacity_per_manager * acting * per_ward
    s.w_broker = effective if p.actions.manager.broker_issues else effective * 0.0  # = effective x switch
    s.w_train = p.actions.manager.training * effective
    if np.count_nonzero(s.w_active) < s.W * s.K:  # (x True changes nothing)
        s.w_train *= s.w_active


def manager_actions(s: State, p: NS) -> None:
    """What managers do on their wards: hold to account, protect time, back with resources.

    Claim: managers who facilitate QI without micromanaging it are appreciated; too much
    accountability costs intrinsic motivation. Expressed support without resources has a
    smaller effect than backing with resources, which the board must release. Protected
    time is granted only as far as the released budget covers it.
    """
    hosp = s.ward_hosp
    prio = s.m_priority[s.ward_mgr]
    resources = (s.resources[:, None] * s.b_focus)[hosp]
    if np.count_nonzero(s.merger):  # (x (1 - 0) changes nothing)
        resources *= 1.0 - s.merger[hosp][:, None]
    s.w_accountability = p.actions.manager.accountability * s.w_intensity
    s.w_support = prio
    s.w_backing = prio * resources
    asked = s.protected[hosp][:, None]
    funded = np.minimum(1.0, resources / np.maximum(asked, 1e-12))
    s.w_protected = asked * funded * s.w_intensity


def clinician_engagement(s: State, p: NS) -> None:
    """Each clinician's engagement moves toward a target set by incentives, barriers and actions.

    Claim: clinical engagement is reciprocal: it rises with recognition, career credit
    and performance management, with the intervention's perceived value, managers'
    backing and protected time, peers and champions, co-design, face validity and local
    adaptation, and a facilitator's presence; it falls with the belief that initiatives
    are fads, micromanagement, and competing initiatives (those the ward runs and has not
    abandoned), which compete as far as they crowd clinicians' free time
    (:func:`crowding`). Groups differ in responsiveness.
    """
    c, iv = p.clinicians, p.iv
    threshold = p.managers.micromanagement_threshold
    held = np.minimum(s.w_accountability, threshold)
    micro = np.maximum(0.0, s.w_accountability - threshold) / max(1e-9, 1.0 - threshold)
    managers = (
        c.w_support * s.w_support
        + c.w_backing * s.w_backing
        + c.w_protected_time * s.w_protected
        + c.w_accountability * held
        - c.w_micromanagement * micro
    )
    # target = sigmoid(bias + w_incentive * incentive + w_value * value + managers' terms
    #                  + peers + co-design + face validity + adaptation + facilitator
    #                  + champion - fad - load), its terms added one by one in this order,
    # in place; ward and hospital terms broadcast over the posts of a ward or hospital
    # (``_by_ward``, ``_by_hosp``)
    mgr_prio = p.incentives.clinician.performance_management * s.m_priority[s.ward_mgr]
    z = _by_ward(s, s.c_incentive_own[:, None]) + mgr_prio[:, None, :]  # the incentive
    z *= c.w_incentive
    z += c.bias
    z += _by_ward(s, c.w_value * s.c_value)
    z += managers[:, None, :]
    if p.actions.clinician.influence_peers and s.c_ties.shape[1]:
        z += _by_ward(s, c.w_peer * (_peer_engagement(s) - 0.5))
    else:
        z += 0.0  # no peer term (added all the same, as it always was)
    z += c.w_codesign * iv.co_designed
    z += c.w_face_validity * iv.face_validity
    z += c.w_adaptation * iv.adaptation
    if np.count_nonzero(s.facil_present):  # (adding no facilitator's 0 changes no sigmoid)
        _by_hosp(s, z)[...] += (c.w_facilitator * s.facil_present)[:, None, None]
    z += _by_ward(s, c.w_champion * s.c_champion[:, None])
    z -= _by_ward(s, c.w_fad * s.c_fad[:, None])
    if s.K > 1:  # other interventions running on the ward, not abandoned, compete (with one, none do)
        running = s.w_active & ~s.w_abandoned
        load = _others(running) * crowding(s, p, running)[:, None]
        z -= (c.w_load * load)[:, None, :]
    step = _sigmoid_into(z)  # the target
    step -= _by_ward(s, s.c_eng)
    step *= _by_ward(s, s.resp[:, None])  # resp <= 1: no overshoot
    if np.count_nonzero(s.w_active) < s.W * s.K:  # (with every ward active, np.where would copy step)
        step = np.where(s.w_active[:, None, :], step, 0.0)
    s.c_eng += step.reshape(s.N, s.K)


def crowding(s: State, p: NS, running: np.ndarray) -> np.ndarray:
    """How full each ward's free time is of the interventions it runs: (W,), in [0, 1].

    Claim: concurrent interventions compete for the same minutes of a clinician's free time
    (workload against staffing); an initiative weighs on the others as far as together they
    fill that time. The share is the running interventions' burden not covered by protected
    time, over the ward's free time, capped at 1 (time the ward does not have).
    """
    need = running * _unprotected_burden(s, p)
    free, _ = free_time(s, p)
    return np.minimum(1.0, need.sum(axis=1) / np.maximum(free, 1e-12))


def _peer_engagement(s: State) -> np.ndarray:
    """Each clinician's peers' engagement, weighted (champions count more): (N, K).

    The ties are summed one after another, as numpy sums a short or non-contiguous
    axis; numpy sums eight or more ties of one intervention pairwise, so that case is
    left to numpy.
    """
    T = s.c_ties.shape[1]
    if s.K == 1 and T >= 8:
        return (s.c_eng[s.c_ties] * s.tie_weight[:, :, None]).sum(axis=1) / s.tie_weight_sum
    x = s.c_eng.take(s.c_ties_T, axis=0, mode="clip")  # (T, N, K); ties are posts (clip: no bounds check)
    x *= s.tie_weight_T[:, :, None]
    total = x[0].copy()
    for t in range(1, T):
        total += x[t]
    total /= s.tie_weight_sum
    return total


def _sum_k(x: np.ndarray) -> np.ndarray:
    """``x.sum(axis=1)`` over interventions; with one intervention, that one's values."""
    return x[:, 0] if x.shape[1] == 1 else x.sum(axis=1)


def _by_ward(s: State, x: np.ndarray) -> np.ndarray:
    """A per-post (N, ...) array as (W, posts per ward, ...), a view."""
    return x.reshape(s.W, s.cpw, *x.shape[1:])


def _by_hosp(s: State, x: np.ndarray) -> np.ndarray:
    """A per-post array, as (W, posts per ward, K) or (N, K), as (H, posts per hospital, K)."""
    return x.reshape(s.H, s.wph * s.cpw, s.K)


def clinician_use(s: State, p: NS) -> None:
    """Who uses each intervention today, how faithfully, and what is reported.

    Claims: use needs engagement and free time (workload against staffing; concurrent
    interventions compete for the same minutes); a mandate raises use far more than
    faithfulness, since forced use is faithful only as far as the user is engaged (and
    skilled); unmodified tools are not used as intended 'regardless of reported
    compliance': monitoring that counts ticks inflates reported compliance, more under
    strong mandates or an inspection, and less where the tool was locally adapted and owned.
    """
    c, iv = p.clinicians, p.iv
    N, K = s.N, s.K
    # p_use = sigmoid((engagement - threshold) / width), raised by a mandate to
    # p_use + (1 - p_use) * mandate, nil on wards not running it, scaled to free time
    p_use = s.c_eng - c.use_threshold
    p_use /= c.use_width
    p_use = _sigmoid_into(p_use)
    mandated = np.count_nonzero(s.mandate)
    if mandated:  # (adding no mandate would leave p_use as it is)
        _by_hosp(s, p_use)[...] += _by_hosp(s, 1.0 - p_use) * s.mandate[:, None, :]
    p_use = _by_ward(s, p_use)  # (W, posts per ward, K)
    if np.count_nonzero(s.w_active) < s.W * K:  # (with every ward active, np.where would copy it)
        p_use = np.where(s.w_active[:, None, :], p_use, 0.0)
    free, free_post = free_time(s, p)
    s.w_free_time = free
    need = _unprotected_burden(s, p)
    if iv.n_practised[s.day % 7] < K:  # a briefing is not held at weekends: it takes none of
        need = need * iv.practised[s.day % 7]  # the day's time (nor the time others are used in)
    demand = (p_use * need[:, None, :]).reshape(N, K)
    demand = demand[:, 0] if K == 1 else demand.sum(axis=1)  # a sum of one term is that term
    scale = np.minimum(1.0, free_post / np.maximum(demand, 1e-12))
    p_use = p_use.reshape(N, K)
    p_use *= scale[:, None]
    s.today["qi_time_expected"] = demand * scale  # never more than the clinician's free time
    s.today["free_time"] = free_post
    use = s.rng["use"].random(p_use.shape) < p_use

    q = c.fidelity_floor + (1.0 - c.fidelity_floor) * s.c_eng
    q *= s.c_skill if iv.full_core else s.c_skill * iv.core  # (x 1.0 changes nothing)
    faithful = use & (s.rng["faithful"].random(q.shape) < q)
    use, faithful = briefings_meet(s, p, use, faithful)

    # tick_rate = (ticks + (1 - ticks) * tick_leak) * (1 - adaptation), overreport_rate =
    # overreport * (1 - adaptation): parameters, derived once (sim.state.make_params)
    if mandated or np.count_nonzero(s.inspection):
        pressure = 1.0 - (1.0 - s.mandate) * (1.0 - s.inspection)[:, None]  # (H, K)
        tick = (pressure[s.ward_hosp] * iv.tick_rate * s.w_active)[:, None, :]  # (W, 1, K)
    else:  # no pressure (1 - 1 x 1 = 0): no ticks (a zero's sign compares the same)
        tick = 0.0
    over = np.maximum(iv.overreport_rate, tick)
    u = _by_ward(s, s.rng["report"].random(q.shape))
    use3, faithful3 = _by_ward(s, use), _by_ward(s, faithful)
    # reported = faithful | (use & (u < over)) | (~use & (u < tick)): users' threshold is
    # ``over``, non-users' ``tick``
    reported = faithful3 | (u < np.where(use3, over, tick))
    # Briefings happen on working days only: at weekends practice stays as it was
    # (the numbers are drawn all the same, so the streams stay in step).
    today = iv.practised[s.day % 7]  # ((day % 7) < 5) | ~briefing
    s.practice_today = today
    if iv.n_practised[s.day % 7] == K:
        s.c_use, s.c_faithful, s.c_reported = use, faithful, reported.reshape(N, K)
    elif iv.n_practised[s.day % 7]:
        s.c_use = np.where(today, use, s.c_use)
        s.c_faithful = np.where(today, faithful, s.c_faithful)
        s.c_reported = np.where(today, reported.reshape(N, K), s.c_reported)


def _unprotected_burden(s: State, p: NS) -> np.ndarray:
    """Each intervention's share of a shift on each ward not covered by protected time: (W, K)."""
    return p.iv.burden * (1.0 - s.w_protected)


def free_time(s: State, p: NS) -> tuple[np.ndarray, np.ndarray]:
    """Each ward's and each post's share of time free of clinical work and of an EHR
    roll-out's demands: (W,) and (N,)."""
    if np.count_nonzero(s.ehr):
        free = 1.0 - s.w_workload
        free -= p.organisation.ehr_time_cost * s.ehr[s.ward_hosp]
        free = np.maximum(0.0, free)
        return free, free.repeat(s.cpw)
    return s.once("free_time", lambda: _no_ehr_free_time(s))  # the workload never changes


def _no_ehr_free_time(s: State) -> tuple[np.ndarray, np.ndarray]:
    """:func:`free_time` without an EHR roll-out: the workload's complement, which never changes."""
    free = np.maximum(0.0, 1.0 - s.w_workload)
    return free, free.repeat(s.cpw)


def learning_and_value(s: State, p: NS) -> None:
    """Skill grows with use and training and fades without; perceived value tracks experience.

    Claims: active involvement is more likely with protected time for training; staff
    who found the intervention useful for their own practice saw it as a reward. A
    briefing that was not held is no experience of it for those ready to take part: their
    skill does not fade and their sense of its value does not move that day.
    """
    c, iv = p.clinicians, p.iv
    today = s.practice_today  # (K,): briefings are practised on working days only
    practised = iv.n_practised[s.day % 7]
    # nothing practised happens only at weekends, when there is no training either: skill
    # and value would gain and lose 0 (never -0.0)
    if not practised:
        return
    if practised == s.K:  # (x True changes nothing)
        use, unused, rate = s.c_use, ~s.c_use, c.value_rate
    else:
        use, unused, rate = s.c_use * today, ~s.c_use * today, c.value_rate * today
    if s.c_missed is not None:  # ready for a briefing that was not held: neither used nor unused
        unused = unused * ~s.c_missed
        rate = rate * ~s.c_missed
    train = s.w_train if (s.day % 7) < 5 else np.zeros_like(s.w_train)  # sessions on working days
    practice = np.minimum(1.0, _by_ward(s, use) + train[:, None, :]).reshape(s.N, s.K)
    # skill += learning * practice * (1 - skill) - decay * unused * skill, in place
    gain = practice
    gain *= c.skill_learning
    gain *= 1.0 - s.c_skill
    loss = c.skill_decay * unused
    loss *= s.c_skill
    gain -= loss
    s.c_skill += gain
    # value += value_rate * today * (use * usefulness * skill - value), in place
    experience = use * iv.usefulness_clinicians
    experience *= s.c_skill
    experience -= s.c_value
    experience *= rate
    s.c_value += experience


def raise_issues(s: State, p: NS) -> None:
    """Using the intervention surfaces issues, which clinicians raise or, discouraged, do not.

    Claim: structured briefings identify risks daily; an unresolved backlog of issues
    that need managerial authority discourages raising more. Agreement that an issue
    needs change is computed later, from its severity and how it serves each side.
    """
    iv, isp = p.iv, p.issues
    use_share = s.ward_mean(s.c_use)
    faithful_share = s.ward_mean(s.c_faithful)
    quality = np.divide(faithful_share, use_share, out=np.zeros(use_share.shape), where=use_share > 0)
    # (where every intervention is a briefing, np.where would turn the booleans to 1.0 and 0.0,
    # as the product below does)
    sessions = s.w_briefing if iv.briefing_all else np.where(iv.briefing, s.w_briefing, use_share)
    backlog = s.today["backlog_mgr"] if "backlog_mgr" in s.today else np.zeros(s.W)
    discourage = np.exp(-isp.backlog_sensitivity * backlog / s.cpw)
    lam = iv.issues_per_session * sessions * quality * discourage[:, None]
    if not p.actions.clinician.raise_issues:  # (x True would change nothing)
        lam = lam * p.actions.clinician.raise_issues
    r = s.rng["issues"]
    counts = _poisson(r, lam).ravel()
    total = int(np.add.reduce(counts))
    s.today["use_share"], s.today["faithful_share"] = use_share, faithful_share
    s.today["raised"] = counts.reshape(s.W, s.K)
    if total == 0:
        s.today["board_issues"] = np.zeros((s.H, s.K))
        return
    if s.K == 1:  # (a cell is its ward)
        ward, k = np.arange(s.W).repeat(counts), np.zeros(total, dtype=np.intp)
    else:
        ward, k = np.divmod(np.arange(s.W * s.K).repeat(counts), s.K)
    u = r.random((total, 3))
    authority = (u[:, 0] > 1 - isp.share_cross_department - isp.share_board).astype(np.int8)
    authority += u[:, 0] > 1 - isp.share_board
    fit = s.m_fit_plans[s.ward_mgr[ward], k]
    s.issues.add(
        ward=ward,
        k=k,
        raised=s.day,
        severity=r.beta(isp.severity_a, isp.severity_b, total),
        authority=authority,
        c_fit=u[:, 1],
        m_fit=np.clip(fit + isp.fit_jitter * (2.0 * u[:, 2] - 1.0), 0.0, 1.0),
    )
    cell = s.ward_hosp[ward] if s.K == 1 else s.ward_hosp[ward] * s.K + k  # hospital and intervention
    board = np.bincount(cell, weights=authority == 2, minlength=s.H * s.K)
    s.today["board_issues"] = board.reshape(s.H, s.K) / s.wph


def briefings_meet(s: State, p: NS, use: np.ndarray, faithful: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A briefing is a meeting: it is used on a ward only on the days it is held there.

    Claim: the briefing 'piggybacked onto existing staff meetings'; a clinician takes part
    in it, faithfully or not, only when the ward's briefing takes place. Whether it does
    is drawn from the share of the ward's clinicians ready to take part (the use drawn for
    today, ``use``: (N, K)) by :func:`briefing_held`; on a ward whose briefing is not held,
    nobody uses it today, faithfully or not, nor raises an issue in it. Those who were
    ready are kept in ``s.c_missed``: a meeting that did not take place teaches them
    nothing and tells them nothing of its worth (:func:`learning_and_value`). Sets
    ``s.w_briefing`` and returns ``use`` and ``faithful`` with the briefings that were not
    held taken out. Interventions that are not briefings are used whatever happens to
    the briefing.
    """
    iv = p.iv
    held = briefing_held(s, p, s.ward_mean(use))
    held &= s.w_active
    held &= iv.briefing
    s.w_briefing = held
    s.c_missed = None
    if (s.day % 7) >= 5:  # at weekends nothing is held, and briefings are not practised
        return use, faithful
    met = held if iv.briefing_all else held | ~iv.briefing  # (W, K): where use stands today
    if met.all():  # (every ward's briefing held: nothing to take out)
        return use, faithful
    met = met.repeat(s.cpw, axis=0)  # (N, K): each post's ward
    s.c_missed = use & ~met
    return use & met, faithful & met


def briefing_held(s: State, p: NS, use_share: np.ndarray) -> np.ndarray:
    """Whether each ward's briefing can be held today: (W, K) booleans, drawn every day
    (at a weekend, when none is held, the numbers are drawn all the same: the stream stays
    in step).

    Claim: the briefing 'piggybacked onto existing staff meetings'; it is held when enough
    of the shift takes part, and not every day even then (an emergency, a short-staffed
    shift). HEADS-UP reported briefings on a median 80% of working days (IQR 65-90%):
    held with probability issues.briefing_reliability x sigmoid((use share -
    issues.briefing_quorum) / issues.briefing_spread).
    """
    draws = s.rng["briefing"].random(use_share.shape)
    if (s.day % 7) >= 5:
        return np.zeros(use_share.shape, dtype=bool)
    isp = p.issues
    # (a steep spread can push the logit past what exp can take; beyond +/-60 the chance is 0 or 1)
    # (np.clip's result, without its Python wrapper: the bounds are not 0, so no zero's sign differs)
    logit = (use_share - isp.briefing_quorum) / isp.briefing_spread
    hold = sigmoid(np.minimum(np.maximum(logit, -60.0), 60.0))
    hold *= isp.briefing_reliability
    return draws < hold


def resolve_issues(s: State, p: NS) -> None:
    """Open issues are resolved only with agreement, the right authority and capacity.

    Claim (Box 2): resolution depends less on an issue's inherent threat than on
    clinicians and managers agreeing that it needs change; each side agrees by severity
    and by how well the issue serves its priorities. Ward issues need the ward's
    manager, cross-department issues a manager who brokers them, board issues the board
    as well. Capacity is the managers' QI attention (or the facilitator's). Issues open
    longer than the lapse period close unresolved.
    """
    isp, st = p.issues, s.issues
    o = st.open
    cell = o["cell"]  # ward * K + k: per-cell values are gathered with one flat index
    # (gathers by cell use take's clip mode: the cells are in range, and it skips the bounds check)
    base = isp.agreement_bias + isp.w_severity * o["severity"]  # both sides weigh severity alike
    agreement = _agree(base, isp.w_priority, o["c_fit"], s.ward_mean(s.c_eng).take(cell, mode="clip"))
    agreement *= _agree(base, isp.w_priority, o["m_fit"], s.m_priority[s.ward_mgr].take(cell, mode="clip"))
    # what each authority needs, per cell: the ward's manager (or the facilitator standing
    # in for managers who do not resolve issues), a manager who brokers it, or that and
    # the board's focus
    needs = np.empty((s.W, s.K, 3))
    needs[:, :, 0] = 1.0 if p.actions.manager.resolve_issues else s.facil_present[s.ward_hosp][:, None]
    needs[:, :, 1] = s.w_broker
    needs[:, :, 2] = s.w_broker * s.b_focus[s.ward_hosp]
    # Each issue's pull on managers' time is its agreement x authority; a ward's
    # resolutions per day are capped by its managerial capacity.
    pull = isp.resolution_rate * agreement
    pull *= needs.take(o["acell"], mode="clip")
    WK = s.W * s.K
    demand = _sum_by(cell, pull, WK).reshape(s.W, s.K)
    short = s.w_capacity < demand
    if np.count_nonzero(short):
        pull = triage(s, p, pull, agreement, cell, short)  # the hazard
    done = s.rng["resolution"].random(st.n_open) < pull
    idx = done.nonzero()[0]
    # open issues are in the order raised: those old enough to lapse come first
    old = st.raised_by(s.day - isp.lapse_days)
    lapse = (~done[:old]).nonzero()[0]
    dcell, dsev = cell[idx], o["severity"][idx]
    s.today["resolved_sev"] = np.bincount(dcell, weights=dsev, minlength=WK).reshape(s.W, s.K)
    if s.K == 1:  # (a cell is its ward, and every resolution is of the one intervention)
        s.today["resolved_k"] = np.array([len(idx)], dtype=np.intp)
        mcell = s.ward_mgr[dcell]
    else:
        dward, dk = np.divmod(dcell, s.K) if s.K else (dcell, dcell)
        s.today["resolved_k"] = np.bincount(dk, minlength=s.K)
        mcell = s.ward_mgr[dward] * s.K + dk
    s.today["resolved_fit"] = np.bincount(mcell, weights=dsev * o["m_fit"][idx], minlength=s.M * s.K)
    # per ward, the issues needing authority above the ward's resolved and lapsed today (7.15)
    s.today["resolved_above"] = _above_by_ward(s, o["acell"], idx)
    s.today["lapsed_above"] = _above_by_ward(s, o["acell"], lapse)
    st.close(idx, lapse, s.day, agreement)
    s.today["open_wk"], s.today["backlog_mgr"] = st.open_counts()


def _above_by_ward(s: State, acell: np.ndarray, which: np.ndarray) -> np.ndarray:
    """How many of the open issues at positions ``which`` need authority above the ward's
    (cross-department or board), per ward: (W,) floats."""
    if not len(which):
        return np.zeros(s.W)
    cell, authority = np.divmod(acell[which], 3)
    ward = cell if s.K == 1 else cell // s.K
    return np.bincount(ward, weights=authority > 0, minlength=s.W)  # (counts, as floats)


def triage(s: State, p: NS, pull, agreement, cell, short) -> np.ndarray:
    """Where a ward's open issues ask more than its managers' capacity, the capacity goes
    first to the issues both sides agree on: (n_open,) hazards.

    Claim (Box 2): resolution depended less on an issue's inherent threat than on
    clinicians and managers agreeing on the need for change; managers short of time
    spend it where that agreement is. Each issue's claim on the scarce capacity is its
    pull x agreement^issues.triage (0 = in proportion to its pull alone); no issue is
    resolved faster than its own pull, and a ward never resolves more than its capacity.
    """
    WK = s.W * s.K
    t = p.issues.triage
    weight = pull if not t else pull * agreement if t == 1.0 else pull * agreement**t  # (x^1 is x)
    claimed = _sum_by(cell, weight, WK)
    per_claim = s.w_capacity.ravel() / np.maximum(claimed, 1e-12)
    shared = np.minimum(pull, weight * per_claim.take(cell, mode="clip"))  # (cells are in range)
    return np.where(short.ravel().take(cell, mode="clip"), shared, pull)  # where capacity binds


def _poisson(rng: np.random.Generator, lam: np.ndarray) -> np.ndarray:
    """``rng.poisson(lam)``, skipped where every rate is 0: numpy's poisson returns 0 for a
    rate of 0 without drawing a number, so the stream is left as it would be."""
    if np.count_nonzero(lam):
        return rng.poisson(lam)
    return np.zeros(lam.shape, dtype=np.int64)


def _sum_by(index: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """``np.bincount(index, weights, minlength=n)``: each bin's weights added one after another,
    in order from 0.0. ``np.add.at`` adds them in the same order, and is faster on long arrays
    (about 20 us on 52,000 open issues) though slower on short ones."""
    if len(index) < 4096:
        return np.bincount(index, weights=weights, minlength=n)
    total = np.zeros(n)
    np.add.at(total, index, weights)
    return total


def _agree(base: np.ndarray, w_priority: float, fit: np.ndarray, level: np.ndarray) -> np.ndarray:
    """One side's agreement that issues need change: sigmoid(base + w_priority * (fit + level - 1)),
    computed in place in ``level`` (the priority of the issue's cell, as gathered)."""
    level += fit  # = fit + level
    level -= 1.0
    level *= w_priority
    level += base
    return _sigmoid_into(level)


def _sigmoid_into(z: np.ndarray) -> np.ndarray:
    """:func:`sigmoid` computed in place in ``z`` (the same operations; no temporaries)."""
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1.0
    return np.divide(1.0, z, out=z)


def feedback_from_issues(s: State, p: NS) -> None:
    """Resolved issues improve care and feed back as value to clinicians and usefulness to managers.

    Claim: where the intervention generated information that bolstered managers' business
    plans, they coordinated and backed it; clinicians saw improved care as a reward.
    """
    isp, m = p.issues, p.managers
    resolved = s.today["resolved_sev"]
    s.w_improve *= improvement_kept(s, p)
    s.w_improve += isp.improvement_per_resolution * resolved
    gain = np.minimum(1.0, isp.value_per_resolution * resolved / s.cpw)
    value = (_by_ward(s, s.c_value) + gain[:, None, :]).reshape(s.N, s.K)
    s.c_value = np.minimum(1.0, value, out=value)
    # managers notice what the resolutions do for their plans in proportion to their
    # attention, or as far as a present facilitator brings the information to them
    attention = np.minimum(1.0, s.m_share / m.qi_share_full)
    if np.count_nonzero(s.facil_present):
        brought = (p.facilitation.strength * s.facil_present)[s.mgr_hosp][:, None]
    else:  # (no facilitator brings anything: 0 x strength)
        brought = 0.0
    useful = s.today["resolved_fit"].reshape(s.M, s.K) * np.maximum(attention, brought)
    s.m_useful = np.minimum(1.0, s.m_useful * (1.0 - m.usefulness_decay) + m.usefulness_gain * useful)


def improvement_kept(s: State, p: NS) -> np.ndarray:
    """Share of each ward's improvement to care that survives the day: (W, K).

    Claim: a fix made by resolving an issue (a changed procedure, rota or piece of
    equipment) lasts only while someone keeps it in place; gains are sustained where the
    front line keeps running the practice that spots slippage and the middle manager
    owns the change (Keystone, with managers engaged, sustained its reduction to 36
    months; scale-ups with weak managerial collaboration did not beat the secular
    trend). Maintenance = the ward's remembered use x its manager's QI priority; the
    daily decay blends the maintained and unmaintained half-lives by it.
    """
    isp = p.issues
    maintained = s.w_use_ema * s.m_priority[s.ward_mgr]
    rate = math.log(2.0) / isp.improvement_half_life_unmaintained  # (math.log: np.log's value, faster)
    rate = rate + (math.log(2.0) / isp.improvement_half_life - rate) * maintained
    return np.exp(-rate)


def initiative_fatigue(s: State, p: NS) -> list[tuple[int, int]]:
    """Fad belief rises as issues needing authority above the ward's go unresolved and as
    initiatives are abandoned, and falls as such issues are resolved and while an
    intervention visibly works.

    Claim: clinicians, believing each 'fad' will soon be replaced, see little point in
    investing in any one initiative; an unresolved backlog breeds cynicism ('disillusionment
    ... ensues'), read as the evidence a ward sees: each issue it raised that needed
    authority above the ward and lapsed unresolved, against each one resolved. Issues
    still in progress are no evidence either way. Returns the (ward, intervention) pairs
    abandoned today.
    """
    c = p.clinicians
    use = s.today["use_share"]
    s.w_use_ema += (use - s.w_use_ema) / p.spread.use_memory
    s.w_use_peak = np.maximum(s.w_use_peak, s.w_use_ema)
    dropped = (
        ~s.w_abandoned
        & (s.w_use_peak > p.spread.running_threshold)
        & (s.w_use_ema < c.abandon_fraction * s.w_use_peak)
    )
    s.w_abandoned |= dropped
    # the interventions running on the ward visibly work in proportion to their fidelity
    running = _sum_k(s.w_active)
    if np.count_nonzero(s.w_active) == s.W * s.K:  # every ward runs every intervention (x True: no change)
        fid = _sum_k(s.today["faithful_share"]) / max(s.K, 1)
    else:
        fid = _sum_k(s.today["faithful_share"] * s.w_active) / np.maximum(running, 1)
    ward_delta = (
        (c.fad_per_lapse * s.today["lapsed_above"] - c.fad_per_resolution * s.today["resolved_above"]) / s.cpw
        + c.fad_per_abandonment * _sum_k(dropped)
        - c.fad_recovery * fid
    )
    fad = (_by_ward(s, s.c_fad) + ward_delta[:, None]).reshape(s.N)
    s.c_fad = fad.clip(0.0, 1.0, out=fad)
    return [tuple(x) for x in np.argwhere(dropped)] if np.count_nonzero(dropped) else []


def patient_outcome(s: State, p: NS) -> None:
    """Harms per ward against a counterfactual drawn from the same random numbers.

    Claims: QI struggles to outperform the secular trend toward system-wide improvement;
    the intervention works through faithful use (a checklist) or through the issues it
    resolves (a briefing). The counterfactual is the same ward without the intervention:
    its harms are drawn first, and the harms with the intervention are a binomial
    thinning of them, so both share every random number.
    """
    o, iv = p.outcome, p.iv
    s.w_fid_ema += (s.today["faithful_share"] - s.w_fid_ema) / o.fidelity_lag
    through_issues = iv.effect_max * (1.0 - np.exp(-s.w_improve))
    if iv.issues_pathway_all:  # (np.where would copy these)
        effect_k = through_issues
    else:
        effect_k = np.where(iv.issues_pathway, through_issues, iv.effect_max * s.w_fid_ema)  # through use
    if s.K == 1:
        effect = 1.0 - (1.0 - effect_k[:, 0])  # the product of one factor is that factor
    else:
        effect = 1.0 - np.prod(1.0 - effect_k, axis=1) if s.K else np.zeros(s.W)
    r = s.rng["outcome"]
    trend = (1.0 - o.secular_trend) ** (s.day / 365.0)
    noise = np.exp(s.rng["outcome_noise"].normal(-0.5 * o.noise_sd**2, o.noise_sd, s.W))
    # = harm_rate_baseline / 1000 x bed days x acuity x trend x noise, its first terms constant
    base = s.once("harm_base", lambda: o.harm_rate_baseline / 1000.0 * s.w_bed_days * s.w_acuity)
    lam_cf = base * trend * noise
    harms_cf = _poisson(r, lam_cf)
    # a stream of its own: how many numbers the thinning uses depends on the effect, and
    # the counterfactual's stream must not depend on it
    if np.count_nonzero(harms_cf):
        harms = s.rng["outcome_thinning"].binomial(harms_cf, 1.0 - effect)
    else:  # thinning no harm gives none, and numpy's binomial draws nothing for n = 0
        harms = np.zeros(s.W, dtype=np.int64)
    s.today.update(effect=effect, lam_cf=lam_cf, harms_cf=harms_cf, harms=harms)


def measure_alignment(s: State, p: NS) -> None:
    """Alignment per ward: how far the three levels share the QI priority (observation only).

    Claim: QI succeeds when it meets the aligned interests of clinicians, middle managers
    and the board. Index = geometric mean of the ward's clinician engagement, its
    manager's priority and its board's focus on the primary intervention: 1 only when
    all three prioritise it, 0 when any level gives it none. No rule reads it.
    """
    if s.K == 0:
        z = np.zeros(s.W)
        s.today.update(level_c=z, level_m=z, level_b=z, alignment=z, spread=z)
        return
    lc = s.ward_mean(s.c_eng[:, 0])
    lm = s.m_priority[s.ward_mgr, 0]
    lb = s.b_focus[s.ward_hosp, 0]
    s.today.update(
        level_c=lc,
        level_m=lm,
        level_b=lb,
        alignment=np.cbrt(lc * lm * lb),
        spread=np.maximum(np.maximum(lc, lm), lb) - np.minimum(np.minimum(lc, lm), lb),
    )


def turnover_and_rotation(s: State, p: NS) -> tuple[int, int]:
    """Posts change holders: junior doctors rotate together, and staff leave at a yearly rate.

    Claim: QI participation must survive staff change (junior doctors rotate and value
    career credit); new holders start unfamiliar with the intervention. Returns how many
    junior posts rotated and how many other posts changed holder today.
    """
    c = p.clinicians
    u = s.rng["turnover"].random((2, s.N))
    leave = u[0] < c.turnover_per_year / 365.0
    if c.rotation_days and s.day >= c.rotation_start and (s.day - c.rotation_start) % c.rotation_days == 0:
        rotate = s.c_group == 1
        replace_posts(s, p, leave | rotate, u[1])
        return int(rotate.sum()), int((leave & ~rotate).sum())
    replace_posts(s, p, leave, u[1])  # no rotation today
    return 0, int(np.count_nonzero(leave))


def replace_posts(s: State, p: NS, mask: np.ndarray, u: np.ndarray) -> None:
    """New holders of the posts in ``mask``: unfamiliar with the interventions, no skill.

    Whether a newcomer is a champion is drawn afresh (``u`` < champion share); a
    champion starts at the champions' engagement (or the initial mean, if higher),
    anyone else at the initial mean.
    """
    posts = mask.nonzero()[0]
    if not len(posts):
        return
    org, c = p.organisation, p.clinicians
    champion = u[posts] < org.champion_share
    changed = posts[champion != s.c_champion[posts]]
    s.c_champion[posts] = champion
    s.c_eng_start[posts] = np.where(
        champion, max(org.champion_engagement, c.engagement_initial), c.engagement_initial
    )
    s.c_eng[posts] = s.c_eng_start[posts][:, None]
    s.c_skill[posts] = 0.0
    s.c_value[posts] = 0.0
    s.c_fad[posts] = c.fad_belief_initial
    if len(changed):
        wards = np.unique(s.c_ward[changed])
        s.update_tie_weights(wards)
        s.w_champions[wards] = s.c_champion.reshape(s.W, s.cpw)[wards].sum(axis=1)


def _mgr_to_hosp(s: State, x: np.ndarray) -> np.ndarray:
    """Mean over each hospital's managers of an (M, K) array."""
    return np.add.reduce(x.reshape(s.H, s.M // s.H, s.K), axis=1) / (s.M // s.H)  # = mean(axis=1)
