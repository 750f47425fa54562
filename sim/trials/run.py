"""One simulated trial: randomise the clusters' order, run the model, measure, analyse.

A :class:`TrialRunner` is what one run of the sweep runner is for a trial
(:attr:`sim.experiments.Experiment.runner`): given the base scenario, a design point's
values and a seed, it

1. takes the clusters (wards in turn from each hospital, or whole hospitals) and draws
   their order from the seed (a random stream of its own, so the model's numbers do not
   depend on it);
2. turns the design into events of kind ``launch``: cluster c starts the primary
   intervention on the first day of its switch period (the scenario's own ``launch_day``
   is set to -1, so nothing else launches it);
3. runs the model once, with its per-ward daily detail; the secular trend, the
   differences between clusters and any contamination (a shared middle manager, the
   board's focus once the hospital has launched, spread between wards) are the model's;
4. sums each cluster's ward-days into periods: harms, bed-days, and the counterfactual
   harms the model drew for the same ward-days without the intervention;
5. estimates the effect as trialists do (:mod:`sim.trials.analyse`) and sets the truth
   beside it: in the cluster-periods the design treats, the rate ratio of the harms the
   intervention leaves (counterfactual harms x (1 - the model's effect that day)) to the
   counterfactual harms.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..scenario import Scenario, ScenarioError
from .definition import BY_KEY, Settings

#: The scalars of one simulated trial (a row of runs.parquet), with their types.
SCALARS: dict[str, type] = {
    "clusters": int,
    "periods": int,
    "true_rr": float,
    "true_tate": float,
    "rr": float,
    "rr_low": float,
    "rr_high": float,
    "p": float,
    "naive_rr": float,
    "naive_low": float,
    "naive_high": float,
    "naive_p": float,
    "eti_rr": float,
    "eti_low": float,
    "eti_high": float,
    "eti_p": float,
    "secular_rr": float,
    "control_adoption": float,
    "control_effect": float,
    "treated_adoption": float,
    "harms": int,
    "bed_days": float,
    "converged": int,
}
#: Columns of the cluster-period rows kept per trial (with ``day``, the period's first day,
#: and the process measures of the trial file).
CLUSTER_PERIOD_COLUMNS = (
    "cluster",
    "period",
    "treated",
    "harms",
    "harms_counterfactual",
    "harms_expected",
    "bed_days",
    "effect",
)
#: Ward-day means (the rest are sums).
MEANS = ("effect", "adoption", "fidelity", "reported_compliance", "alignment")
RANDOMISATION = zlib.crc32(b"trial.randomisation")


def clusters(unit: str, count: int, hospitals: int, wards_per_hospital: int) -> list[tuple[int, int]]:
    """(hospital, ward within it) of each cluster; ward -1 for a whole hospital.  Wards are
    taken in turn from each hospital: the first ward of every hospital, then the second."""
    if unit == "hospital":
        return [(h, -1) for h in range(count or hospitals)]
    order = [(h, w) for w in range(wards_per_hospital) for h in range(hospitals)]
    return order[: count or len(order)]


def schedule(st: Settings, n: int, rng: np.random.Generator) -> np.ndarray:
    """The period in which each of ``n`` clusters switches (``st.periods``: never), in an
    order drawn from ``rng``."""
    order = rng.permutation(n)
    switch = np.full(n, st.periods)
    if st.kind == "stepped_wedge":
        sizes = [n // st.steps + (g < n % st.steps) for g in range(st.steps)]
        groups = np.repeat(np.arange(st.steps), sizes)
        switch[order] = 1 + groups
    elif st.kind == "parallel":
        switch[order[: n // 2]] = st.baseline_periods
    else:  # before_after
        switch[:] = st.baseline_periods
    return switch


def randomisation_rng(seed: int) -> np.random.Generator:
    """The stream the clusters' order is drawn from: the seed's, apart from the model's."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(RANDOMISATION,))))


