"""The model's state as numpy arrays, its parameters as namespaces, and its random streams.

Shapes: ``N`` clinical posts, ``W`` wards, ``M`` middle managers, ``H`` hospitals,
``K`` interventions.  Posts are stored ward by ward, every ward the same size, so a
ward's values are a reshape away: ``x.reshape(W, per_ward, K)``.
"""

from __future__ import annotations

import math
import zlib
from types import SimpleNamespace

import numpy as np

from .scenario import Scenario
from .schema import INTERVENTION

GROUPS = ("consultant", "junior", "nurse")
STREAMS = (
    "init.staff",
    "init.ties",
    "init.wards",
    "init.fad",
    "init.engagement",
    "init.fit",
    "use",
    "faithful",
    "report",
    "issues",
    "resolution",
    "outcome",
    "turnover",
    "events",
    "spread",
    "outcome_thinning",
    "outcome_noise",
    "briefing",
)


def make_streams(seed: int, names=STREAMS) -> dict[str, np.random.Generator]:
    """One independent generator per mechanism, keyed by name, from one seed.

    Each child stream is derived from the seed and a stable hash of its name
    (``SeedSequence(seed, spawn_key=(crc32(name),))``), so adding or switching off a
    mechanism never reshuffles the numbers another mechanism draws.
    """
    return {
        n: np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(zlib.crc32(n.encode()),)))
        )
        for n in names
    }


def make_params(scenario: Scenario) -> SimpleNamespace:
    """Scenario values as attribute namespaces: ``p.clinicians.w_value``, ``p.iv.burden[k]``.

    Sections with dots become nested (``p.incentives.manager.performance_review``).
    Intervention fields become arrays over interventions.
    """
    root = SimpleNamespace()
    for key, value in scenario.items():
        if key in ("interventions", "events"):
            continue
        node = root
        *parents, leaf = key.split(".")
        for part in parents:
            if not hasattr(node, part):
                setattr(node, part, SimpleNamespace())
            node = getattr(node, part)
        setattr(node, leaf, value)
    ivs = scenario.interventions
    iv = SimpleNamespace(K=len(ivs), names=[x["name"] for x in ivs])
    for p in INTERVENTION:
        if p.key == "name":
            continue
        values = [x[p.key] for x in ivs]
        if p.kind is str:
            setattr(iv, p.key, np.array(values, dtype=object))
        else:
            setattr(iv, p.key, np.array(values, dtype=float if p.kind is float else int))
    iv.launch_days = set(iv.launch_day.tolist()) | set(iv.scale_up_day.tolist())
    iv.issues_pathway = iv.pathway == "issues"
    iv.issues_pathway_all = bool(iv.issues_pathway.all())
    iv.briefing = iv.working_days_only.astype(bool)  # practised on working days only
    iv.briefing_all = bool(iv.briefing.all())
    # which interventions are practised on each day of the week (day % 7; 5 and 6 are the
    # weekend), and how many: the same seven arrays all run long
    iv.practised = [((d % 7) < 5) | ~iv.briefing for d in range(7)]
    for x in iv.practised:  # each is the day's practice_today: never edited in place
        x.setflags(write=False)
    iv.n_practised = [int(np.count_nonzero(x)) for x in iv.practised]
    iv.ticks = (iv.monitoring == "ticks").astype(float)
    iv.core = core_integrity(iv.adaptation, iv.soft_periphery)
    iv.full_core = bool((iv.core == 1.0).all())  # no adaptation erodes any core
    # ticked without faithful use, as a share of the pressure to show compliance; and
    # over-reported by users: both less where the tool was locally adapted and owned
    iv.tick_rate = (iv.ticks + (1 - iv.ticks) * iv.tick_leak) * (1.0 - iv.adaptation)
    iv.overreport_rate = iv.overreport * (1.0 - iv.adaptation)
    root.iv = iv
    return root


def core_integrity(adaptation, soft_periphery):
    """Share of the intervention's core left intact by local adaptation.

    Claim (the 'soft periphery'): adapting the periphery helps acceptance without
    invalidating the intervention; adaptation beyond it erodes the core.
    """
    excess = np.maximum(0.0, adaptation - soft_periphery)
    return 1.0 - excess / np.maximum(1e-9, 1.0 - soft_periphery)


