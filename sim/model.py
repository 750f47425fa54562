"""QIModel: the model of alignment as a Mesa model."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import mesa
import numpy as np

from . import mechanisms as mech
from .agents import BoardMember, Clinician, MiddleManager
from .events import apply_event, expire_events
from .scenario import Scenario, from_dict, load_scenario
from .schema import EVENT_BY_KEY
from .state import State, make_params, make_streams

#: Columns of the daily time series (``timeseries.csv`` and the DataCollector).
COLUMNS = (
    "day",
    "adoption",
    "fidelity",
    "reported_compliance",
    "engagement_clinician",
    "engagement_manager",
    "engagement_board",
    "alignment",
    "priority_spread",
    "briefings_held",
    "facilitator_present",
    "issues_raised",
    "issues_open",
    "issues_resolved",
    "issues_lapsed",
    "harms",
    "harms_counterfactual",
    "bed_days",
    "harm_rate",
    "harm_rate_counterfactual",
    "harm_rate_expected",
    "harm_rate_expected_counterfactual",
)
#: Columns of the per-ward daily detail.
WARD_COLUMNS = (
    "adoption",
    "fidelity",
    "reported_compliance",
    "engagement_clinician",
    "engagement_manager",
    "engagement_board",
    "alignment",
    "briefing_held",
    "issues_raised",
    "issues_open",
    "harms",
    "harms_counterfactual",
    "bed_days",
    "effect",
)
#: Rows of the day's per-ward array in ``QIModel._observe``: the ward columns, then the
#: priority spread, the expected harms with and without the intervention, and whether the
#: ward runs the primary intervention.
_WARD_ROWS = {name: i for i, name in enumerate((*WARD_COLUMNS, "spread", "lam", "lam_cf", "active"))}
#: Columns of the per-intervention daily detail.
INTERVENTION_COLUMNS = (
    "active_share",
    "adoption",
    "fidelity",
    "reported_compliance",
    "engagement_clinician",
    "engagement_manager",
    "engagement_board",
    "issues_raised",
    "issues_resolved_today",
)


class QIModel(mesa.Model):
    """Hospitals whose clinicians, middle managers and boards adopt, sustain or abandon QI.

    Args:
        scenario: a :class:`~sim.scenario.Scenario`, a preset name, a path to a
            ``.toml`` file, or a dict of nested tables.  Kept as ``model.config``
            (``model.scenario`` stays Mesa's own).
        rng: integer seed (default: the scenario's ``seed``).  Every mechanism draws
            from its own child stream of it.
        detail: keep per-ward and per-intervention daily records (for output files).

    One step is one day.  ``step()`` runs the named mechanisms of
    :mod:`sim.mechanisms` in order over arrays for all agents at once.
    """

    def __init__(
        self,
        scenario: Scenario | str | Path | Mapping | None = None,
        rng: int | None = None,
        *,
        detail: bool = True,
    ):
        if scenario is None:
            scenario = load_scenario("baseline")
        elif isinstance(scenario, str | Path):
            scenario = load_scenario(scenario)
        elif not isinstance(scenario, Scenario):
            scenario = from_dict(scenario)
        seed = int(scenario["seed"] if rng is None else rng)
        super().__init__(rng=seed)
        self.seed = seed
        self.config = scenario
        self.params = make_params(scenario)
        self.state = State(self.params, make_streams(seed))
        self.primary = self.params.iv.names[0] if self.params.iv.K else "no intervention"
        self.detail = detail
        self.narration: list[tuple[int, str]] = []
        self._timeline = sorted(scenario.events, key=lambda e: e["day"])
        self._pending: list[dict] = []
        self._rows: list[tuple] = []
        self._ward_rows: list[np.ndarray] = []
        self._iv_rows: list[np.ndarray] = []
        self._row: dict[str, float] = {}
        self._memo: dict[str, Any] = {
            "wards_running": None,
            "mgr_high": None,
            "month_raised": 0,
            "month_resolved": 0,
            "told_running": False,  # what 'runs it' means is said once, the first time wards stop
        }

        s = self.state
        for i in range(s.N):
            Clinician(self, i)
        for i in range(s.M):
            MiddleManager(self, i)
        for i in range(s.H):
            BoardMember(self, i)
        if not s.K:
            self._say("no QI intervention runs in this scenario: harm follows the secular trend alone.")
        for h, k in mech.strategic_selection(s, self.params):
            if h == 0:
                self._say(
                    f"strategic selection defers the {self.params.iv.names[k]}: it does not fit the "
                    f"organisation's capacity of {self.params.workflow.capacity} initiatives."
                )
        self.datacollector = DailyCollector(model_reporters={c: partial(_column, c) for c in COLUMNS})

    # -- the day ----------------------------------------------------------------------
    def step(self) -> None:
        """One day: the mechanisms in order, then observation."""
        s, p = self.state, self.params
        self._apply_events()
        self._narrate_launches(mech.launch_interventions(s, p))
        self._narrate_spread(mech.spread_between_wards(s, p))
        mech.external_facilitation(s, p)
        mech.board_priorities(s, p)
        mech.manager_priorities(s, p)
        mech.manager_attention(s, p)
        mech.manager_actions(s, p)
        mech.clinician_engagement(s, p)
        mech.clinician_use(s, p)
        mech.learning_and_value(s, p)
        mech.raise_issues(s, p)
        mech.resolve_issues(s, p)
        mech.feedback_from_issues(s, p)
        mech.initiative_fatigue(s, p)
        mech.patient_outcome(s, p)
        mech.measure_alignment(s, p)
        rotated, _ = mech.turnover_and_rotation(s, p)
        if rotated:
            meet = ", and the newcomers meet their wards' QI work for the first time" if s.K else ""
            self._say(f"junior doctors rotate: {rotated} posts change hands{meet}.")
        self._observe()
        self.datacollector.collect(self)
        s.day += 1

    def run(self, days: int | None = None, progress: bool = False) -> QIModel:
        """Run ``days`` more days (default: the scenario's horizon), optionally with a bar."""
        days = self.config["days"] - self.state.day if days is None else days
        if progress:
            from tqdm import tqdm

            for _ in tqdm(range(days), desc=self.config.name, unit="day", leave=False):
                self.step()
        else:
            for _ in range(days):
                self.step()
        return self

    @property
    def day(self) -> int:
        """The next day to simulate (= days simulated so far)."""
        return self.state.day

    # -- levers -----------------------------------------------------------------------
    def pull_lever(self, kind: str, strength: float = 1.0, duration: int = 0, hospital: int = -1) -> None:
        """Pull a lever mid-run: an event of ``kind`` applied at the start of the next day.

        Kinds are those of timeline events (:data:`sim.schema.EVENT_KINDS`), e.g.
        ``reviews_include_qi``, ``protected_time``, ``merger``, ``facilitator_leaves``,
        ``regulator_endorsement``.  The pull is narrated; the scenario is not changed.
        """
        from .scenario import _check

        ev = {
            "day": self.state.day,
            "kind": kind,
            "strength": strength,
            "duration": duration,
            "hospital": hospital,
        }
        for key, value in ev.items():
            ev[key] = _check(EVENT_BY_KEY[key], value, "lever", key)
        if hospital >= self.state.H:
            raise ValueError(f"hospital must be -1 or below {self.state.H}")
        ev["lever"] = True
        self._pending.append(ev)

    def _apply_events(self) -> None:
        s = self.state
        for line in expire_events(s):
            self._say(line)
        while self._timeline and self._timeline[0]["day"] <= s.day:
            ev = self._timeline.pop(0)
            if ev["day"] == s.day:
                self._pending.append(ev)
        for ev in self._pending:
            text = apply_event(s, self.params, ev, self.primary)
            self._say(("lever pulled: " if ev.get("lever") else "") + text)
        self._pending.clear()
        fac = self.params.facilitation
        if fac.enabled and ((s.facil_from == s.day) & (s.facil_until > s.day)).any():  # (not if called off)
            self._say("an external facilitator arrives to support implementation.")
        if fac.enabled and s.day == fac.end_day and (s.facil_until == fac.end_day).any():
            self._say(
                "the external facilitator leaves as planned; their managerial work now falls "
                "to the middle managers."
            )

    # -- observation ------------------------------------------------------------------
    def _observe(self) -> None:
        s, t = self.state, self.state.today
        K, W = s.K, s.W
        # the day's per-ward values, one row each (_WARD_ROWS); their sums over wards are one
        # reduction (a row sums exactly as the 1-D array would)
        r = _WARD_ROWS
        wards = np.zeros((len(r), W))
        reported = s.ward_mean(s.c_reported) if K else None
        if K:
            wards[r["adoption"]] = t["use_share"][:, 0]
            wards[r["fidelity"]] = t["faithful_share"][:, 0]
            # a 1-D mean may sum in another order than the mean of one of K > 1 columns
            wards[r["reported_compliance"]] = reported[:, 0] if K == 1 else s.ward_mean(s.c_reported[:, 0])
            wards[r["briefing_held"]] = s.w_briefing[:, 0]
            wards[r["issues_raised"]] = t["raised"][:, 0] if "raised" in t else 0.0
            wards[r["issues_open"]] = t["open_wk"][:, 0] if "open_wk" in t else 0.0
            wards[r["active"]] = s.w_active[:, 0]
        wards[r["engagement_clinician"]] = t["level_c"]
        wards[r["engagement_manager"]] = t["level_m"]
        wards[r["engagement_board"]] = t["level_b"]
        wards[r["alignment"]] = t["alignment"]
        wards[r["harms"]] = t["harms"]
        wards[r["harms_counterfactual"]] = t["harms_cf"]
        wards[r["bed_days"]] = s.w_bed_days
        wards[r["effect"]] = effect = t["effect"]
        wards[r["spread"]] = t["spread"]
        wards[r["lam"]] = t["lam_cf"] * (1 - effect)
        wards[r["lam_cf"]] = t["lam_cf"]
        sums = np.add.reduce(wards, axis=1)
        mean = dict(zip(r, (sums / W).tolist(), strict=True))  # Python floats: cheaper to read one by one
        bd = float(sums[r["bed_days"]])
        h, h_cf = float(sums[r["harms"]]), float(sums[r["harms_counterfactual"]])  # whole numbers
        st = s.issues
        row = (
            s.day,
            mean["adoption"],
            mean["fidelity"],
            mean["reported_compliance"],
            mean["engagement_clinician"],
            np.add.reduce(s.m_priority[:, 0]) / s.M if K else 0.0,
            np.add.reduce(s.b_focus[:, 0]) / s.H if K else 0.0,
            mean["alignment"],
            mean["spread"],
            mean["briefing_held"] if K else 0.0,
            np.count_nonzero(s.facil_present) / s.H,
            st.raised_total,
            st.n_open,
            st.resolved_total,
            st.lapsed_total,
            int(h),
            int(h_cf),
            bd,
            1000.0 * h / bd,
            1000.0 * h_cf / bd,
            1000.0 * float(sums[r["lam"]]) / bd,
            1000.0 * float(sums[r["lam_cf"]]) / bd,
        )
        self._rows.append(row)
        self._row = dict(zip(COLUMNS, row, strict=True))
        if self.detail:
            self._ward_rows.append(wards[: len(WARD_COLUMNS)].T.astype(np.float32, order="C"))
            if K == 1:
                # one intervention: its means over wards are the rows' above (a (W, 1) column
                # sums as its row does), its managers' and boards' the day's row's
                eng = np.add.reduce(s.c_eng, axis=0)[0] / s.N
                shares = [mean["active"], mean["adoption"], mean["fidelity"], mean["reported_compliance"]]
                raised = sums[r["issues_raised"]]
                mgr, board = self._row["engagement_manager"], self._row["engagement_board"]
                self._iv_rows.append(np.array([[*shares, eng, mgr, board, raised, t["resolved_k"][0]]]))
            elif K:
                iv = np.empty((K, len(INTERVENTION_COLUMNS)))  # the columns' means over wards, ...
                per_ward = np.empty((4, W, K))
                per_ward[0] = s.w_active
                per_ward[1] = t["use_share"]
                per_ward[2] = t["faithful_share"]
                per_ward[3] = reported
                iv[:, :4] = (np.add.reduce(per_ward, axis=1) / W).T
                iv[:, 4] = np.add.reduce(s.c_eng, axis=0) / s.N  # ... clinicians, managers, hospitals
                iv[:, 5] = np.add.reduce(s.m_priority, axis=0) / s.M
                iv[:, 6] = np.add.reduce(s.b_focus, axis=0) / s.H
                iv[:, 7] = np.add.reduce(t["raised"], axis=0) if "raised" in t else 0.0
                iv[:, 8] = t["resolved_k"]
                self._iv_rows.append(iv)
        self._narrate()

    # -- narration --------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.narration.append((self.state.day, text[0].upper() + text[1:]))

    def _narrate_launches(self, launched: list[tuple[int, int]]) -> None:
        for k in sorted({k for _, k in launched}):
            n = sum(1 for _, kk in launched if kk == k)
            who = (
                "the hospital launches"
                if self.state.H == 1
                else f"{n} of {self.state.H} hospitals launch{'es' if n == 1 else ''}"
            )
            active = int(self.state.active.sum(axis=1).max())
            extra = f"; {active} initiatives now compete for attention" if active > 1 else ""
            self._say(f"{who} the {self.params.iv.names[k]}{extra}.")

    def _narrate_spread(self, started: list[tuple[int, int]]) -> None:
        for k in sorted({k for _, k in started}):
            n = sum(1 for _, kk in started if kk == k)
            total = int(self.state.w_started[:, k].sum())
            self._say(
                f"{n} more ward{'s take' if n > 1 else ' takes'} up the {self.params.iv.names[k]} "
                f"({total} of {self.state.W} have taken it up)."
            )

    def _narrate(self) -> None:
        s, p, memo = self.state, self.params, self._memo
        if not s.K:
            return
        name = self.primary
        first = memo["wards_running"] is None
        if first or s.day % 7 == 6:  # a weekly look at the wards, so the story is not told day by day
            running = s.w_use_ema[:, 0] >= p.spread.running_threshold
        if first:
            memo["wards_running"] = running
        elif s.day % 7 == 6:
            n_now, n_prev = int(running.sum()), int(memo["wards_running"].sum())
            briefing = bool(p.iv.working_days_only[0])
            if n_now < n_prev:
                what = "briefings stop" if briefing else f"use of the {name} lapses"
                stopped = memo["wards_running"] & ~running
                meaning = ""
                if not memo["told_running"]:
                    memo["told_running"] = True
                    share = f"{p.spread.running_threshold:.0%}"
                    meaning = f" (a ward runs it while {share} or more of its staff use it)"
                self._say(
                    f"{what} on {n_prev - n_now} of {s.W} wards{self._why_down(stopped)}; "
                    f"{_still_running(n_now)} it{meaning}."
                )
            elif n_now > n_prev:
                more = n_now - n_prev
                self._say(
                    f"{more} more ward{'s now run' if more > 1 else ' now runs'} the {name} "
                    f"({n_now} of {s.W})."
                )
            memo["wards_running"] = running
        high = self._row["engagement_manager"] >= 0.5  # the managers' mean priority
        if memo["mgr_high"] is None:
            memo["mgr_high"] = high
        elif high != memo["mgr_high"]:
            memo["mgr_high"] = high
            if high:
                self._say(
                    f"most middle managers now treat the {name} as a priority: it serves their plans "
                    "or their reviews ask for it."
                )
            else:
                self._say(f"middle managers' priority for the {name} falls below half: other demands win.")
        if s.day % p.board.meeting_interval == 0 and s.day > 0:
            focus = s.b_focus[:, 0].mean()
            last = memo.get("board_focus", p.board.focus_initial)
            if abs(focus - last) >= 0.08:
                trend, moves = ("more", "rises") if focus > last else ("less", "falls")
                self._say(
                    f"the board gives the {name} {trend} attention: its focus {moves} from {last:.0%} "
                    f"to {focus:.0%} of the most it can give."
                )
                memo["board_focus"] = focus
        if s.day % 30 == 29:
            st = s.issues
            raised = st.raised_total - memo["month_raised"]
            resolved = st.resolved_total - memo["month_resolved"]
            memo["month_raised"], memo["month_resolved"] = st.raised_total, st.resolved_total
            if raised or resolved:
                waiting = int(s.today["backlog_mgr"].sum())
                self._say(
                    f"this month {_issues(raised)} {'was' if raised == 1 else 'were'} raised and "
                    f"{resolved or 'none'} resolved; {waiting or 'none'} "
                    f"wait{'s' if waiting == 1 else ''} for managerial authority."
                )

    def _why_down(self, stopped: np.ndarray | None = None) -> str:
        """Why the primary intervention stopped on the wards ``stopped`` (W,) (default: all),
        read from their state: what took their time or attention (a merger, an EHR roll-out,
        other initiatives still running there, a facilitator gone whose work their managers
        have not taken over, issues waiting for managers), then that staff see it as one more
        passing fad (their mean fad belief above one half).  '' when none of these holds."""
        s = self.state
        wards = np.ones(s.W, dtype=bool) if stopped is None or not stopped.any() else stopped
        hosp = np.zeros(s.H, dtype=bool)
        hosp[s.ward_hosp[wards]] = True
        staff = wards[s.c_ward]
        reasons = []
        others = (s.w_active & ~s.w_abandoned)[wards, 1:].sum(axis=1) if s.K > 1 else np.zeros(1)
        # a facilitator who was there and left (as planned or by a lever) within six months
        left = (s.facil_from <= s.facil_until) & (s.facil_until <= s.day) & (s.day - s.facil_until <= 180)
        if (s.merger[hosp] > 0).any():
            reasons.append("the merger takes the ward managers' attention")
        elif (s.ehr[hosp] > 0).any():
            reasons.append("the EHR roll-out takes clinicians' time and managers' attention")
        elif np.median(others) >= 1:
            n = int(np.round(np.median(others)))
            reasons.append(
                f"{'another initiative competes' if n == 1 else f'{n} other initiatives compete'} "
                "for the same staff time and managers' attention"
            )
        elif left[hosp].any() and s.m_priority[s.ward_mgr[wards], 0].mean() < 0.5:
            reasons.append("the facilitator has left and the managers have not taken over their work")
        elif s.today["backlog_mgr"][wards].mean() > 1:
            reasons.append("issues raised wait unresolved for managers")
        if s.c_fad[staff].mean() > 0.5:
            reasons.append("staff see it as one more passing fad")
        return ": " + ", and ".join(reasons) if reasons else ""

    # -- results ----------------------------------------------------------------------
    def timeseries(self) -> dict[str, np.ndarray]:
        """The daily series as columns (also available from ``datacollector``)."""
        arr = np.array(self._rows, dtype=float).reshape(-1, len(COLUMNS))
        return {c: arr[:, i] for i, c in enumerate(COLUMNS)}

    def ward_detail(self) -> dict[str, np.ndarray]:
        """Long-format daily detail per ward: columns day, hospital, ward and WARD_COLUMNS."""
        s = self.state
        days = len(self._ward_rows)
        arr = np.concatenate(self._ward_rows) if days else np.zeros((0, len(WARD_COLUMNS)))
        out = {
            "day": np.repeat(np.arange(days), s.W),
            "hospital": np.tile(s.ward_hosp, days),
            "ward": np.tile(np.arange(s.W), days),
        }
        out.update({c: arr[:, i] for i, c in enumerate(WARD_COLUMNS)})
        return out

    def intervention_detail(self) -> dict[str, np.ndarray]:
        """Long-format daily detail per intervention: day, intervention and INTERVENTION_COLUMNS."""
        K, days = self.state.K, len(self._iv_rows)
        arr = np.concatenate(self._iv_rows) if days else np.zeros((0, len(INTERVENTION_COLUMNS)))
        out = {
            "day": np.repeat(np.arange(days), K),
            "intervention": np.tile(np.array(self.params.iv.names, dtype=object), days),
        }
        out.update({c: arr[:, i] for i, c in enumerate(INTERVENTION_COLUMNS)})
        return out

    def issue_log(self) -> dict[str, np.ndarray]:
        """Every issue raised: raised day, hospital, ward, intervention, severity, authority
        needed (ward / cross_department / board), agreement (last computed), resolved day and
        lapsed day (-1 when not)."""
        st, s = self.state.issues, self.state
        ward = st.column("ward")
        names = np.array(self.params.iv.names or ["-"], dtype=object)
        return {
            "raised_day": st.column("raised"),
            "hospital": s.ward_hosp[ward],
            "ward": ward,
            "intervention": names[st.column("k")],
            "severity": st.column("severity"),
            "authority": np.array(["ward", "cross_department", "board"], dtype=object)[
                st.column("authority")
            ],
            "agreement": st.column("agreement"),
            "resolved_day": st.column("resolved"),
            "lapsed_day": st.column("lapsed"),
        }

    def events_log(self) -> list[str]:
        """The narration, one line per event: 'Day N: ...'."""
        return [f"Day {d}: {text}" for d, text in self.narration]

    def summary(self) -> dict[str, Any]:
        """Scalar outcomes of the run (see ``summary.json`` in the README).

        ``*_final`` values are means over the final window of min(90, days) days, the
        window over which ``sustainment`` and ``effect`` are measured too.
        """
        from . import __version__

        ts = self.timeseries()
        days = len(ts["day"])
        window = min(90, days)
        adoption = ts["adoption"]
        peak = float(adoption.max()) if days else 0.0
        late = slice(days - window, days)
        sustainment = float(adoption[late].mean() / peak) if peak > 0 else 0.0
        cf = ts["harms_counterfactual"][late].sum()
        effect = float(1.0 - ts["harms"][late].sum() / cf) if cf > 0 else 0.0
        return {
            "seed": self.seed,
            "days": days,
            "adoption_peak": peak,
            "adoption_final": float(adoption[late].mean()) if days else 0.0,
            "sustainment": sustainment,
            "effect": effect,
            "effect_expected": float(
                1.0
                - ts["harm_rate_expected"][late].sum()
                / max(ts["harm_rate_expected_counterfactual"][late].sum(), 1e-12)
            ),
            "fidelity_final": float(ts["fidelity"][late].mean()) if days else 0.0,
            "reported_compliance_final": float(ts["reported_compliance"][late].mean()) if days else 0.0,
            "alignment_mean": float(ts["alignment"].mean()) if days else 0.0,
            "engagement_clinician_final": float(ts["engagement_clinician"][late].mean()) if days else 0.0,
            "engagement_manager_final": float(ts["engagement_manager"][late].mean()) if days else 0.0,
            "engagement_board_final": float(ts["engagement_board"][late].mean()) if days else 0.0,
            "issues_raised": int(self.state.issues.raised_total),
            "issues_resolved": int(self.state.issues.resolved_total),
            "issues_lapsed": int(self.state.issues.lapsed_total),
            "version": __version__,
            "scenario": self.config.to_nested(),
        }


def _still_running(n: int) -> str:
    """``none still runs``, ``1 still runs``, ``4 still run``."""
    return "none still runs" if n == 0 else f"{n} still run{'s' if n == 1 else ''}"


def _issues(n: int) -> str:
    """'no issues', '1 issue', '3 issues' (narration)."""
    return "no issues" if n == 0 else f"{n} issue{'' if n == 1 else 's'}"


_COLUMN_SET = frozenset(COLUMNS)


def _column(name: str, model: QIModel) -> float:
    """DataCollector reporter: one column of the day's observation."""
    return model._row[name]


class DailyCollector(mesa.DataCollector):
    """Mesa's DataCollector, fed the day's observation directly.

    Mesa calls each reporter and deep-copies its value every step; the day's row is
    already plain numbers, so while the reporters are the standard columns it is
    appended as it is. Add reporters of your own and Mesa's own collection takes over.
    """

    def collect(self, model):
        if self.agent_reporters or self.agenttype_reporters or self.model_reporters.keys() != _COLUMN_SET:
            return super().collect(model)
        self._collection_steps.append(model.time)
        for name, value in model._row.items():
            self.model_vars[name].append(value)
