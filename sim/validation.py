"""The validation suite: stylised facts as experiments with hypotheses stated in advance.

A fact (``experiments/validation/*.toml``, format in that folder's README) names arms,
each a scenario with overrides, and hypotheses, each a weighted sum of outcomes over day
windows of the arms.  Every arm runs on the same seeds (common random numbers); each
hypothesis' statistic is computed per seed, and its mean and 95% t confidence interval
decide pass or fail.
"""

from __future__ import annotations

import shlex
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .scenario import ScenarioError, data_dir, load_scenario
from .stats import mean_ci

TESTS = ("greater", "less", "equivalent", "noninferior")
SIMPLE_OUTCOMES = (
    "effect",
    "gap",
    "wards_running",
    "raised_per_briefing",
    "auc_agreement_minus_severity",
    "sustainment",
    "engagement_min",
    "engagement_avg",
    "resolved_share",
    "resolved_share_above_ward",
    "abandon_day",
)
#: Outcomes that give one value per ward and month (30-day blocks) rather than one number.
ARRAY_OUTCOMES = ("ward_months_briefing", "ward_months_issues")
FACT_KEYS = ("id", "title", "kind", "claim", "mechanisms", "replicates", "days", "arms", "hypotheses")


@dataclass(frozen=True)
class Term:
    arm: str
    outcome: str
    window: tuple[int, int]
    weight: float


@dataclass(frozen=True)
class Hypothesis:
    name: str
    statement: str
    terms: tuple[Term, ...]
    test: str
    min_effect: float = 0.0
    margin: float = 0.0

    def verdict(self, mean: float, low: float, high: float) -> bool:
        """Pass or fail by the rule of experiments/validation/README.md."""
        if not np.isfinite([mean, low, high]).all():
            return False
        if self.test == "greater":
            return mean >= self.min_effect and low > 0
        if self.test == "less":
            return mean <= -self.min_effect and high < 0
        if self.test == "equivalent":
            return -self.margin <= low and high <= self.margin
        return low > -self.margin  # noninferior


@dataclass(frozen=True)
class Fact:
    id: str
    title: str
    kind: str
    claim: str
    mechanisms: tuple[str, ...]
    replicates: int
    days: int
    arms: Mapping[str, tuple[str, tuple[str, ...]]]  # name -> (scenario, overrides)
    hypotheses: tuple[Hypothesis, ...]
    source: str = ""

    def needs(self) -> dict[str, list[tuple[str, tuple[int, int]]]]:
        """For each arm, the (outcome, window) pairs its runs must measure."""
        out: dict[str, list] = {arm: [] for arm in self.arms}
        for h in self.hypotheses:
            for t in h.terms:
                if (t.outcome, t.window) not in out[t.arm]:
                    out[t.arm].append((t.outcome, t.window))
        return out


@dataclass
class HypothesisResult:
    fact: str
    hypothesis: Hypothesis
    values: np.ndarray  # the statistic per seed
    mean: float = field(init=False)
    low: float = field(init=False)
    high: float = field(init=False)
    passed: bool = field(init=False)

    def __post_init__(self) -> None:
        mean, low, high = mean_ci(self.values)
        self.mean, self.low, self.high = float(mean), float(low), float(high)
        self.passed = self.hypothesis.verdict(self.mean, self.low, self.high)


# -- loading -----------------------------------------------------------------------------