def beta_with_mean(rng: np.random.Generator, mean: float, size, concentration: float = 10.0):
    """Draws in [0, 1] around ``mean`` (a Beta with the given concentration)."""
    m = min(max(mean, 1e-3), 1 - 1e-3)
    return rng.beta(m * concentration, (1 - m) * concentration, size=size)


class State:
    """All mutable state of a run, as arrays.  Built from parameters and the 'init' stream."""

    def __init__(self, p: SimpleNamespace, rng: dict[str, np.random.Generator]):
        org, K = p.organisation, p.iv.K
        self.rng = rng
        self.day = 0
        H, wph, cpw = org.hospitals, org.wards_per_hospital, org.clinicians_per_ward
        W, N = H * wph, H * wph * cpw
        mph = math.ceil(wph / org.wards_per_manager)
        M = H * mph
        self.H, self.W, self.N, self.M, self.K, self.cpw, self.wph = H, W, N, M, K, cpw, wph

        # -- structure --------------------------------------------------------------
        self.ward_hosp = np.repeat(np.arange(H), wph)
        local_mgr = np.arange(wph) // org.wards_per_manager
        self.ward_mgr = (np.arange(H)[:, None] * mph + local_mgr[None, :]).ravel()
        self.mgr_hosp = np.repeat(np.arange(H), mph)
        self.mgr_wards = np.bincount(self.ward_mgr, minlength=M).astype(float)
        self.c_ward = np.repeat(np.arange(W), cpw)
        self.c_hosp = self.ward_hosp[self.c_ward]
        shares = np.array([org.share_consultant, org.share_junior, org.share_nurse])
        staff = rng["init.staff"]
        self.c_group = staff.choice(3, size=N, p=shares / shares.sum())
        self.c_champion = staff.random(N) < org.champion_share
        T = min(org.peer_ties, cpw - 1)
        local = np.tile(np.arange(cpw), W)
        start = self.c_ward * cpw
        offs = rng["init.ties"].integers(1, cpw, size=(N, T)) if T > 0 else np.zeros((N, 0), dtype=int)
        self.c_ties = start[:, None] + (local[:, None] + offs) % cpw
        self.champion_weight = org.champion_weight
        self.update_tie_weights()

        # -- wards ------------------------------------------------------------------
        wards = rng["init.wards"]
        # a shift is never entirely taken or entirely free: the range of workload_mean
        self.w_workload = np.clip(wards.normal(org.workload_mean, org.workload_sd, W), 0.3, 0.99)
        self.w_acuity = np.exp(wards.normal(-0.5 * org.acuity_sd**2, org.acuity_sd, W))
        self.w_bed_days = np.full(W, org.beds_per_ward * org.occupancy)
        self.w_fid_ema = np.zeros((W, K))
        self.w_use_ema = np.zeros((W, K))
        self.w_use_peak = np.zeros((W, K))
        self.w_abandoned = np.zeros((W, K), dtype=bool)
        self.w_improve = np.zeros((W, K))
        self.w_briefing = np.zeros((W, K), dtype=bool)

        # -- clinicians -------------------------------------------------------------
        self.c_eng = np.zeros((N, K))
        self.c_skill = np.zeros((N, K))
        self.c_value = np.zeros((N, K))
        self.c_use = np.zeros((N, K), dtype=bool)
        self.c_faithful = np.zeros((N, K), dtype=bool)
        self.c_reported = np.zeros((N, K), dtype=bool)
        conc = org.initial_concentration
        self.c_fad = beta_with_mean(rng["init.fad"], p.clinicians.fad_belief_initial, N, conc)
        self.c_eng_start = np.where(
            self.c_champion,
            max(org.champion_engagement, p.clinicians.engagement_initial),
            beta_with_mean(rng["init.engagement"], p.clinicians.engagement_initial, N, conc),
        )
        self.c_eng[:] = self.c_eng_start[:, None]
        self.resp = (
            np.array(
                [
                    p.clinicians.responsiveness_consultant,
                    p.clinicians.responsiveness_junior,
                    p.clinicians.responsiveness_nurse,
                ]
            )[self.c_group]
            * p.clinicians.adjust_rate
        )
        self.resp = np.minimum(self.resp, 1.0)  # a day's step never overshoots its target
        career = np.where(
            self.c_group == 1, p.clinicians.career_weight_junior, p.clinicians.career_weight_other
        )
        self.c_incentive_own = (
            p.incentives.clinician.recognition + p.incentives.clinician.career_credit * career
        )

        # -- managers and board -----------------------------------------------------
        self.m_priority = np.full((M, K), p.managers.priority_initial)
        self.m_useful = np.zeros((M, K))
        self.m_share = np.zeros((M, K))
        self.b_focus = np.full((H, K), p.board.focus_initial)
        self.b_soft = np.zeros((H, K))

        # -- per-hospital policy and pressures, changed by events and levers --------
        self.review_on = np.full(H, float(p.actions.board.review_incentives))
        self.protected = np.full(H, p.actions.manager.protected_time)
        self.resources = np.full(H, p.actions.board.resources)
        self.regulator = np.full(H, p.incentives.board.regulator_endorsement)
        self.merger = np.zeros(H)
        self.merger_until = np.zeros(H, dtype=int)
        self.ehr = np.zeros(H)
        self.ehr_until = np.zeros(H, dtype=int)
        self.inspection = np.zeros(H)
        self.inspection_until = np.zeros(H, dtype=int)
        # the regulator's endorsement as each board last took it in, per intervention
        self.b_news_seen = np.repeat(self.regulator[:, None], K, axis=1)
        fac = p.facilitation
        facilitated = np.arange(H) < (fac.hospitals or H)
        self.facil_from = np.where(facilitated & fac.enabled, fac.start_day, 1 << 40)
        self.facil_until = np.where(facilitated & fac.enabled, fac.end_day, 0)

        # -- interventions in each hospital ------------------------------------------
        self.launched = np.zeros((H, K), dtype=bool)
        self.deferred = np.zeros((H, K), dtype=bool)
        self.active = np.zeros((H, K), dtype=bool)
        self.mandate = np.zeros((H, K))
        self.w_started = np.zeros((W, K), dtype=bool)
        self.w_active = np.zeros((W, K), dtype=bool)
        self.m_active = np.zeros((M, K), dtype=bool)
        self.mgr_first_ward = np.flatnonzero(np.r_[True, self.ward_mgr[1:] != self.ward_mgr[:-1]])
        self.w_champions = self.c_champion.reshape(W, cpw).sum(axis=1)
        spread = rng["init.fit"].standard_normal((M, K))
        fit = p.iv.fit_manager_plans[None, :] + p.iv.fit_spread[None, :] * spread
        self.m_fit_plans = np.clip(fit, 0.0, 1.0)

        # -- derived each day (kept for observation) ----------------------------------
        self.w_intensity = np.zeros((W, K))
        self.w_capacity = np.zeros((W, K))
        self.w_broker = np.zeros((W, K))
        self.w_accountability = np.zeros((W, K))
        self.w_protected = np.zeros((W, K))
        self.w_backing = np.zeros((W, K))
        self.w_support = np.zeros((W, K))
        self.w_train = np.zeros((W, K))
        self.w_free_time = np.zeros(W)
        self.facil_present = np.zeros(H, dtype=bool)
        self.practice_today = np.ones(K, dtype=bool)
        # (N, K): ready for a briefing that was not held today; None when every one was held
        self.c_missed: np.ndarray | None = None
        self.issues = IssueStore(K, W)
        self.today: dict[str, np.ndarray] = {}
        self._once: dict[str, object] = {}

    def once(self, name: str, compute):
        """``compute()``, computed on first use and kept under ``name``: for terms of the
        daily rules made of parameters and of what never changes in a run (the structure,
        workloads, bed days, acuity), so each day does not compute them again."""
        if name not in self._once:
            value = compute()
            for x in value if isinstance(value, tuple) else (value,):
                if isinstance(x, np.ndarray):  # shared with the day's state: never edited in place
                    x.setflags(write=False)
            self._once[name] = value
        return self._once[name]

    def update_tie_weights(self, wards: np.ndarray | None = None) -> None:
        """Weights of each clinician's peers: a champion counts ``champion_weight`` times.

        With ``wards``, only the posts of those wards are updated (ties stay within a ward).
        The weights are also kept tie by tie (``tie_weight_T``, shape (T, N)), as the daily
        peer influence reads them.
        """
        if wards is None:
            weight = np.where(self.c_champion, self.champion_weight, 1.0)
            self.tie_weight = weight[self.c_ties]
            self.tie_weight_sum = np.maximum(self.tie_weight.sum(axis=1, keepdims=True), 1e-9)
            self.c_ties_T = np.ascontiguousarray(self.c_ties.T)
            self.tie_weight_T = np.ascontiguousarray(self.tie_weight.T)
            return
        posts = (wards[:, None] * self.cpw + np.arange(self.cpw)).ravel()
        tw = np.where(self.c_champion[self.c_ties[posts]], self.champion_weight, 1.0)  # their ties only
        self.tie_weight[posts] = tw
        self.tie_weight_sum[posts] = np.maximum(tw.sum(axis=1, keepdims=True), 1e-9)
        self.tie_weight_T[:, posts] = tw.T

    # convenient per-ward reductions --------------------------------------------------
    def ward_mean(self, x: np.ndarray) -> np.ndarray:
        """Mean over each ward's posts of an (N, K) or (N,) array."""
        return _mean(x.reshape(self.W, self.cpw, *x.shape[1:]), self.cpw)

    def hosp_mean(self, x: np.ndarray) -> np.ndarray:
        """Mean over each hospital's wards of a (W, ...) array."""
        return _mean(x.reshape(self.H, self.wph, *x.shape[1:]), self.wph)


