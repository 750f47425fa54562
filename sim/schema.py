"""The scenario schema: every key a scenario may set, with its type, unit, default,
allowed range and meaning.

This table is the single source of truth for scenario files, ``--set`` overrides,
validation errors and the parameter tables of ``docs/ODD.md``.  A scenario file only
states where it differs from these defaults.

Keys are dotted paths (``incentives.manager.performance_review``).  Two keys hold lists
of tables: ``interventions`` (each entry described by :data:`INTERVENTION`) and
``events`` (each entry described by :data:`EVENT`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Param:
    """One scenario key.

    ``kind`` is ``float``, ``int``, ``bool`` or ``str``; ``lo``/``hi`` bound numbers
    (inclusive); ``choices`` restricts strings.
    """

    key: str
    kind: type
    default: Any
    unit: str
    doc: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] | None = None

    def allowed(self) -> str:
        """Human-readable statement of the allowed values."""
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            return "a string"
        name = "an integer" if self.kind is int else "a number"
        if self.lo is not None and self.hi is not None:
            return f"{name} from {_fmt(self.lo)} to {_fmt(self.hi)}"
        if self.lo is not None:
            return f"{name} >= {_fmt(self.lo)}"
        return name


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def F(key, default, lo, hi, unit, doc):  # noqa: N802 - table constructor
    return Param(key, float, float(default), unit, doc, lo, hi)


def I(key, default, lo, hi, unit, doc):  # noqa: N802, E743 - table constructor
    return Param(key, int, int(default), unit, doc, lo, hi)


def B(key, default, doc):  # noqa: N802 - table constructor
    return Param(key, bool, bool(default), "-", doc)


def S(key, default, doc, choices=None):  # noqa: N802 - table constructor
    return Param(key, str, default, "-", doc, choices=choices)


SECTIONS: dict[str, str] = {
    "": "Identity and horizon",
    "organisation": "Organisation: hospitals, wards, staff",
    "clinicians": "Front-line clinicians",
    "managers": "Middle managers",
    "board": "Board (senior managers)",
    "incentives.clinician": "Incentives for clinicians",
    "incentives.manager": "Incentives for middle managers",
    "incentives.board": "Incentives for the board",
    "actions.clinician": "Actions of clinicians",
    "actions.manager": "Actions of middle managers",
    "actions.board": "Actions of the board",
    "facilitation": "External facilitation",
    "spread": "Spread between wards",
    "issues": "The issue loop",
    "outcome": "Patient outcome",
    "workflow": "Prospective workflow (strategic selection)",
}

PARAMS: list[Param] = [
    # -- identity -------------------------------------------------------------------
    S("name", "custom", "Short name of the scenario (presets: the file name)."),
    S("title", "", "One-line title shown by `qisim scenarios`."),
    S("description", "", "What the scenario shows and what to notice, for a trainer to read aloud."),
    I("days", 730, 1, 7300, "days", "Length of a run (one step is one day)."),
    I("seed", 1, 0, 2**63 - 1, "-", "Default random seed when none is given on the command line."),
    # -- organisation ---------------------------------------------------------------
    I("organisation.hospitals", 1, 1, 500, "hospitals", "Number of hospitals (organisations)."),
    I("organisation.wards_per_hospital", 12, 1, 100, "wards", "Wards in each hospital."),
    I("organisation.clinicians_per_ward", 25, 2, 500, "clinicians", "Clinical posts on each ward."),
    I(
        "organisation.wards_per_manager",
        2,
        1,
        20,
        "wards",
        "Wards that one middle manager spans; managers per hospital = ceil(wards / this).",
    ),
    F(
        "organisation.share_consultant",
        0.2,
        0,
        1,
        "share",
        "Probability that a post is held by a consultant (drawn post by post).",
    ),
    F(
        "organisation.share_junior",
        0.3,
        0,
        1,
        "share",
        "Probability that a post is held by a junior doctor (drawn post by post).",
    ),
    F(
        "organisation.share_nurse",
        0.5,
        0,
        1,
        "share",
        "Probability that a post is held by a nurse (drawn post by post); the three must sum to 1.",
    ),
    I("organisation.beds_per_ward", 28, 1, 200, "beds", "Beds on each ward."),
    F("organisation.occupancy", 0.9, 0.1, 1, "share", "Bed occupancy; bed-days per day = beds x occupancy."),
    F(
        "organisation.workload_mean",
        0.85,
        0.3,
        0.99,
        "share of a shift",
        "Mean share of a clinician's shift taken by clinical work (workload against staffing).",
    ),
    F(
        "organisation.workload_sd",
        0.04,
        0,
        0.3,
        "share of a shift",
        "Spread of workload between wards (ward heterogeneity in staffing).",
    ),
    F(
        "organisation.acuity_sd",
        0.25,
        0,
        1.5,
        "log-scale sd",
        "Spread of baseline patient risk between wards (lognormal).",
    ),
    I("organisation.peer_ties", 4, 0, 30, "ties", "Peer ties of each clinician, drawn within the ward."),
    F("organisation.champion_share", 0.08, 0, 1, "share", "Share of clinicians who are QI champions."),
    I(
        "organisation.initial_concentration",
        10,
        1,
        1000,
        "-",
        "Concentration (Beta) of clinicians' starting engagement and fad belief around their means.",
    ),
    F(
        "organisation.ehr_time_cost",
        0.1,
        0,
        0.5,
        "share of a shift",
        "Share of a clinician's shift that an EHR roll-out at full strength takes.",
    ),
    F(
        "organisation.champion_engagement",
        0.7,
        0,
        1,
        "share",
        "Champions' engagement with a new intervention at launch (at least clinicians.engagement_initial).",
    ),
    F(
        "organisation.champion_weight",
        3.0,
        1,
        20,
        "x",
        "Weight of a champion's engagement in peers' influence relative to another peer.",
    ),
    # -- clinicians -----------------------------------------------------------------
    F(
        "clinicians.engagement_initial",
        0.2,
        0,
        1,
        "share",
        "Mean engagement with a new intervention at launch.",
    ),
    F(
        "clinicians.fad_belief_initial",
        0.3,
        0,
        1,
        "share",
        "Initial belief that initiatives are short-lived fads (initiative fatigue).",
    ),
    F(
        "clinicians.adjust_rate",
        0.03,
        0.001,
        0.5,
        "1/day",
        "Rate at which engagement moves toward its target each day.",
    ),
    F(
        "clinicians.responsiveness_consultant",
        0.6,
        0,
        3,
        "x",
        "Consultants' responsiveness (multiplies adjust_rate).",
    ),
    F("clinicians.responsiveness_junior", 1.2, 0, 3, "x", "Junior doctors' responsiveness."),
    F("clinicians.responsiveness_nurse", 1.0, 0, 3, "x", "Nurses' responsiveness."),
    F(
        "clinicians.career_weight_junior",
        1.0,
        0,
        3,
        "x",
        "How much junior doctors value career credit from QI (others value it at career_weight_other).",
    ),
    F(
        "clinicians.career_weight_other",
        0.3,
        0,
        3,
        "x",
        "How much consultants and nurses value career credit.",
    ),
    F("clinicians.bias", -2.7, -10, 10, "logit", "Baseline disposition toward QI with no drivers."),
    F("clinicians.w_incentive", 0.5, 0, 10, "logit per unit", "Weight of incentives on engagement."),
    F(
        "clinicians.w_value",
        3.0,
        0,
        10,
        "logit per unit",
        "Weight of the intervention's perceived value (own use and issues resolved).",
    ),
    F(
        "clinicians.w_support",
        0.4,
        0,
        10,
        "logit per unit",
        "Weight of managers' expressed support (words without resources).",
    ),
    F(
        "clinicians.w_backing",
        1.5,
        0,
        10,
        "logit per unit",
        "Weight of managers' real backing (support with resources).",
    ),
    F("clinicians.w_protected_time", 1.0, 0, 10, "logit per unit", "Weight of protected time for QI."),
    F("clinicians.w_peer", 1.5, 0, 10, "logit per unit", "Weight of peers' engagement (centred on 0.5)."),
    F("clinicians.w_codesign", 0.5, 0, 10, "logit", "Boost from having co-designed the intervention."),
    F(
        "clinicians.w_face_validity",
        0.8,
        0,
        10,
        "logit per unit",
        "Weight of the intervention's face validity.",
    ),
    F("clinicians.w_adaptation", 0.5, 0, 10, "logit per unit", "Weight of local adaptation on acceptance."),
    F("clinicians.w_facilitator", 2.0, 0, 10, "logit", "Boost while the external facilitator is present."),
    F("clinicians.w_champion", 1.5, 0, 10, "logit", "Champions' own commitment to the intervention."),
    F("clinicians.w_fad", 2.0, 0, 10, "logit per unit", "Weight of the belief that initiatives are fads."),
    F(
        "clinicians.w_accountability",
        1.5,
        0,
        10,
        "logit per unit",
        "Weight of being held to account by managers, up to the micromanagement threshold.",
    ),
    F(
        "clinicians.w_micromanagement",
        2.0,
        0,
        10,
        "logit per unit",
        "Cost of micromanagement (accountability beyond the threshold) to intrinsic motivation.",
    ),
    F(
        "clinicians.w_load",
        0.4,
        0,
        10,
        "logit per initiative",
        "Cost of each other concurrent initiative competing for clinicians' attention, when the "
        "running initiatives together fill their free time (in proportion to the share they fill).",
    ),
    F(
        "clinicians.use_threshold",
        0.35,
        0,
        1,
        "share",
        "Engagement at which half of clinicians use the intervention.",
    ),
    F("clinicians.use_width", 0.08, 0.01, 1, "share", "Width of the engagement-to-use curve."),
    F(
        "clinicians.fidelity_floor",
        0.3,
        0,
        1,
        "share",
        "Faithfulness of use by an unengaged but skilled user (1 = engagement does not matter).",
    ),
    F("clinicians.skill_learning", 0.02, 0, 1, "1/day", "Skill gained per day of use (toward 1)."),
    F("clinicians.skill_decay", 0.002, 0, 0.1, "1/day", "Skill lost per day of non-use."),
    F(
        "clinicians.value_rate",
        0.02,
        0.001,
        0.5,
        "1/day",
        "Rate at which perceived value tracks own experience of the intervention.",
    ),
    F(
        "clinicians.fad_per_launch",
        0.08,
        0,
        1,
        "share",
        "Rise in fad belief at each launch of an initiative.",
    ),
    F(
        "clinicians.fad_per_abandonment",
        0.1,
        0,
        1,
        "share",
        "Rise in fad belief when a ward abandons an initiative.",
    ),
    F(
        "clinicians.fad_per_lapse",
        0.5,
        0,
        5,
        "share per (issue per ward clinician)",
        "Rise in the ward's fad belief for each issue it raised that needed cross-department or "
        "board authority and lapsed unresolved, divided by the ward's clinicians.",
    ),
    F(
        "clinicians.fad_per_resolution",
        0.03,
        0,
        1,
        "share per (issue per ward clinician)",
        "Fall in the ward's fad belief for each issue it raised that needed cross-department or "
        "board authority and was resolved, divided by the ward's clinicians.",
    ),
    F(
        "clinicians.fad_recovery",
        0.0005,
        0,
        0.1,
        "1/day",
        "Daily fall in fad belief while the intervention visibly works (in proportion to ward fidelity).",
    ),
    I("clinicians.rotation_days", 120, 0, 730, "days", "Junior doctors' rotation period (0 = no rotation)."),
    I(
        "clinicians.rotation_start",
        30,
        0,
        7300,
        "day",
        "Day of the first rotation of junior doctors; all junior posts change together.",
    ),
    F(
        "clinicians.abandon_fraction",
        0.5,
        0,
        1,
        "share",
        "A ward abandons an intervention when its remembered use falls below this share of its peak.",
    ),
    F("clinicians.turnover_per_year", 0.1, 0, 1, "1/year", "Share of posts changing holder per year."),
    # -- managers -------------------------------------------------------------------
    F("managers.priority_initial", 0.15, 0, 1, "share", "Initial QI priority of middle managers."),
    F(
        "managers.adjust_rate",
        0.02,
        0.001,
        0.5,
        "1/day",
        "Rate at which managers' priority moves toward its target.",
    ),
    F("managers.bias", -2.2, -10, 10, "logit", "Baseline disposition of managers toward QI."),
    F("managers.w_review", 2.0, 0, 10, "logit per unit", "Weight of QI in managers' performance reviews."),
    F("managers.w_recognition", 1.0, 0, 10, "logit per unit", "Weight of recognition for managers."),
    F(
        "managers.w_usefulness",
        3.0,
        0,
        10,
        "logit per unit",
        "Weight of the intervention's usefulness to the manager's business plans (fed by resolved issues).",
    ),
    F("managers.w_emphasis", 1.5, 0, 10, "logit per unit", "Weight of senior (board) emphasis."),
    F("managers.clinical_share", 0.3, 0, 0.9, "share of time", "Hybrid managers' time on clinical duties."),
    F(
        "managers.operational_demand",
        2.0,
        0,
        20,
        "salience",
        "Salience of operational priorities (budget, flow, targets) against QI at full priority (1).",
    ),
    F(
        "managers.qi_share_full",
        0.33,
        0.01,
        1,
        "share of attention",
        "Share of attention at which a manager's QI actions (accountability, training, brokering) "
        "are at full strength.",
    ),
    F(
        "managers.event_demand",
        2.0,
        0,
        20,
        "salience",
        "Salience of a merger or EHR roll-out at full strength, competing for managers' attention.",
    ),
    F(
        "managers.usefulness_gain",
        0.02,
        0,
        1,
        "per severity unit",
        "Rise in usefulness to business plans per resolved issue (severity-weighted, times its fit).",
    ),
    F("managers.usefulness_decay", 0.005, 0, 0.2, "1/day", "Daily decay of perceived usefulness."),
    F(
        "managers.micromanagement_threshold",
        0.6,
        0,
        1,
        "share",
        "Accountability pressure above which holding to account becomes micromanagement.",
    ),
    # -- board ----------------------------------------------------------------------
    F("board.focus_initial", 0.2, 0, 1, "share", "Initial board focus on the intervention."),
    I("board.meeting_interval", 30, 1, 365, "days", "Days between board meetings (focus changes only then)."),
    F("board.adjust_per_meeting", 0.25, 0, 1, "share", "How far focus moves toward its target at a meeting."),
    F(
        "board.external_salience",
        0.8,
        0,
        1,
        "share",
        "Share of the gap to its target left after the usual step (board.adjust_per_meeting) that "
        "the board's focus also closes at the first meeting after a regulator's endorsement of full "
        "strength (0 = no faster than usual).",
    ),
    F("board.bias", -1.5, -10, 10, "logit", "Baseline board disposition toward the intervention."),
    F("board.w_metrics", 2.0, 0, 10, "logit per unit", "Weight of quality metrics at board level."),
    F("board.w_protected_time", 2.0, 0, 10, "logit per unit", "Weight of protected board time for quality."),
    F("board.w_regulator", 2.0, 0, 10, "logit per unit", "Weight of regulator endorsement."),
    F(
        "board.endorsement_aligns",
        0.5,
        0,
        1,
        "share",
        "Share of the pull of external priorities on the board's focus that a full-strength regulator "
        "endorsement removes (the regulator's agenda and the programme coincide; held per hospital, "
        "as the endorsement is).",
    ),
    F("board.w_lobbying", 2.0, 0, 10, "logit per unit", "Weight of middle managers' lobbying."),
    F(
        "board.w_soft_intelligence",
        0.5,
        0,
        10,
        "logit per unit",
        "Weight of the soft intelligence from issues raised that need the board's authority.",
    ),
    F(
        "board.external_pressure",
        0.5,
        0,
        1,
        "share",
        "Pressure of externally imposed priorities (commissioners, inspectorate) on the board's agenda.",
    ),
    F("board.w_external", 2.0, 0, 10, "logit per unit", "Cost of external priorities to the board's focus."),
    F(
        "board.w_events",
        1.5,
        0,
        10,
        "logit per unit",
        "Cost of organisational events (merger) to board focus.",
    ),
    F(
        "board.w_load",
        0.5,
        0,
        10,
        "logit per initiative",
        "Cost to the board's focus of each other launched initiative still running on one of the "
        "hospital's wards, competing for its agenda.",
    ),
    I(
        "board.soft_intelligence_memory",
        30,
        1,
        365,
        "days",
        "Time constant over which the board registers issues that need its authority.",
    ),
    # -- incentives -----------------------------------------------------------------
    F("incentives.clinician.recognition", 0.0, 0, 1, "strength", "Recognition of clinicians' QI work."),
    F(
        "incentives.clinician.career_credit",
        0.0,
        0,
        1,
        "strength",
        "Career credit for QI (valued most by junior doctors).",
    ),
    F(
        "incentives.clinician.performance_management",
        0.0,
        0,
        1,
        "strength",
        "QI in clinicians' formal performance management (applied by their managers).",
    ),
    F("incentives.manager.performance_review", 0.0, 0, 1, "strength", "QI in managers' performance reviews."),
    F("incentives.manager.recognition", 0.0, 0, 1, "strength", "Recognition of managers' QI work."),
    F("incentives.board.quality_metrics", 0.0, 0, 1, "strength", "Board-level use of quality metrics."),
    F("incentives.board.protected_quality_time", 0.0, 0, 1, "strength", "Protected board time for quality."),
    F(
        "incentives.board.regulator_endorsement",
        0.0,
        0,
        1,
        "strength",
        "Standing regulator endorsement of the intervention (an event can add it mid-run).",
    ),
    # -- actions --------------------------------------------------------------------
    B("actions.clinician.raise_issues", True, "Clinicians raise the issues the intervention surfaces."),
    B("actions.clinician.influence_peers", True, "Clinicians influence their peers' engagement."),
    F(
        "actions.manager.accountability",
        0.4,
        0,
        1,
        "strength",
        "How hard managers hold their area accountable (scaled by their QI attention).",
    ),
    F(
        "actions.manager.protected_time",
        0.0,
        0,
        1,
        "share",
        "Share of the intervention's time that managers protect (needs board resources).",
    ),
    F(
        "actions.manager.training",
        0.5,
        0,
        1,
        "strength",
        "Training managers arrange (scaled by their QI work).",
    ),
    B("actions.manager.broker_issues", True, "Managers broker issues up and across departments."),
    B("actions.manager.resolve_issues", True, "Managers resolve issues within their remit."),
    B("actions.manager.lobby_board", True, "Managers lobby the board for support."),
    B("actions.board.emphasis", True, "The board emphasises QI as a priority to managers."),
    B("actions.board.review_incentives", False, "The board puts QI into managers' performance reviews."),
    F(
        "actions.board.resources",
        0.3,
        0,
        1,
        "share",
        "Share of the QI budget the board releases (scaled by focus).",
    ),
    F(
        "actions.board.protect_strategy",
        0.0,
        0,
        1,
        "share",
        "How far the board protects a self-determined quality strategy against imposed priorities.",
    ),
    F(
        "actions.board.engage_regulator",
        0.0,
        0,
        1,
        "strength",
        "How far the board engages regulator and commissioners to recognise its programme.",
    ),
    # -- facilitation ---------------------------------------------------------------
    B("facilitation.enabled", True, "An external facilitator supports implementation."),
    I("facilitation.start_day", 0, 0, 7300, "day", "Day the facilitator arrives."),
    I("facilitation.end_day", 180, 0, 7300, "day", "Day the facilitator leaves."),
    F(
        "facilitation.strength",
        0.7,
        0,
        1,
        "share",
        "Managerial work the facilitator does (brokering, training, resolving) while present.",
    ),
    I(
        "facilitation.hospitals",
        0,
        0,
        500,
        "hospitals",
        "Facilitated hospitals, counted from the first (0 = all).",
    ),
    # -- spread ---------------------------------------------------------------------
    F(
        "spread.rate",
        0.05,
        0,
        1,
        "1/day",
        "Daily chance that a ward without the intervention takes it up when all the wards of its "
        "hospital run it and sponsorship is full.",
    ),
    F(
        "spread.running_threshold",
        0.3,
        0.01,
        1,
        "share",
        "Remembered share of a ward's clinicians using an intervention (spread.use_memory) at which the "
        "ward counts as running it, and the peak it must pass before it can abandon it.",
    ),
    I(
        "spread.use_memory",
        14,
        1,
        365,
        "days",
        "Time constant of a ward's remembered use (for running, spread and abandonment).",
    ),
    F(
        "spread.w_board",
        1.0,
        0,
        10,
        "weight",
        "Weight of top-level sponsorship (board focus x resources) in spread.",
    ),
    F(
        "spread.resources_needed",
        0.2,
        0,
        1,
        "share",
        "Senior sponsorship (board focus x resources released) at and above which champions' push for "
        "spread is not held back for want of resources (0 = never held back).",
    ),
    F("spread.w_manager", 1.0, 0, 10, "weight", "Weight of the ward's manager's priority in spread."),
    F("spread.w_champions", 1.0, 0, 10, "weight", "Weight of front-line champions' engagement in spread."),
    # -- issues ---------------------------------------------------------------------
    F(
        "issues.briefing_quorum",
        0.35,
        0,
        1,
        "share",
        "Share of a ward's clinicians using a briefing-type intervention at which a session is "
        "as likely held as not (before briefing_reliability).",
    ),
    F(
        "issues.briefing_spread",
        0.05,
        0.001,
        1,
        "share",
        "How gradually the chance of holding a briefing rises with the share using it around the quorum.",
    ),
    F(
        "issues.briefing_reliability",
        1.0,
        0,
        1,
        "share of days",
        "Share of working days a well-attended briefing is actually held (emergencies, short shifts).",
    ),
    F("issues.severity_a", 2.0, 0.1, 20, "-", "Beta shape a of issue severity."),
    F("issues.severity_b", 4.0, 0.1, 20, "-", "Beta shape b of issue severity."),
    F(
        "issues.share_cross_department",
        0.35,
        0,
        1,
        "share",
        "Share of issues needing cross-department authority.",
    ),
    F("issues.share_board", 0.1, 0, 1, "share", "Share of issues needing board authority."),
    F(
        "issues.agreement_bias",
        -1.0,
        -10,
        10,
        "logit",
        "Baseline of each side's agreement that change is needed.",
    ),
    F("issues.w_severity", 1.0, 0, 10, "logit per unit", "Weight of an issue's severity in agreement."),
    F(
        "issues.w_priority",
        4.0,
        0,
        10,
        "logit per unit",
        "Weight of how well an issue serves a side's priorities in its agreement.",
    ),
    F(
        "issues.resolution_rate",
        0.08,
        0,
        1,
        "1/day",
        "Daily chance that an agreed, feasible issue is resolved.",
    ),
    F(
        "issues.capacity_per_manager",
        10.0,
        0,
        100,
        "issues/day",
        "Issues a manager could resolve per day giving all managerial time to QI.",
    ),
    F(
        "issues.triage",
        1.0,
        0,
        5,
        "exponent",
        "How strongly managers short of capacity favour the issues both sides agree on "
        "(0 = capacity shared in proportion to each issue's pull).",
    ),
    F(
        "issues.backlog_sensitivity",
        0.5,
        0,
        10,
        "per open issue per clinician",
        "How fast an unresolved backlog needing managerial authority lowers the raising of issues.",
    ),
    I(
        "issues.lapse_days",
        120,
        7,
        3650,
        "days",
        "Days after being raised on which an open issue lapses (closed unresolved), after that "
        "day's chance of resolution.",
    ),
    F(
        "issues.fit_jitter",
        0.5,
        0,
        1,
        "share",
        "Half-width of the uniform spread of an issue's fit to the manager's plans around "
        "the manager's own fit.",
    ),
    F(
        "issues.value_per_resolution",
        0.8,
        0,
        5,
        "per severity unit per ward",
        "Perceived value that ward clinicians gain from a resolved issue.",
    ),
    F(
        "issues.improvement_per_resolution",
        0.03,
        0,
        1,
        "per severity unit",
        "Care improvement (issues pathway) added by a resolved issue.",
    ),
    I(
        "issues.improvement_half_life",
        180,
        1,
        3650,
        "days",
        "Half-life of a resolved issue's improvement to care while it is maintained "
        "(the ward runs the practice and its manager prioritises it).",
    ),
    I(
        "issues.improvement_half_life_unmaintained",
        45,
        1,
        3650,
        "days",
        "Half-life of that improvement where nobody maintains it (the practice stopped, "
        "or the manager gives it no priority).",
    ),
    # -- outcome --------------------------------------------------------------------
    F("outcome.harm_rate_baseline", 10.0, 0.01, 1000, "harms per 1,000 bed-days", "Harm rate at day 0."),
    F(
        "outcome.secular_trend",
        0.04,
        0,
        0.5,
        "1/year",
        "Relative yearly decline of harm everywhere (the secular trend).",
    ),
    F("outcome.noise_sd", 0.15, 0, 2, "log-scale sd", "Day-to-day case-mix variation of risk per ward."),
    I(
        "outcome.fidelity_lag",
        14,
        1,
        365,
        "days",
        "Time constant over which faithful use turns into safer care.",
    ),
    # -- workflow -------------------------------------------------------------------
    B(
        "workflow.prospective",
        False,
        "Select, once before any launch, the interventions that fit capacity, ranked on evidence, "
        "face validity, usefulness, fit to managers' plans and co-design (the rest are deferred).",
    ),
    I("workflow.capacity", 2, 1, 20, "initiatives", "Concurrent initiatives the organisation can implement."),
    F(
        "workflow.fit_boost",
        0.2,
        0,
        1,
        "share",
        "Rise in fit to managers' plans of the jointly selected interventions.",
    ),
    F(
        "workflow.codesign_bonus",
        0.1,
        0,
        1,
        "score",
        "Bonus to a co-designed intervention's score in strategic selection.",
    ),
]

INTERVENTION: list[Param] = [
    S("name", "intervention", "Name of the intervention."),
    S(
        "pathway",
        "fidelity",
        "How it works: through faithful use (a checklist) or through resolving the "
        "issues it surfaces (a safety briefing).",
        choices=("fidelity", "issues"),
    ),
    I(
        "launch_day",
        0,
        -1,
        7300,
        "day",
        "Day the intervention is launched (-1 = only where an event of kind 'launch' launches it).",
    ),
    F("burden", 0.03, 0, 0.5, "share of a shift", "Clinician time each day's use takes."),
    F(
        "evidence",
        0.5,
        0,
        1,
        "strength",
        "Strength of the evidence behind it (used in strategic selection, and in the board's focus "
        "where it engages the regulator).",
    ),
    F("face_validity", 0.5, 0, 1, "strength", "How obviously useful it looks to clinicians."),
    B("co_designed", False, "Clinicians co-designed it."),
    F("adaptation", 0.2, 0, 1, "share", "Degree of local adaptation."),
    F(
        "soft_periphery",
        0.4,
        0,
        1,
        "share",
        "Adaptation that leaves the core intact; beyond it, adaptation erodes the effect.",
    ),
    F("usefulness_clinicians", 0.5, 0, 1, "strength", "Usefulness to clinicians' own practice."),
    F(
        "fit_manager_plans",
        0.5,
        0,
        1,
        "strength",
        "How well what it surfaces serves managers' business plans.",
    ),
    F(
        "mandate_strength",
        0.0,
        0,
        1,
        "strength",
        "How hard its use is mandated and enforced (0 = voluntary).",
    ),
    S(
        "monitoring",
        "fidelity",
        "What the monitoring checks: ticks on a form or faithful use.",
        choices=("ticks", "fidelity"),
    ),
    F("tick_leak", 0.2, 0, 1, "share", "Share of tick-gaming that fidelity audits fail to catch."),
    F(
        "overreport",
        0.5,
        0,
        1,
        "share",
        "Chance that an unfaithful use is reported as compliant (local adaptation lowers it).",
    ),
    F("effect_max", 0.3, 0, 0.95, "relative", "Largest relative reduction of harm it can bring."),
    F(
        "issues_per_session",
        0.3,
        0,
        50,
        "issues",
        "Issues surfaced per ward per day of use at full fidelity.",
    ),
    B(
        "working_days_only",
        False,
        "A briefing: a meeting on working days only, used on a ward only on the days it is held there.",
    ),
    F("fit_spread", 0.2, 0, 1, "share", "Spread between managers of how well it fits their plans."),
    I(
        "pilot_wards",
        0,
        0,
        100,
        "wards",
        "Wards per hospital that start it at launch (0 = all); others may adopt it by spread.",
    ),
    I(
        "hospitals_at_launch",
        0,
        0,
        500,
        "hospitals",
        "Hospitals that launch it on launch_day (0 = all); the others launch on scale_up_day.",
    ),
    I("scale_up_day", -1, -1, 7300, "day", "Day the remaining hospitals launch it (-1 = never)."),
    F(
        "scale_up_mandate",
        0.0,
        0,
        1,
        "strength",
        "Mandate strength in the hospitals that launch it at scale-up "
        "(mandate_strength applies to the first).",
    ),
]

EVENT_KINDS = (
    "merger",
    "ehr_rollout",
    "regulator_endorsement",
    "inspection",
    "staff_turnover",
    "facilitator_leaves",
    "reviews_include_qi",
    "protected_time",
    "resources",
)
#: Event kinds of a timeline only, not levers of the workshop app: a trial's schedule of
#: which wards start the primary intervention on which day.
SCHEDULE_KINDS = ("launch",)

EVENT: list[Param] = [
    I("day", 0, 0, 7300, "day", "Day the event strikes."),
    S(
        "kind",
        "merger",
        "What happens ('launch': the primary intervention starts on `ward` of `hospital`, and the "
        "hospital launches it if it has not yet).",
        choices=EVENT_KINDS + SCHEDULE_KINDS,
    ),
    I("duration", 180, 0, 7300, "days", "How long its pressure lasts (0 = permanent or instantaneous)."),
    F(
        "strength",
        0.5,
        0,
        1,
        "strength",
        "How strong it is (for staff_turnover: the share of posts replaced).",
    ),
    I("hospital", -1, -1, 500, "index", "Hospital it strikes (-1 = all)."),
    I(
        "ward",
        -1,
        -1,
        99,
        "index",
        "For kind 'launch': the ward, counted from 0 within each hospital struck, that starts "
        "the primary intervention (-1 = every ward); must be -1 for other kinds.",
    ),
]

BY_KEY: dict[str, Param] = {p.key: p for p in PARAMS}
INTERVENTION_BY_KEY: dict[str, Param] = {p.key: p for p in INTERVENTION}
EVENT_BY_KEY: dict[str, Param] = {p.key: p for p in EVENT}
#: Keys an entry of a list must give: an entry without one is refused, so their defaults are
#: never used (``qisim scenarios --keys`` and the ODD's Appendix A say "required").
REQUIRED_ITEM_KEYS = {"events": ("kind",)}
LIST_KEYS = {"interventions": INTERVENTION_BY_KEY, "events": EVENT_BY_KEY}

DEFAULT_INTERVENTIONS: list[dict[str, Any]] = []
DEFAULT_EVENTS: list[dict[str, Any]] = []


def defaults() -> dict[str, Any]:
    """Flat dict of every scalar key's default."""
    return {p.key: p.default for p in PARAMS}