def validation_dir() -> Path:
    return data_dir("experiments") / "validation"


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict; a missing or malformed file is a one-line :class:`ScenarioError`."""
    source = str(path)
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(source, None, "file not found") from None
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(source, None, f"not valid TOML ({err})") from None


def check_keys(table: Mapping, allowed: Iterable[str], source: str, prefix: str = "") -> None:
    """Every key of ``table`` is one of ``allowed``, or a one-line error naming it."""
    allowed = tuple(allowed)
    for key in table:
        if key not in allowed:
            raise ScenarioError(source, prefix + key, f"unknown key; allowed: {', '.join(allowed)}")


def load_fact(path: str | Path, raw: Mapping[str, Any] | None = None, extra_keys: Iterable[str] = ()) -> Fact:
    """Read and check one fact file; every problem is a one-line :class:`ScenarioError`.
    ``extra_keys`` are top-level keys that a caller reads itself (Table 1's ``published``)."""
    path = Path(path)
    source = str(path)
    if raw is None:
        raw = read_toml(path)
    check_keys(raw, FACT_KEYS + tuple(extra_keys), source)

    def need(key: str, kind: type | tuple[type, ...], where: Mapping = raw, prefix: str = ""):
        if key not in where:
            raise ScenarioError(source, prefix + key, "is missing")
        value = where[key]
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise ScenarioError(source, prefix + key, f"has the wrong type ({type(value).__name__})")
        return value

    days = need("days", int)
    arms = {}
    for name, arm in need("arms", dict).items():
        check_keys(arm, ("scenario", "set"), source, f"arms.{name}.")
        scenario = need("scenario", str, arm, f"arms.{name}.")
        overrides = tuple(arm.get("set", ())) + (f"days={days}",)
        try:
            load_scenario(scenario, overrides)  # fails here, naming the key, if an override is bad
        except ScenarioError as err:
            if err.source not in ("--set", ""):  # an error inside the scenario file names that file
                raise
            raise ScenarioError(source, f"arms.{name}.set: {err.key}", err.message) from None
        arms[name] = (scenario, overrides)
    hypotheses = []
    for i, h in enumerate(need("hypotheses", list)):
        prefix = f"hypotheses.{i}."
        check_keys(h, ("name", "statement", "terms", "test", "min_effect", "margin"), source, prefix)
        test = need("test", str, h, prefix)
        if test not in TESTS:
            raise ScenarioError(source, prefix + "test", f"must be one of {', '.join(TESTS)} (got {test!r})")
        terms = []
        for j, t in enumerate(need("terms", list, h, prefix)):
            where = f"{prefix}terms.{j}."
            check_keys(t, ("arm", "outcome", "window", "weight"), source, where)
            arm = need("arm", str, t, where)
            if arm not in arms:
                raise ScenarioError(source, where + "arm", f"must be one of the arms {', '.join(arms)}")
            outcome = need("outcome", str, t, where)
            check_outcome(outcome, source, where + "outcome")
            window = need("window", list, t, where)
            if (
                len(window) != 2
                or not all(isinstance(x, int) for x in window)
                or not (0 <= window[0] < window[1] <= days)
            ):
                raise ScenarioError(
                    source, where + "window", f"must be [start, end) with 0 <= start < end <= {days}"
                )
            weight = need("weight", (int, float), t, where)
            terms.append(Term(arm, outcome, (window[0], window[1]), float(weight)))
        hypotheses.append(
            Hypothesis(
                name=need("name", str, h, prefix),
                statement=need("statement", str, h, prefix),
                terms=tuple(terms),
                test=test,
                min_effect=float(h.get("min_effect", 0.0)),
                margin=float(h.get("margin", 0.0)),
            )
        )
    replicates = need("replicates", int)
    if replicates < 2:
        raise ScenarioError(source, "replicates", "must be at least 2 (a confidence interval needs two)")
    return Fact(
        id=need("id", str),
        title=need("title", str),
        kind=need("kind", str),
        claim=" ".join(need("claim", str).split()),
        mechanisms=tuple(need("mechanisms", list)),
        replicates=replicates,
        days=days,
        arms=arms,
        hypotheses=tuple(hypotheses),
        source=source,
    )


def load_facts(only: Iterable[str] | None = None) -> list[Fact]:
    """Every fact shipped with the package, in id order, or those named in ``only``."""
    facts = [load_fact(p) for p in sorted(validation_dir().glob("*.toml"))]
    facts.sort(key=lambda f: int(f.id[2:]) if f.id[2:].isdigit() else 99)
    if only is not None:
        wanted = [x.strip().upper() for x in only if x.strip()]
        known = [f.id for f in facts]  # in id order
        if not wanted:
            raise ScenarioError("--only", None, f"names no fact; facts are {', '.join(known)}")
        for x in wanted:
            if x not in known:
                raise ScenarioError("--only", None, f"unknown fact '{x}'; facts are {', '.join(known)}")
        facts = [f for f in facts if f.id in wanted]
    return facts


def check_outcome(name: str, source: str, key: str) -> None:
    from .model import COLUMNS, WARD_COLUMNS

    base, _, arg = name.partition(":")
    ok = (
        name in COLUMNS
        or name in SIMPLE_OUTCOMES
        or (base in ("adoption", "fidelity") and arg.isdigit())
        or (base == "halfrise" and arg in COLUMNS)
        or (base == "ward_sd" and arg in WARD_COLUMNS)
        or name in ARRAY_OUTCOMES
    )
    if not ok:
        raise ScenarioError(
            source,
            key,
            f"unknown outcome '{name}'; outcomes are timeseries columns, {', '.join(SIMPLE_OUTCOMES)}, "
            "adoption:K, fidelity:K, halfrise:COLUMN, ward_sd:WARD_COLUMN and " + ", ".join(ARRAY_OUTCOMES),
        )


# -- outcomes ----------------------------------------------------------------------------


def outcome(model, name: str, window: tuple[int, int]) -> float:
    """One outcome of a finished run over the half-open day window (see the README)."""
    start, end = window
    ts = model.timeseries()
    sl = slice(start, end)
    base, _, arg = name.partition(":")
    if name == "effect":
        cf = ts["harms_counterfactual"][sl].sum()
        return float(1.0 - ts["harms"][sl].sum() / cf) if cf > 0 else 0.0
    if name == "gap":
        return float((ts["reported_compliance"][sl] - ts["fidelity"][sl]).mean())
    if name == "wards_running":
        return float(_wards_running(model)[sl].mean())
    if name == "raised_per_briefing":
        raised = ts["issues_raised"][end - 1] - (ts["issues_raised"][start - 1] if start else 0.0)
        briefings = ts["briefings_held"][sl].sum() * model.state.W
        return float(raised / briefings) if briefings > 0 else 0.0
    if name == "auc_agreement_minus_severity":
        return _auc_gap(model, start, end)
    if base in ("adoption", "fidelity") and arg:
        detail = model.intervention_detail()
        K = model.state.K
        series = detail[base].reshape(-1, K)[:, int(arg)]
        return float(series[sl].mean())
    if base == "halfrise" and arg:
        return _halfrise(ts[arg], start, end)
    if name == "sustainment":
        peak = ts["adoption"][:end].max()
        return float(ts["adoption"][sl].mean() / peak) if peak > 0 else 0.0
    if name in ("engagement_min", "engagement_avg"):
        levels = np.stack([ts[f"engagement_{lv}"][sl] for lv in ("clinician", "manager", "board")])
        return float((levels.min(axis=0) if name == "engagement_min" else levels.mean(axis=0)).mean())
    if name == "abandon_day":
        adoption = ts["adoption"]
        peak = np.maximum.accumulate(adoption)[start:end]
        low = np.flatnonzero(adoption[start:end] < 0.5 * peak)
        return float(low[0]) if low.size else float(end - start)
    if name in ("resolved_share", "resolved_share_above_ward"):
        return _resolved_share(model, start, end, above_ward=name.endswith("above_ward"))
    if base == "ward_sd" and arg:
        detail = model.ward_detail()
        per_day = detail[arg].reshape(-1, model.state.W)[sl]
        return float(per_day.std(axis=1).mean())
    if name in ARRAY_OUTCOMES:
        return _ward_months(model, start, end, name)
    return float(ts[name][sl].mean())


def _resolved_share(model, start: int, end: int, above_ward: bool) -> float:
    """Of the issues raised in the window (those needing more than a ward's authority, if
    ``above_ward``), the share resolved by the window's end."""
    log = model.issue_log()
    sel = (log["raised_day"] >= start) & (log["raised_day"] < end)
    if above_ward:
        sel &= log["authority"] != "ward"
    if not sel.any():
        return 0.0
    resolved = (log["resolved_day"][sel] >= 0) & (log["resolved_day"][sel] < end)
    return float(resolved.mean())


def _ward_months(model, start: int, end: int, name: str) -> np.ndarray:
    """Per ward and 30-day month of the window: the share of working days (Monday to
    Friday, as the model counts them) with a briefing held, or the issues raised."""
    detail = model.ward_detail()
    W = model.state.W
    column = "briefing_held" if name == "ward_months_briefing" else "issues_raised"
    daily = detail[column].reshape(-1, W)[start:end].astype(float)
    months = (end - start) // 30
    out = []
    for m in range(months):
        block = daily[30 * m : 30 * (m + 1)]
        if name == "ward_months_briefing":
            working = ((np.arange(start + 30 * m, start + 30 * (m + 1)) % 7) < 5)[:, None]
            out.append((block * working).sum(axis=0) / working.sum())
        else:
            out.append(block.sum(axis=0))
    return np.concatenate(out) if out else np.zeros(0)


def _wards_running(model) -> np.ndarray:
    """Share of wards running the primary intervention each day (remembered use above the
    running threshold), rebuilt from the per-ward daily adoption exactly as the model
    remembers it."""
    s, p = model.state, model.params
    use = model.ward_detail()["adoption"].reshape(-1, s.W).astype(float)
    ema = np.zeros(s.W)
    out = np.zeros(len(use))
    for d, row in enumerate(use):
        ema += (row - ema) / p.spread.use_memory
        out[d] = (ema >= p.spread.running_threshold).mean()
    return out


def _auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    n1, n0 = int(positive.sum()), int((~positive).sum())
    if n1 == 0 or n0 == 0:
        return 0.5
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    # average ranks for ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def _auc_gap(model, start: int, end: int) -> float:
    log = model.issue_log()
    raised = log["raised_day"]
    closed = (log["resolved_day"] >= 0) | (log["lapsed_day"] >= 0)
    sel = (raised >= start) & (raised < end) & closed
    resolved = log["resolved_day"][sel] >= 0
    agreement = log["agreement"][sel].astype(float)
    severity = log["severity"][sel].astype(float)
    return _auc(agreement, resolved) - _auc(severity, resolved)


def _halfrise(series: np.ndarray, start: int, end: int) -> float:
    before = series[max(0, start - 30) : start].mean()
    after = series[max(start, end - 60) : end].mean()
    half = before + 0.5 * (after - before)
    seg = series[start:end]
    hit = np.flatnonzero(seg >= half) if after >= before else np.flatnonzero(seg <= half)
    return float(hit[0]) if hit.size else float(end - start)


# -- running ---------------------------------------------------------------------------

#: One run: scenario (preset or path), overrides, seed, and the (outcome, window) pairs it
#: must measure.  Plain data, so that it pickles to a pool worker or a Dask worker.
Job = tuple[str, tuple[str, ...], int, tuple[tuple[str, tuple[int, int]], ...]]


def run_arm(job: Job) -> list[Any]:
    """Run one arm on one seed; return its outcomes in the order asked (picklable job)."""
    from .model import QIModel

    scenario, overrides, seed, needs = job
    model = QIModel(load_scenario(scenario, overrides), rng=seed)
    model.run()
    return [outcome(model, name, window) for name, window in needs]


def run_chunk(jobs: list[Job]) -> list[list[Any]]:
    """A chunk of runs, one task for an executor (its overhead shared by the chunk)."""
    return [run_arm(job) for job in jobs]


def as_info(executor: Any) -> Any:
    """An :class:`~sim.experiments.executors.ExecutorInfo` for a plain executor, or None."""
    from .experiments.executors import ExecutorInfo, SequentialExecutor

    if executor is None:
        return ExecutorInfo(SequentialExecutor(), 1, "in this process")
    if isinstance(executor, ExecutorInfo):
        return executor
    return ExecutorInfo(executor, getattr(executor, "_max_workers", 2) or 2, "on an executor")


def run_jobs(jobs: list[Job], executor: Any = None, progress: Callable[[int], None] | None = None) -> list:
    """Every job's outcomes, in the order of ``jobs``, run in chunks on the executor of
    :mod:`sim.experiments.executors` (in this process, a local pool or a Dask cluster).
    Each run's inputs are fixed before it is sent, and results are put back in job order,
    so they do not depend on the executor or the number of workers."""
    import concurrent.futures as cf

    from .experiments.design import chunk_size

    info = as_info(executor)
    size = chunk_size(len(jobs))
    spans = [range(i, min(i + size, len(jobs))) for i in range(0, len(jobs), size)]
    out: list[Any] = [None] * len(jobs)
    pending: dict[cf.Future, range] = {}
    queue = iter(spans)
    window = max(2, 2 * info.slots)

    def fill() -> None:
        while len(pending) < window:
            span = next(queue, None)
            if span is None:
                return
            pending[info.executor.submit(run_chunk, [jobs[i] for i in span])] = span

    try:
        fill()
        while pending:
            done, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
            for future in done:
                span = pending.pop(future)
                for i, result in zip(span, future.result(), strict=True):
                    out[i] = result
                if progress:
                    progress(len(span))
            fill()
    finally:
        for future in pending:
            future.cancel()
    return out


def fact_jobs(
    facts: list[Fact],
    replicates: int | None = None,
    extra: Callable[[Fact, str], tuple[str, ...]] | None = None,
) -> tuple[list[Job], list[tuple[str, str, int]]]:
    """The runs of every arm of every fact on seeds 1..replicates, with their keys;
    ``extra(fact, arm)`` adds overrides to an arm (the robustness check's shifts)."""
    jobs, keys = [], []
    for fact in facts:
        n = replicates or fact.replicates
        for arm, needs in fact.needs().items():
            scenario, overrides = fact.arms[arm]
            more = extra(fact, arm) if extra else ()
            for seed in range(1, n + 1):
                jobs.append((scenario, overrides + tuple(more), seed, tuple(needs)))
                keys.append((fact.id, arm, seed))
    return jobs, keys


def score(
    facts: list[Fact], replicates: int | None, keys: list, jobs: list[Job], results: list
) -> list[HypothesisResult]:
    """Test every hypothesis on the runs' outcomes (paired per seed)."""
    values: dict[tuple[str, str, int], dict] = {}
    for key, job, result in zip(keys, jobs, results, strict=True):
        values[key] = dict(zip(job[3], result, strict=True))
    out = []
    for fact in facts:
        n = replicates or fact.replicates
        for h in fact.hypotheses:
            stat = np.zeros(n)
            for t in h.terms:
                stat += t.weight * np.array(
                    [values[(fact.id, t.arm, seed)][(t.outcome, t.window)] for seed in range(1, n + 1)]
                )
            out.append(HypothesisResult(fact.id, h, stat))
    return out


def evaluate(
    facts: list[Fact],
    replicates: int | None = None,
    executor: Any = None,
    progress: Callable[[int], None] | None = None,
) -> list[HypothesisResult]:
    """Run every arm of every fact on seeds 1..replicates and test every hypothesis.
    ``executor``: None (this process), a ``concurrent.futures.Executor`` or an open
    :class:`~sim.experiments.executors.ExecutorInfo` (``open_executor``)."""
    jobs, keys = fact_jobs(facts, replicates)
    return score(facts, replicates, keys, jobs, run_jobs(jobs, executor, progress))


def fact_passed(results: list[HypothesisResult], fact_id: str) -> bool:
    return all(r.passed for r in results if r.fact == fact_id)


def table(facts: list[Fact], results: list[HypothesisResult]) -> str:
    """Plain-text table of the results, one line per hypothesis."""
    lines = [f"{'fact':5} {'hypothesis':34} {'test':17} {'mean':>9} {'95% CI':>21}  result"]
    for fact in facts:
        for r in (r for r in results if r.fact == fact.id):
            h = r.hypothesis
            lines.append(
                f"{fact.id:5} {h.name[:34]:34} {rule_text(h):17} {r.mean:9.3f} "
                f"[{r.low:8.3f}, {r.high:8.3f}]  {'pass' if r.passed else 'FAIL'}"
            )
    return "\n".join(lines)


def rule_text(h: Hypothesis) -> str:
    """A hypothesis' test and threshold as the tables show it: ``greater > 0.1``,
    ``less < -0.05``, ``equivalent ±0.05``, ``noninferior ±0.05``."""
    if h.test == "greater":
        return f"{h.test} > {h.min_effect:g}"
    if h.test == "less":
        return f"{h.test} < -{h.min_effect:g}"
    return f"{h.test} ±{h.margin:g}"


def report_markdown(
    facts: list[Fact], results: list[HypothesisResult], replicates: int | None, command: str = ""
) -> str:
    """The validation report: for each fact its claim, mechanisms, hypotheses and verdicts;
    ``command``: the command that wrote it (default: the full suite's into docs/)."""
    out = ["# Validation report", ""]
    if not command:
        command = "qisim validate --report docs" + (f" --replicates {replicates}" if replicates else "")
    out += [f"Regenerate with `{command}`.", ""]
    n_pass = sum(fact_passed(results, f.id) for f in facts)
    seeds = {replicates or f.replicates for f in facts}
    n = str(seeds.pop()) if len(seeds) == 1 else "N (each fact's replicates)"
    out += [
        f"{n_pass} of {len(facts)} stylised facts pass at the defaults. Each arm ran on seeds 1..{n}",
        "(common random numbers); each statistic is the paired per-seed value, with its mean and",
        "95% t confidence interval over seeds. Hypotheses and pass rules were fixed before the",
        "results (experiments/validation/).",
        "",
        "| fact | kind | hypothesis | test | mean | 95% CI | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for fact in facts:
        for r in (r for r in results if r.fact == fact.id):
            h = r.hypothesis
            out.append(
                f"| {fact.id} | {fact.kind} | {h.name} | {rule_text(h)} | {r.mean:.3f} | "
                f"[{r.low:.3f}, {r.high:.3f}] | {'pass' if r.passed else '**fail**'} |"
            )
    for fact in facts:
        n = replicates or fact.replicates
        out += ["", f"## {fact.id}: {fact.title}", "", f"*{fact.kind}* — {fact.claim}", ""]
        out.append("Produced by: " + ", ".join(f"`sim.mechanisms.{m}`" for m in fact.mechanisms) + ".")
        out.append("")
        out.append(f"Arms ({n} seeds each, {fact.days} days):")
        for arm, (scenario, overrides) in fact.arms.items():
            extra = [o for o in overrides if not o.startswith("days=")]
            out.append(f"- `{arm}`: `{scenario}`" + (f" with `{' '.join(extra)}`" if extra else ""))
        for r in (r for r in results if r.fact == fact.id):
            out += [
                "",
                f"**{r.hypothesis.name}** — {r.hypothesis.statement}",
                f"Mean {r.mean:.3f}, 95% CI [{r.low:.3f}, {r.high:.3f}]: "
                f"{'pass' if r.passed else '**fail**'}.",
            ]
    return "\n".join(out) + "\n"


def check_mechanisms(facts: Iterable[Fact]) -> None:
    """Every mechanism a fact names exists in :mod:`sim.mechanisms`."""
    from . import mechanisms

    for fact in facts:
        for name in fact.mechanisms:
            if not callable(getattr(mechanisms, name, None)):
                raise ScenarioError(
                    fact.source, "mechanisms", f"'{name}' is not a function of sim.mechanisms"
                )


def summary_counts(facts: list[Fact], results: list[HypothesisResult]) -> dict[str, Any]:
    return {
        "facts": len(facts),
        "passed": sum(fact_passed(results, f.id) for f in facts),
        "failed": [f.id for f in facts if not fact_passed(results, f.id)],
    }


# -- report and command ------------------------------------------------------------------


def forest_figure(facts: list[Fact], results: list[HypothesisResult], path: Path) -> None:
    """Each hypothesis' mean and 95% CI against its threshold, one row each."""
    from matplotlib.figure import Figure

    rows = [r for f in facts for r in results if r.fact == f.id]
    fig = Figure(figsize=(8, 0.45 * len(rows) + 1.2), layout="constrained")
    ax = fig.subplots()
    for i, r in enumerate(rows):
        h = r.hypothesis
        scale = max(abs(r.low), abs(r.high), abs(h.min_effect), h.margin, 1e-9)
        y = len(rows) - 1 - i
        colour = "#1b9e77" if r.passed else "#d95f02"
        ax.plot([r.low / scale, r.high / scale], [y, y], color=colour, lw=3)
        ax.plot([r.mean / scale], [y], "o", color=colour)
        if h.test in ("greater", "less"):
            edge = h.min_effect if h.test == "greater" else -h.min_effect
            ax.plot([edge / scale] * 2, [y - 0.35, y + 0.35], color="black", lw=1)
        else:
            for edge in (-h.margin, h.margin) if h.test == "equivalent" else (-h.margin,):
                ax.plot([edge / scale] * 2, [y - 0.35, y + 0.35], color="black", lw=1, ls="--")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(range(len(rows)), [f"{r.fact} {r.hypothesis.name}" for r in reversed(rows)])
    ax.set_xlabel("statistic scaled to its own range (0 = no difference; black mark = threshold)")
    ax.set_title("Stylised facts: each statistic's mean and 95% CI\n(green: pass; orange: fail)")
    fig.savefig(path, dpi=110)


PARTS = ("robustness", "table1", "analyses", "calibration")


@dataclass
class Suite:
    """Everything one ``qisim validate`` computed (parts skipped are None)."""

    facts: list[Fact]
    results: list[HypothesisResult]
    replicates: int | None
    robustness: Any = None
    table1: Any = None
    analyses: Any = None  # (claims, one per hypercube; q3; q4; replicates per arm)
    participation: Any = None  # sim.validation_readings.Participation (SF10 against participation)
    spread: Any = None  # sim.validation_readings.SpreadOverTime (SF4 followed past 24 months)
    shock: Any = None  # sim.validation_readings.ShockTiming (SF7 as a curve of the shock's timing)
    allocation: Any = None  # sim.validation_readings.Allocation (SF2 as a map of one budget)
    calibration: Any = None  # (Calibration, summary, measures)
    timings: dict[str, float] = field(default_factory=dict)
    command: str = ""  # the command that wrote the report ("": the full suite's into docs/)

    def passed(self, fact_id: str) -> bool:
        return fact_passed(self.results, fact_id)

    def fragile(self, fact_id: str) -> bool:
        return self.robustness is not None and not self.robustness.robust(fact_id)

    def failed(self) -> list[str]:
        """Facts that fail, or pass but are fragile (both count as failed)."""
        return [f.id for f in self.facts if not self.passed(f.id) or self.fragile(f.id)]


def suite_markdown(suite: Suite) -> str:
    from . import (
        validation_analyses,
        validation_calibration,
        validation_readings,
        validation_robust,
        validation_table1,
    )

    text = report_markdown(suite.facts, suite.results, suite.replicates, suite.command)
    head, _, rest = text.partition("\n## ")
    lines = [head.rstrip("\n")]
    if suite.robustness is not None:
        fragile = [f.id for f in suite.facts if suite.passed(f.id) and suite.fragile(f.id)]
        lines += ["", f"Fragile (pass at the defaults, but not robust): {', '.join(fragile) or 'none'}."]
    failed = suite.failed()
    lines += ["", f"Failed or fragile, counted as failed: {', '.join(failed) or 'none'}."]
    if failed:
        lines += ["", "What was measured of why a fact fails, and what was tried: docs/TRACE.md."]
    if suite.timings:
        lines += ["", "Time: " + ", ".join(f"{k} {v:.0f} s" for k, v in suite.timings.items()) + "."]
    if suite.robustness is not None:
        passed = {f.id: suite.passed(f.id) for f in suite.facts}
        lines += [""] + validation_robust.markdown(suite.robustness, suite.facts, passed)
    if suite.table1 is not None:
        lines += [""] + validation_table1.markdown(suite.table1, suite.replicates)
    if suite.analyses is not None:
        claims, q3, q4, reps = suite.analyses
        lines += [""] + validation_analyses.markdown(claims, q3, q4, reps)
    for reading in validation_readings.READINGS:
        if (result := getattr(suite, reading.name)) is not None:
            lines += [""] + reading.markdown(result)
    if suite.calibration is not None:
        cal, summ, _ = suite.calibration
        lines += [""] + validation_calibration.markdown(cal, summ)
    ns, curves, agree = validation_analyses.replicate_curves(suite.results)
    default = suite.replicates or max(f.replicates for f in suite.facts)
    lines += [""] + validation_analyses.replicates_markdown(ns, curves, agree, default)
    lines += ["", "## The stylised facts one by one"]
    return "\n".join(lines) + ("\n\n## " + rest if rest else "\n")


def write_report(
    facts: list[Fact],
    results: list[HypothesisResult],
    replicates: int | None,
    out: Path,
    suite: Suite | None = None,
) -> Path:
    """Write VALIDATION.md and its figures into ``out`` (via a temporary folder, moved
    into place); ``qisim validate --report docs`` regenerates docs/VALIDATION.md."""
    from . import (
        validation_analyses,
        validation_calibration,
        validation_readings,
        validation_robust,
        validation_table1,
    )

    suite = suite or Suite(facts, results, replicates)

    def write(tmp: Path) -> None:
        text = suite_markdown(suite)
        text = text.replace(
            "# Validation report\n", "# Validation report\n\n![forest](validation_forest.png)\n", 1
        )
        (tmp / "VALIDATION.md").write_text(text)
        forest_figure(facts, results, tmp / "validation_forest.png")
        ns, curves, agree = validation_analyses.replicate_curves(results)
        validation_analyses.replicates_figure(ns, curves, agree, tmp / "validation_replicates.png")
        if suite.robustness is not None:
            validation_robust.figure(suite.robustness, facts, tmp / "validation_robustness.png")
            validation_robust.params_figure(suite.robustness, facts, tmp / "validation_robustness_params.png")
        if suite.table1 is not None:
            validation_table1.figure(suite.table1, tmp / "validation_table1.png")
        if suite.analyses is not None:
            claims, q3, q4, _ = suite.analyses
            validation_analyses.figures(
                claims, q3, q4, tmp / "validation_central_claim.png", tmp / "validation_questions.png"
            )
        for reading in validation_readings.READINGS:
            if (result := getattr(suite, reading.name)) is not None:
                reading.figure(result, tmp / reading.figure_file)
        if suite.calibration is not None:
            cal, _, measures = suite.calibration
            validation_calibration.figure(cal, measures, tmp / "validation_calibration.png")

    write_together(out, write)
    return out / "VALIDATION.md"


def write_together(out: Path, write: Callable[[Path], object]) -> None:
    """Write files into the folder ``out``, all or none: ``write(tmp)`` fills a temporary
    folder (inside ``out`` if it exists, else beside it), whose files are then moved in;
    the temporary folder never stays (:func:`sim.outputs.atomic_dir`)."""
    from .outputs import atomic_dir

    with atomic_dir(out) as tmp:
        write(tmp)


def register(sub) -> None:
    """Add ``qisim validate`` to the command line."""
    p = sub.add_parser(
        "validate",
        help="run the validation suite (stylised facts, robustness, Table 1, analyses, calibration)",
        description="Run the stylised facts of experiments/validation/ on common random numbers, their "
        "robustness over a Latin hypercube of the most influential parameters, the paper's Table 1, the "
        "central claim and open questions, and the HEADS-UP calibration check; print the tables, write "
        "a report, and exit 1 if a fact fails or is fragile.",
    )
    p.add_argument("--replicates", type=int, metavar="N", help="seeds per arm (default: each file's own)")
    p.add_argument(
        "--only",
        metavar="SF3,SF6",
        help="of the facts, run only these (and their robustness); Table 1, the analyses and the "
        "calibration still run: add --facts-only or --skip to leave them out",
    )
    p.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        default=Path("results/validation"),
        help="where to write VALIDATION.md and its figures (default: results/validation)",
    )
    p.add_argument("--workers", type=int, default=None, metavar="N", help="processes (default: all cores)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask cluster (tcp://HOST:PORT)")
    p.add_argument(
        "--facts-only", action="store_true", help="only the stylised facts (skip every other part)"
    )
    p.add_argument("--skip", metavar="PART,...", help=f"skip parts: {', '.join(PARTS)}")
    p.add_argument(
        "--quick",
        action="store_true",
        help="a reduced suite (fewer hypercube points and seeds in every part; the facts on 8 seeds "
        "unless --replicates says otherwise), for tests and previews: its verdicts are not the suite's",
    )
    p.add_argument(
        "--screen",
        action="store_true",
        help="first recompute the Morris screening that chooses the robustness parameters, over "
        "every fact whatever --only says (rewrites experiments/validation/robustness/chosen.toml "
        "and screening_points.csv, the screening's raw results beside it)",
    )
    p.add_argument(
        "--rescore",
        action="store_true",
        help="recompute chosen.toml (the choice, every candidate's score, its 95%% bootstrap interval "
        "and how often it is in the top over resamples of the trajectories) from "
        "experiments/validation/robustness/screening_points.csv, running nothing, then stop",
    )
    p.add_argument(
        "--map",
        metavar="P1,P2",
        help="instead of the suite, map where each fact holds over a grid of two parameters' "
        "multipliers (±spread of chosen.toml, every other parameter at its value; writes "
        "FACT_MAP.md, fact_map.png and fact_map.csv to --report), then stop",
    )
    p.add_argument(
        "--map-steps",
        type=int,
        default=None,
        metavar="N",
        help="multipliers of each parameter on the --map grid, an odd number (default: 5)",
    )
    p.add_argument(
        "--map-spread",
        type=float,
        default=None,
        metavar="S",
        help="the --map grid's multipliers run from 1 - S to 1 + S, S in (0, 1) "
        "(default: spread of chosen.toml)",
    )
    p.add_argument(
        "--calibrate",
        action="store_true",
        help="run the HEADS-UP calibration search and print every combination's loss, then stop",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_validate)


def _command(args) -> str:
    """The ``qisim validate`` command that gives the report these ``args`` gave (where the
    work runs aside: the results do not depend on it)."""
    parts = ["qisim", "validate", "--report", str(args.report)]
    parts += ["--replicates", str(args.replicates)] if args.replicates else []
    parts += ["--only", args.only] if args.only else []
    parts += ["--facts-only"] if args.facts_only else (["--skip", args.skip] if args.skip else [])
    parts += ["--quick"] if args.quick else []
    return shlex.join(parts)  # as a shell reads it back (a folder with a space is quoted)


def _rho_text(t: tuple[float, float, float]) -> str:
    return f"{t[0]:5.2f} [{t[1]:5.2f}, {t[2]:5.2f}]"


def _map(args, facts: list[Fact]) -> int:
    """``qisim validate --map P1,P2``: where each fact holds on a grid of two parameters."""
    from tqdm import tqdm

    from . import validation_map, validation_robust
    from .experiments.executors import open_executor

    settings = validation_robust.load_settings()
    spread = settings.spread if args.map_spread is None else args.map_spread
    steps = 5 if args.map_steps is None else args.map_steps
    params, levels = validation_map.parse(args.map, steps, spread, facts)
    reps = args.replicates or settings.replicates
    parts = ["qisim", "validate", "--map", ",".join(params)]
    parts += ["--map-steps", str(steps)] if steps != 5 else []
    parts += ["--map-spread", f"{args.map_spread:g}"] if args.map_spread is not None else []
    parts += ["--replicates", str(args.replicates)] if args.replicates else []
    parts += ["--only", args.only] if args.only else []
    command = shlex.join([*parts, "--report", str(args.report)])  # as a shell reads it back
    with open_executor(args.workers, args.scheduler) as info:
        print(f"Running {info.label}.")
        n = validation_map.n_runs(facts, len(levels), reps)
        with tqdm(total=n, desc="map", unit="run", disable=args.quiet, leave=False) as bar:
            fmap = validation_map.run(facts, params, levels, reps, info, bar.update)
    print(f"Rows: {params[0]} x; columns: {params[1]} x.")
    for f in facts:
        print(f"\n{f.id} holds at {int(fmap.held[f.id].sum())} of {len(levels) ** 2} points:")
        print("\n".join(validation_map.text_grid(fmap, fmap.held[f.id])))
    path = validation_map.write(fmap, facts, args.report, command)
    print(f"\n{validation_map.summary(fmap)}\nReport: {path}")
    return 0


#: Sizes of the parts: (full, --quick).
SIZES = {
    "fact_replicates": (None, 8),  # None: each fact file's own seeds (or --replicates)
    "robust_points": (None, 4),
    "robust_replicates": (None, 2),
    "table1_replicates": (None, 3),
    "claim_points": (120, 24),
    "question_replicates": (10, 3),
    "participation_replicates": (5, 2),
    "spread_replicates": (10, 2),
    "shock_replicates": (6, 2),
    "allocation_replicates": (6, 2),
}


def cmd_validate(args) -> int:
    import time

    from tqdm import tqdm

    from . import (
        validation_analyses,
        validation_calibration,
        validation_readings,
        validation_robust,
        validation_table1,
    )
    from .cli import UsageError
    from .experiments.cli import check_workers
    from .experiments.executors import open_executor

    if args.replicates is not None and args.replicates < 2:
        raise UsageError("--replicates must be at least 2 (a confidence interval needs two)")
    skip = set()
    if args.skip:
        skip = {x.strip() for x in args.skip.split(",") if x.strip()}
        unknown = skip - set(PARTS)
        if unknown:
            raise UsageError(f"--skip: unknown part '{sorted(unknown)[0]}'; parts are {', '.join(PARTS)}")
    if args.facts_only:
        skip = set(PARTS)
    check_workers(args.workers)
    if args.map is not None and (args.screen or args.rescore or args.calibrate):
        raise UsageError("--map is a run of its own: not with --screen, --rescore or --calibrate")
    if args.map is None and (args.map_steps is not None or args.map_spread is not None):
        given = "--map-steps" if args.map_steps is not None else "--map-spread"
        raise UsageError(f"{given} shapes the grid of --map P1,P2: give --map too")
    if not (args.rescore or args.calibrate):  # the report is written at the end: found unusable now
        from .outputs import unwritable

        problem = unwritable(Path(args.report))
        if problem:
            raise UsageError(f"--report: '{args.report}' cannot be written: {problem}")
    if args.rescore:
        if args.screen:
            raise UsageError("--rescore recomputes the choice from the last --screen's results: not both")
        path = validation_robust.rescore_file()
        print(f"Rescoring {validation_robust.choice_text(validation_robust.load_settings(path))} ({path}).")
        return 0
    facts = load_facts(args.only.split(",") if args.only is not None else None)
    check_mechanisms(facts)
    if args.map is not None:
        return _map(args, facts)
    size = {k: v[1] if args.quick else v[0] for k, v in SIZES.items()}
    if args.replicates is None:
        args.replicates = size["fact_replicates"]
    # everything is read and checked before anything runs
    settings = validation_robust.load_settings() if "robustness" not in skip or args.screen else None
    every_fact = load_facts() if args.screen else []
    screening = validation_robust.load_screening(facts=every_fact) if args.screen else None
    programmes = validation_table1.load_programmes() if "table1" not in skip else None
    cal = validation_calibration.load() if "calibration" not in skip or args.calibrate else None
    timings: dict[str, float] = {}
    start = time.perf_counter()
    with open_executor(args.workers, args.scheduler) as info:
        print(f"Running {info.label}.")
        if args.calibrate:
            assert cal is not None
            rows = validation_calibration.search(cal, info)
            print(f"{'loss':>6}  measures (briefing q25/median/q75, issues median)  settings")
            for combo, loss, m in rows:
                settings_text = " ".join(f"{k}={v}" for k, v in combo.items())
                print(
                    f"{loss:6.3f}  {m['b25']:.2f}/{m['b50']:.2f}/{m['b75']:.2f}, "
                    f"{m['i50']:5.1f}  {settings_text}"
                )
            return 0

        def bar(total: int, what: str):
            return tqdm(total=total, desc=what, unit="run", disable=args.quiet, leave=False)

        if screening is not None:
            assert settings is not None
            t0 = time.perf_counter()
            with bar(validation_robust.n_screen_runs(every_fact, screening), "screening") as b:
                points = validation_robust.screen(every_fact, screening, info, b.update)
            validation_robust.write_points(points, screening)
            scores, stability = validation_robust.rescore(points, screening)
            path = validation_robust.write_chosen(scores, screening.top, settings, stability=stability)
            settings = validation_robust.load_settings(path)
            timings["screening"] = time.perf_counter() - t0
            print(f"Screening {validation_robust.choice_text(settings)} ({path}).")

        t0 = time.perf_counter()
        jobs, keys = fact_jobs(facts, args.replicates)
        with bar(len(jobs), "facts") as b:
            results = score(facts, args.replicates, keys, jobs, run_jobs(jobs, info, b.update))
        timings["facts"] = time.perf_counter() - t0
        suite = Suite(facts, results, args.replicates, timings=timings, command=_command(args))
        print(table(facts, results))
        if "robustness" not in skip and settings is not None:
            t0 = time.perf_counter()
            n = validation_robust.n_runs(facts, settings, size["robust_points"], size["robust_replicates"])
            with bar(n, "robustness") as b:
                suite.robustness = validation_robust.evaluate(
                    facts, settings, info, b.update, size["robust_points"], size["robust_replicates"]
                )
            timings["robustness"] = time.perf_counter() - t0
            print("\nRobustness (share of hypercube points where each fact holds):")
            for f in facts:
                state = "robust" if suite.robustness.robust(f.id) else "FRAGILE"
                print(f"  {f.id:5} {suite.robustness.share(f.id):4.0%}  {state}")
            at_defaults = [f.id for f in facts if fact_passed(results, f.id)]
            if len(at_defaults) > 1:
                k = suite.robustness.together(at_defaults)
                print(
                    f"  the {len(at_defaults)} facts passing at the defaults hold together at {k} of "
                    f"{suite.robustness.points} points"
                )
        if programmes is not None:
            t0 = time.perf_counter()
            reps = size["table1_replicates"] or args.replicates
            n = sum(len(p.fact.arms) * (reps or p.fact.replicates) for p in programmes)
            with bar(n, "table 1") as b:
                suite.table1 = validation_table1.evaluate(programmes, reps, info, b.update)
            timings["table 1"] = time.perf_counter() - t0
            print("\nTable 1 (relative change of harm: published, simulated [95% CI], secular trend):")
            print(validation_table1.text_table(suite.table1))
        if "analyses" not in skip:
            t0 = time.perf_counter()
            pts, qr = size["claim_points"], size["question_replicates"]
            with bar(validation_analyses.n_runs(pts, qr), "analyses") as b:
                claims, q3, q4 = validation_analyses.run(pts, qr, info, b.update)
            suite.analyses = (claims, q3, q4, qr)
            for reading in validation_readings.READINGS:
                reps = size[f"{reading.name}_replicates"]
                with bar(reading.n_runs(reps), reading.label) as b:
                    setattr(suite, reading.name, reading.run(reps, info, b.update))
            timings["analyses"] = time.perf_counter() - t0
            print("\nCentral claim (held-out Spearman rho with sustainment at 12 months):")
            print(f"  {'':14}" + "".join(f"{f'incentives 0-{c.top:g}':>22}" for c in claims))
            for name in ("alignment", "clinicians", "managers", "board", "weakest level"):
                print(f"  {name:14}" + "".join(f"{_rho_text(c.rho[name]):>22}" for c in claims))
            rho = suite.participation.rho()
            print(
                f"\nSF10 against managers' participation: rho of the lasting effect with participation "
                f"{rho['participation']:.2f}, with managers' incentive {rho['incentive']:.2f}"
            )
            d = suite.spread.difference("top_down", "bottom_up")
            at = {e: j for j, e in enumerate(suite.spread.ends)}
            print(
                "SF4 followed past 24 months: top-down minus bottom-up, wards running, "
                + ", ".join(f"day {e} {d[at[e], 0]:+.2f}" for e in (365, 730, 1095))
            )
            loss = suite.shock.mean_ci()[list(suite.shock.bias).index(1.0), :, 0]
            print(
                "SF7 as a curve: lasting loss by the day the merger starts, "
                + ", ".join(f"day {d} {x:.2f}" for d, x in zip(suite.shock.days, loss, strict=True))
            )
            al, eq = suite.allocation, suite.allocation.equal()
            print(
                f"SF2 as a map ({'/'.join(al.levels)}): "
                + "; ".join(
                    f"clinicians.w_incentive {w:g}: best {al.label(al.best(i))} "
                    f"{al.mean()[i, al.best(i)]:.2f}, equal split {al.mean()[i, eq]:.2f}"
                    for i, w in enumerate(al.weights)
                )
            )
        if cal is not None and "calibration" not in skip:
            t0 = time.perf_counter()
            summ, measures = validation_calibration.check(cal, info)
            suite.calibration = (cal, summ, measures)
            timings["calibration"] = time.perf_counter() - t0
            t = cal.targets
            print(
                f"\nCalibration ({cal.scenario}): briefing held {summ['b50']:.0%} "
                f"({summ['b25']:.0%}-{summ['b75']:.0%}) "
                f"of working days, published {t['briefing_median']:.0%} ({t['briefing_q25']:.0%}-"
                f"{t['briefing_q75']:.0%}); issues per ward-month {summ['i50']:.0f}, published about "
                f"{t['issues_median']:.0f}"
            )
    timings["total"] = time.perf_counter() - start
    path = write_report(facts, results, args.replicates, args.report, suite)
    failed = suite.failed()
    n_pass = len(facts) - len(failed)
    print(
        f"\n{n_pass} of {len(facts)} facts pass{' and are robust' if suite.robustness is not None else ''} "
        f"(failed or fragile: {', '.join(failed) or 'none'}). "
        f"Time {timings['total']:.0f} s ("
        + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items() if k != "total")
        + f"). Report: {path}"
    )
    return 0 if not failed else 1