def _mean(x: np.ndarray, n: int) -> np.ndarray:
    """``x.mean(axis=1)`` for axis 1 of length ``n``: the same sum and division, without
    ``np.mean``'s overhead (which is most of the cost for small arrays)."""
    return np.add.reduce(x, axis=1, dtype=None if x.dtype.kind == "f" else np.float64) / n


class IssueStore:
    """Every issue raised (the log), plus a compact table of the open ones.

    Log columns: ward, intervention, raised day, severity, authority needed (0 ward,
    1 cross-department, 2 board), how well it serves clinicians' and managers'
    priorities, agreement (at closing, or as last computed while open), resolved day
    and lapsed day (-1 if not).  The open table holds what the day's resolution reads,
    for open issues only, in the order they were raised: the log row (``id``), the
    (ward, intervention) cell ``ward * K + k``, the cell and authority together
    (``acell = 3 * cell + authority``), and severity and fits as float64 (the float32
    values of the log, exactly).  So a day's work never scans the whole log and gathers
    per-cell values with one flat index.  Counts of open issues per cell and authority
    (``acell``) are kept up to date as issues open and close; those per cell and, per
    ward, of those needing authority above the ward are summed from them (``open_counts``).
    """

    FIELDS = {
        "ward": np.int32,
        "k": np.int16,
        "raised": np.int32,
        "severity": np.float32,
        "authority": np.int8,
        "c_fit": np.float32,
        "m_fit": np.float32,
        "agreement": np.float32,
        "resolved": np.int32,
        "lapsed": np.int32,
    }
    OPEN_FIELDS = {
        "id": np.int64,
        "cell": np.intp,
        "acell": np.intp,
        "severity": np.float64,
        "c_fit": np.float64,
        "m_fit": np.float64,
    }

    def __init__(self, K: int, W: int = 0, capacity: int = 1024):
        self.K, self.W = K, W
        self.n = 0
        self.cols = {f: self._column(capacity, f, t) for f, t in self.FIELDS.items()}
        # the open table lives at the start of one of two sets of buffers, and closing
        # issues compacts it from one into the other, so a day allocates no large array
        self._buf = self._buffers(capacity)
        self._spare = self._buffers(capacity)
        self._n_open = 0
        self.open_acell = np.zeros(3 * W * K, dtype=np.intp)  # open issues per cell and authority
        # agreement as last computed, for every issue then open, and which of them stayed open
        self._agreement = np.zeros(0)
        self._kept = np.zeros(0, dtype=np.intp)
        self.raised_total = 0
        self.resolved_total = 0
        self.lapsed_total = 0

    @staticmethod
    def _column(capacity: int, field: str, dtype) -> np.ndarray:
        """A log column's buffer; the resolved and lapsed days start at -1 (not yet)."""
        if field in ("resolved", "lapsed"):
            return np.full(capacity, -1, dtype=dtype)
        return np.zeros(capacity, dtype=dtype)

    def open_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Open issues per cell, (W, K), and per ward those that need authority above the
        ward's (cross-department, board), (W,) as floats (whole numbers: summed in any
        order, the same)."""
        a = self.open_acell.reshape(self.W, self.K, 3)
        above = a[:, :, 1] + a[:, :, 2]
        per_cell = above + a[:, :, 0]
        return per_cell, (above[:, 0] if self.K == 1 else np.add.reduce(above, axis=1)).astype(float)

    def _buffers(self, capacity: int) -> dict[str, np.ndarray]:
        return {f: np.zeros(capacity, dtype=t) for f, t in self.OPEN_FIELDS.items()}

    @property
    def open(self) -> dict[str, np.ndarray]:
        """The open table, field by field (views, valid until issues are next added or closed)."""
        return {f: a[: self._n_open] for f, a in self._buf.items()}

    @property
    def n_open(self) -> int:
        return self._n_open

    def add(self, **cols: np.ndarray) -> None:
        """Log new issues (arrays of equal length, or a scalar for all) and open them."""
        m = len(cols["ward"])
        if m == 0:
            return
        need = self.n + m
        cap = len(self.cols["ward"])
        if need > cap:
            new = max(need, 2 * cap)
            for f, a in self.cols.items():
                b = self._column(new, f, a.dtype)
                b[: self.n] = a[: self.n]
                self.cols[f] = b
        sl = slice(self.n, need)
        for f, v in cols.items():
            self.cols[f][sl] = v
        start, end = self._n_open, self._n_open + m
        if end > len(self._buf["id"]):
            size = max(end, 2 * len(self._buf["id"]))
            buf = self._buffers(size)
            for f, a in self._buf.items():
                buf[f][:start] = a[:start]
            self._buf, self._spare = buf, self._buffers(size)
        b = self._buf
        cell = b["cell"][start:end]
        np.multiply(self.cols["ward"][sl], self.K, out=cell, dtype=np.intp)
        cell += self.cols["k"][sl]
        acell = np.multiply(cell, 3, out=b["acell"][start:end])
        acell += self.cols["authority"][sl]
        b["id"][start:end] = np.arange(self.n, need)
        for f in ("severity", "c_fit", "m_fit"):
            b[f][start:end] = self.cols[f][sl]  # as logged (float32), to float64: exact
        self._n_open = end
        self.open_acell += np.bincount(acell, minlength=len(self.open_acell))
        self.n = need
        self.raised_total += m

    def raised_by(self, day: int) -> int:
        """How many open issues were raised on or before ``day`` (they come first)."""
        raised = self.cols["raised"]
        if not self._n_open or raised[self._buf["id"][0]] > day:
            return 0
        logged = int(raised[: self.n].searchsorted(raised.dtype.type(day), side="right"))
        return int(self._buf["id"][: self._n_open].searchsorted(logged))

    def close(self, resolved: np.ndarray, lapsed: np.ndarray, day: int, agreement: np.ndarray) -> None:
        """Close the open issues at positions ``resolved`` and ``lapsed`` of the open table;
        ``agreement`` is the one computed today for every open issue."""
        gone = np.concatenate([resolved, lapsed])
        staying = np.ones(self._n_open, dtype=bool)
        staying[gone] = False
        kept = staying.nonzero()[0]
        self._agreement, self._kept = agreement, kept
        if not len(gone):
            return
        o = self.open
        ids = o["id"][gone]  # the resolved, then the lapsed
        self.cols["resolved"][ids[: len(resolved)]] = day
        self.cols["lapsed"][ids[len(resolved) :]] = day
        self.cols["agreement"][ids] = agreement[gone]
        self.resolved_total += len(resolved)
        self.lapsed_total += len(lapsed)
        self.open_acell -= np.bincount(o["acell"][gone], minlength=len(self.open_acell))
        for f, a in o.items():
            a.take(kept, out=self._spare[f][: len(kept)], mode="clip")  # indices are in range
        self._buf, self._spare = self._spare, self._buf
        self._n_open = len(kept)

    def column(self, name: str) -> np.ndarray:
        """A log column; agreement of still-open issues is the one last computed."""
        col = self.cols[name][: self.n]
        if name == "agreement" and len(self._kept):
            col = col.copy()
            # the first issues of the open table are those that stayed open at the last
            # computation; issues raised since have none yet
            col[self.open["id"][: len(self._kept)]] = self._agreement[self._kept]
        return col
