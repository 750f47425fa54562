"""Timeline events and the levers a trainer pulls mid-run.

Both are the same thing: a dict ``{day, kind, duration, strength, hospital, ward}`` (see
:data:`sim.schema.EVENT`) applied to the model's *state* on its day, never to the
scenario.  :func:`apply_event` changes the state and returns a plain-language line.
"""

from __future__ import annotations

from types import SimpleNamespace as NS

import numpy as np

from .mechanisms import replace_posts, start_wards
from .state import State

FOREVER = 1 << 40


def _until(day: int, duration: int) -> int:
    return day + duration if duration > 0 else FOREVER


def _where(s: State, ev: dict) -> tuple[np.ndarray, str]:
    h = ev["hospital"]
    mask = np.ones(s.H, dtype=bool) if h < 0 else np.arange(s.H) == h
    if s.H == 1:
        return mask, "the hospital"
    return mask, "every hospital" if h < 0 else f"hospital {h + 1}"


def _for(duration: int) -> str:
    return f" for {duration} days" if duration > 0 else ""


def _in_force(level: np.ndarray, strength: float) -> bool:
    """Whether a lever that sets ``level`` to ``strength`` finds it so already (narration)."""
    return bool(np.all(level == strength))


#: The end of a narration line for a lever or event that finds its setting already in force.
UNCHANGED = "already in force: nothing changes"


def apply_event(s: State, p: NS, ev: dict, primary: str) -> str:
    """Apply one event or lever to the state; return its narration (without 'Day N: ')."""
    kind, strength, dur = ev["kind"], ev["strength"], ev["duration"]
    mask, where = _where(s, ev)
    day = s.day
    if kind == "merger":
        s.merger[mask], s.merger_until[mask] = strength, _until(day, dur)
        return (
            f"a merger is under way in {where}{_for(dur)}: it takes the managers' and the board's "
            f"attention and cuts the resources left for continuous QI."
        )
    if kind == "ehr_rollout":
        s.ehr[mask], s.ehr_until[mask] = strength, _until(day, dur)
        return (
            f"an electronic health record roll-out starts in {where}{_for(dur)}: clinicians lose "
            f"time to it and managers' attention goes to it."
        )
    if kind == "regulator_endorsement":
        already = bool(np.all(s.regulator[mask] >= strength))
        s.regulator[mask] = np.maximum(s.regulator[mask], strength)
        what = f"the {primary}" if s.K else "QI"
        if already:
            return f"the regulator's endorsement of {what} in {where} is {UNCHANGED}."
        if not s.K:
            return f"the regulator endorses QI in {where}, but no intervention runs there to weigh."
        return f"the regulator endorses {what} in {where}; the board will weigh it at its next meeting."
    if kind == "inspection":
        s.inspection[mask], s.inspection_until[mask] = strength, _until(day, dur)
        return (
            f"an inspection is announced in {where}{_for(dur)}: the pressure to show compliance rises, "
            f"whether or not practice changes."
        )
    if kind == "staff_turnover":
        u = s.rng["events"].random((2, s.N))
        posts = mask[s.c_hosp] & (u[0] < strength)
        replace_posts(s, p, posts, u[1])
        n = int(posts.sum())
        moved = f"{n} clinical post{'' if n == 1 else 's'} in {where} change{'s' if n == 1 else ''} hands"
        if not s.K:
            return f"{moved}."
        return f"{moved}; the newcomers do not know the {primary} yet."
    if kind == "facilitator_leaves":
        present = mask & (s.facil_from <= day) & (s.facil_until > day)
        due = mask & (s.facil_from > day) & (s.facil_until > s.facil_from)  # still to come
        s.facil_until[mask] = np.minimum(s.facil_until[mask], day)
        if due.any() and not present.any():
            first = int(s.facil_from[due].min())
            return f"the external facilitator due in {where} on day {first} will not come."
        if not present.any():
            return f"no external facilitator works in {where} now: nothing changes."
        return (
            f"the external facilitator leaves {where}; the managerial work they did now falls to the "
            f"middle managers."
        )
    if kind == "reviews_include_qi":
        already = _in_force(s.review_on[mask], strength)
        s.review_on[mask] = strength
        if already:
            return f"QI in middle managers' performance reviews in {where} is {UNCHANGED}."
        return f"the board puts QI into middle managers' performance reviews in {where}."
    if kind == "protected_time":
        already = _in_force(s.protected[mask], strength)
        s.protected[mask] = strength
        if already:
            return (
                f"protected time for QI in {where} ({strength:.0%} of the intervention's time) is "
                f"{UNCHANGED}."
            )
        return (
            f"protected time for QI is granted to clinicians in {where} "
            f"({strength:.0%} of the intervention's time, where managers arrange it)."
        )
    if kind == "resources":
        already = _in_force(s.resources[mask], strength)
        before = np.unique(s.resources[mask])
        s.resources[mask] = strength
        if already:
            return f"the QI budget the board releases in {where}, {strength:.0%}, is {UNCHANGED}."
        was = f" from {before[0]:.0%}" if len(before) == 1 else ""  # hospitals may differ
        return f"the board sets the QI budget it releases in {where}{was} to {strength:.0%}."
    if kind == "launch":
        return _launch(s, p, mask, ev.get("ward", -1), where, primary)
    raise ValueError(f"unknown event kind {kind!r}")


def _launch(s: State, p: NS, hospitals: np.ndarray, ward: int, where: str, primary: str) -> str:
    """The primary intervention starts on ``ward`` (-1: every ward) of the hospitals struck;
    a hospital that has not launched it launches it now, as on a launch day (its board
    takes it up, its staff count one more initiative, the mandate `mandate_strength` applies:
    a launch by event is never a scale-up)."""
    if not s.K:
        return "a launch is scheduled, but the scenario has no intervention to launch."
    new = np.zeros((s.H, s.K), dtype=bool)
    new[:, 0] = hospitals & ~s.launched[:, 0] & ~s.deferred[:, 0]
    if new.any():
        s.launched |= new
        s.active = s.launched & ~s.deferred
        s.mandate[new] = p.iv.mandate_strength[0]
        s.c_fad = np.minimum(1.0, s.c_fad + p.clinicians.fad_per_launch * new[s.c_hosp, 0])
    on_ward = np.arange(s.W) % s.wph == ward if ward >= 0 else np.ones(s.W, dtype=bool)
    start = np.zeros((s.W, s.K), dtype=bool)
    start[:, 0] = hospitals[s.ward_hosp] & on_ward & s.active[s.ward_hosp, 0] & ~s.w_started[:, 0]
    if start.any():
        start_wards(s, start)
    wards = "every ward" if ward < 0 else f"ward {ward + 1}"
    launched = f"; {where} launches it" if new.any() else ""
    return f"the {primary} starts on {wards} of {where}{launched}."


def expire_events(s: State) -> list[str]:
    """End time-limited pressures whose time is up; return narration lines."""
    lines = []
    for name, label in (
        ("merger", "the merger's pressure on attention eases"),
        ("ehr", "the EHR roll-out is complete"),
        ("inspection", "the inspection is over"),
    ):
        level = getattr(s, name)
        if not np.count_nonzero(level):
            continue
        until = getattr(s, f"{name}_until")
        done = (level > 0) & (until <= s.day)
        if done.any():
            level[done] = 0.0
            lines.append(label + ".")
    return lines