def _code_hash() -> str:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in ("run.py", "analyse.py"):
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class TrialRunner:
    """One simulated trial as a run of the sweep runner (picklable, for any executor)."""

    trial: Settings
    source: str = "<trial>"

    def settings(self) -> dict[str, Any]:
        """What decides the results besides the scenario (kept in the fingerprint)."""
        return {"trial": self.trial.to_dict(), "trial_code": _code_hash()}

    def split(self, base: Scenario, overrides: Mapping[str, Any]) -> tuple[Settings, Scenario]:
        """A design point's trial settings and scenario."""
        st = self.trial.with_keys({k: v for k, v in overrides.items() if k in BY_KEY})
        scenario = base.with_overrides({k: v for k, v in overrides.items() if k not in BY_KEY}, self.source)
        return st, scenario

    def check(self, base: Scenario, overrides: Mapping[str, Any]) -> None:
        """Raise a one-line :class:`ScenarioError` if a design point cannot be trialled."""
        st, scenario = self.split(base, overrides)
        H, wph = scenario["organisation.hospitals"], scenario["organisation.wards_per_hospital"]
        available = H if st.unit == "hospital" else H * wph
        what = "organisation.hospitals" if st.unit == "hospital" else "the wards of the organisation"
        if st.count > available:
            raise ScenarioError(
                self.source, "clusters.count", f"must be at most {available}, {what} (got {st.count})"
            )
        n = st.count or available
        # every estimate needs 3 clusters (its 95% interval uses clusters - 2 degrees of
        # freedom); a parallel trial's naive estimate uses only the half that switches
        least = 6 if st.kind == "parallel" else 3
        if n < least:
            why = (
                "its naive estimate uses the half that switches, and every estimate needs 3 clusters"
                if st.kind == "parallel"
                else "the 95% interval uses clusters - 2 degrees of freedom"
            )
            raise ScenarioError(
                self.source,
                "clusters.count",
                f"a {st.kind} trial needs at least {least} clusters ({why}); this one has {n}",
            )
        if st.kind == "stepped_wedge" and st.steps > n:
            raise ScenarioError(
                self.source, "design.steps", f"must be at most the number of clusters ({n}) (got {st.steps})"
            )
        if st.horizon > 7300:  # named by the larger part: the run-in or the periods
            raise ScenarioError(
                self.source,
                "design.start_day" if st.start_day > st.horizon - st.start_day else "design.period_days",
                f"start_day + periods x period_days must be at most 7300 days (got {st.horizon})",
            )

    def __call__(self, base: Scenario, overrides: Mapping[str, Any], seed: int):
        from ..model import QIModel
        from .analyse import analyse_trial

        st, scenario = self.split(base, overrides)
        H, wph = scenario["organisation.hospitals"], scenario["organisation.wards_per_hospital"]
        members = clusters(st.unit, st.count, H, wph)
        switch = schedule(st, len(members), randomisation_rng(seed))
        launches = [
            {"day": st.start_day + int(j) * st.period_days, "kind": "launch", "hospital": h, "ward": w}
            for (h, w), j in zip(members, switch, strict=True)
            if j < st.periods
        ]
        scenario = scenario.with_overrides(
            {
                "seed": seed,
                "days": st.horizon,
                "interventions.0.launch_day": -1,
                "events": [*scenario.events, *launches],
            },
            self.source,
        )
        model = QIModel(scenario, rng=seed, detail=True).run()
        cp = cluster_periods(model.ward_detail(), members, switch, st, wph)
        return analyse_trial(cp, switch, st), {
            k: cp[k] for k in ("day", *CLUSTER_PERIOD_COLUMNS, *st.process)
        }


def cluster_periods(
    wd: Mapping[str, np.ndarray], members: list[tuple[int, int]], switch: np.ndarray, st: Settings, wph: int
) -> dict[str, np.ndarray]:
    """Each cluster's ward-days summed (or averaged) into periods: one row per cluster and
    period, cluster-major."""
    n, P = len(members), st.periods
    ward_cluster = np.full(int(wd["ward"].max()) + 1, -1)
    for c, (h, w) in enumerate(members):
        if w < 0:
            ward_cluster[h * wph : (h + 1) * wph] = c
        else:
            ward_cluster[h * wph + w] = c
    day = wd["day"].astype(np.int64)
    period = (day - st.start_day) // st.period_days
    cluster = ward_cluster[wd["ward"].astype(np.int64)]
    keep = (day >= st.start_day) & (period < P) & (cluster >= 0)
    idx = (cluster * P + period)[keep]
    size = n * P
    ward_days = np.bincount(idx, minlength=size).astype(float)

    def total(x: np.ndarray) -> np.ndarray:
        return np.bincount(idx, weights=np.asarray(x, dtype=np.float64)[keep], minlength=size)

    cf = np.asarray(wd["harms_counterfactual"], dtype=np.float64)
    out = {
        "day": st.start_day + np.tile(np.arange(P), n) * st.period_days,
        "cluster": np.repeat(np.arange(n), P).astype(float),
        "period": np.tile(np.arange(P), n).astype(float),
        "treated": (np.tile(np.arange(P), n) >= np.repeat(switch, P)).astype(float),
        "harms": total(wd["harms"]),
        "harms_counterfactual": total(cf),
        "harms_expected": total(cf * (1.0 - np.asarray(wd["effect"], dtype=np.float64))),
        "bed_days": total(wd["bed_days"]),
    }
    for name in ("effect", "adoption", "fidelity", "reported_compliance", "issues_raised", "alignment"):
        s = total(wd[name])
        out[name] = s / np.maximum(ward_days, 1) if name in MEANS else s
    return out
