"""Many simulated trials summarised: bias, coverage, power, the naive estimate, contamination.

Per design point (a combination of the trial file's factors), over its simulated trials:

- ``bias``: mean of log(estimated rate ratio) - log(true rate ratio), with a 95% t
  interval over trials (0 = unbiased; below 0 the estimate overstates the benefit);
- ``coverage``: share of trials whose 95% interval holds the true rate ratio;
- ``power``: share of trials whose 95% interval lies wholly below 1 (a benefit found);
- the same three for the naive before-after estimate (``naive_*``), and for the
  exposure-time estimate (``eti_*``: the time-averaged treatment effect, against its own
  truth ``true_tate``, the geometric mean over the times since the switch of the true
  rate ratio at that time);
- ``naive_only``: share of trials where the naive estimate finds a benefit and the
  period-adjusted analysis does not;
- ``control_adoption``, ``control_effect``: contamination, in the control clusters'
  periods after the first clusters switched and before their own switch: mean adoption
  of the intervention, and the harm reduction it already brought there;
- ``true_rr``, ``true_tate`` and ``secular_rr``: the mean true rate ratio, the mean true
  time-averaged rate ratio, and the mean ratio of the counterfactual harm rate of the last
  period to the first (the secular trend).

Shares come with Wilson 95% intervals (``*_low``, ``*_high``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..experiments.analyse import _figure, _save
from ..outputs import atomic_dir
from ..stats import mean_ci

SERIES_COLUMNS = ("point", "replicate", "cluster", "period", "treated", "effect", "adoption")
#: The exposure-time analysis's columns of runs.parquet.
ETI_COLUMNS = ("true_tate", "eti_rr", "eti_low", "eti_high", "eti_p")
#: The three analyses: column prefix, the error column, and the name in tables and figures.
ANALYSES = (
    ("", "log_error", "adjusted"),
    ("naive_", "naive_log_error", "naive"),
    ("eti_", "eti_log_error", "exposure-time"),
)


def wilson(k: float, n: float) -> tuple[float, float]:
    """The Wilson 95% interval of a share k / n."""
    if n <= 0:
        return math.nan, math.nan
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # at k = 0 (k = n) the bound is exactly 0 (1); computed, it is off by rounding (5.6e-17)
    low = 0.0 if k <= 0 else max(0.0, centre - half)
    high = 1.0 if k >= n else min(1.0, centre + half)
    return low, high


def per_trial(runs: pd.DataFrame) -> pd.DataFrame:
    """Each simulated trial's verdicts: covered, significant, naive-only."""
    out = runs.copy()
    for col in ETI_COLUMNS:  # a store written before the exposure-time analysis
        if col not in out:
            out[col] = math.nan
    truth, tate = out["true_rr"], out["true_tate"]
    out["log_error"] = np.log(out["rr"]) - np.log(truth)
    out["naive_log_error"] = np.log(out["naive_rr"]) - np.log(truth)
    out["eti_log_error"] = np.log(out["eti_rr"]) - np.log(tate)
    out["coverage"] = (out["rr_low"] <= truth) & (truth <= out["rr_high"])
    out["power"] = out["rr_high"] < 1
    out["naive_coverage"] = (out["naive_low"] <= truth) & (truth <= out["naive_high"])
    out["naive_power"] = out["naive_high"] < 1
    out["eti_coverage"] = (out["eti_low"] <= tate) & (tate <= out["eti_high"])
    out["eti_power"] = out["eti_high"] < 1
    out["naive_only"] = out["naive_power"] & ~out["power"]
    return out


def summarise(runs: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """One row per design point (the factors ``keys``) of the stored runs."""
    trials = per_trial(runs[runs["status"] == "ok"])
    rows = []
    for point, group in trials.groupby("point", sort=True):
        row: dict = {"point": int(point)}
        row.update({k: group[k].iloc[0] for k in keys})
        adjusted = group[np.isfinite(group["rr"])]
        row.update(trials=len(group), analysed=len(adjusted), clusters=int(group["clusters"].iloc[0]))
        row["periods"] = int(group["periods"].iloc[0])
        row["eti_analysed"] = int(np.isfinite(group["eti_rr"]).sum())
        row["true_rr"] = float(group["true_rr"].mean())
        row["true_tate"] = float(group["true_tate"].mean())
        row["secular_rr"] = float(group["secular_rr"].mean())
        for prefix, err, _ in ANALYSES:
            finite = group[np.isfinite(group[err])]
            mean, low, high = mean_ci(finite[err].to_numpy()) if len(finite) else (math.nan,) * 3
            row[f"{prefix}bias"], row[f"{prefix}bias_low"], row[f"{prefix}bias_high"] = (
                float(mean),
                float(low),
                float(high),
            )
            for share in ("coverage", "power"):
                name = f"{prefix}{share}"
                k, n = float(finite[name].sum()), len(finite)
                row[name] = k / n if n else math.nan
                row[f"{name}_low"], row[f"{name}_high"] = wilson(k, n)
        k, n = float(group["naive_only"].sum()), len(group)
        row["naive_only"] = k / n
        row["naive_only_low"], row["naive_only_high"] = wilson(k, n)
        row["control_adoption"] = float(group["control_adoption"].mean())
        row["control_effect"] = float(group["control_effect"].mean())
        row["treated_adoption"] = float(group["treated_adoption"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class Report:
    """What :func:`write_report` wrote, and the headline lines it printed."""

    out: Path
    table: pd.DataFrame
    lines: list[str]
    files: list[Path]


def write_report(root: Path, title: str = "") -> Report:
    """Tables and figures of a stored trial sweep into ``root/report/`` (atomically)."""
    from ..experiments.store import Store

    store = Store.open(root)
    runs = store.read_runs().to_pandas()
    keys = store.keys
    table = summarise(runs, keys)
    out = Path(root) / "report"
    series = pd.concat([t.to_pandas() for t in store.iter_series(SERIES_COLUMNS)], ignore_index=True)
    drift = exposure(series)
    with atomic_dir(out) as tmp:
        table.to_csv(tmp / "trials.csv", index=False, float_format="%.6g", lineterminator="\n")
        drift.to_csv(tmp / "exposure.csv", index=False, float_format="%.6g", lineterminator="\n")
        names = [
            power_figure(table, keys, tmp / "power.png", title),
            estimates_figure(per_trial(runs[runs["status"] == "ok"]), keys, tmp / "estimates.png", title),
            exposure_figure(drift, table, keys, tmp / "exposure.png", title),
        ]
        lines = headline(table, keys)
        (tmp / "README.md").write_text(readme(title, lines), encoding="utf-8")
    files = [out / "trials.csv", out / "exposure.csv", *[out / p.name for p in names], out / "README.md"]
    return Report(out, table, lines, files)


def _label(row: pd.Series, keys: Sequence[str]) -> str:
    return (
        ", ".join(
            f"{k.rsplit('.', 1)[-1]} = {row[k]:g}"
            if isinstance(row[k], float)
            else f"{k.rsplit('.', 1)[-1]} = {row[k]}"
            for k in keys
        )
        or "the trial"
    )


def headline(table: pd.DataFrame, keys: Sequence[str]) -> list[str]:
    """One line per design point: truth, bias, coverage, power; naive beside it."""
    lines = []
    for _, r in table.iterrows():
        adjusted = (
            f"adjusted: bias {r['bias']:+.3f} (log RR), coverage {r['coverage']:.0%}, power "
            f"{r['power']:.0%} [{r['power_low']:.0%}-{r['power_high']:.0%}]"
            if r["analysed"]
            else "no period-adjusted estimate (no concurrent control)"
        )
        controls = (
            f"controls before their switch: adoption {r['control_adoption']:.2f}, harm reduction "
            f"{r['control_effect']:.1%}"
            if np.isfinite(r["control_adoption"])
            else "no controls"
        )
        eti = (
            f"exposure-time: true time-averaged RR {r['true_tate']:.3f}, bias {r['eti_bias']:+.3f}, "
            f"coverage {r['eti_coverage']:.0%}, power {r['eti_power']:.0%} "
            f"[{r['eti_power_low']:.0%}-{r['eti_power_high']:.0%}]"
            if r["eti_analysed"]
            else "no exposure-time estimate"
        )
        lines.append(
            f"{_label(r, keys)}: {int(r['trials'])} trials of {int(r['clusters'])} clusters x "
            f"{int(r['periods'])} periods; true RR {r['true_rr']:.3f}; {adjusted}; naive: bias "
            f"{r['naive_bias']:+.3f}, coverage {r['naive_coverage']:.0%}, power {r['naive_power']:.0%}; "
            f"naive alone finds a benefit in {r['naive_only']:.0%}; {eti}; {controls}"
        )
    return lines


def readme(title: str, lines: list[str]) -> str:
    return "\n".join(
        [
            f"# {title or 'Virtual trial'}: report",
            "",
            "- `trials.csv`: one row per design point: bias (mean log RR error, 95% CI), coverage of the "
            "95% CI, power, for the period-adjusted (GEE), the naive before-after and the exposure-time "
            "estimate (against the time-averaged truth); the share where only the naive one finds a "
            "benefit; contamination of the controls",
            "- `power.png`: power and coverage per design point, with Wilson 95% intervals",
            "- `estimates.png`: every simulated trial's estimate and 95% CI against its true rate ratio",
            "- `exposure.png`, `exposure.csv`: the model's effect (harm reduction) and adoption by periods "
            "since the switch in the intervention clusters, and by period in the clusters still waiting "
            "(contamination), with 95% CIs over trials",
            "",
            "## Headline",
            "",
            *[f"- {line}" for line in lines],
            "",
        ]
    )


def exposure(series: pd.DataFrame) -> pd.DataFrame:
    """Mean effect and adoption per design point: in treated cluster-periods by periods since
    the switch (``group`` 'since switch'), in control cluster-periods by period ('waiting');
    each a mean over trials of the trial's mean, with a 95% t interval."""
    cp = series.copy()
    treated = cp["treated"] > 0
    first = (
        cp["period"].where(treated).groupby([cp["point"], cp["replicate"], cp["cluster"]]).transform("min")
    )
    cp["group"] = np.where(treated, "since switch", "waiting")
    cp["x"] = np.where(treated, cp["period"] - first, cp["period"])
    per_trial_mean = cp.groupby(["point", "group", "x", "replicate"])[["effect", "adoption"]].mean()
    rows = []
    for (point, group, x), sub in per_trial_mean.groupby(level=[0, 1, 2]):
        row = {"point": int(point), "group": group, "periods": int(x), "trials": len(sub)}
        for col in ("effect", "adoption"):
            mean, low, high = mean_ci(sub[col].to_numpy())
            row.update({col: float(mean), f"{col}_low": float(low), f"{col}_high": float(high)})
        rows.append(row)
    return pd.DataFrame(rows)


def exposure_figure(
    drift: pd.DataFrame, table: pd.DataFrame, keys: Sequence[str], path: Path, title: str
) -> Path:
    """The model's effect by periods since the switch, and in the clusters still waiting:
    why one constant treatment effect, and why the controls, are assumptions."""
    fig, axes = _figure(
        title or "Virtual trial",
        1,
        2,
        (11, 4.6),
        "the model's harm reduction, mean over trials with 95% CI: since the switch, and while waiting",
    )
    for i, (_, r) in enumerate(table.head(8).iterrows()):
        label = _label(r, keys)
        for ax, group in zip(axes, ("since switch", "waiting"), strict=True):
            d = drift[(drift["point"] == r["point"]) & (drift["group"] == group)]
            if d.empty:
                continue
            y = d["effect"].to_numpy()
            err = np.clip(np.vstack([y - d["effect_low"], d["effect_high"] - y]), 0, None)
            ax.errorbar(
                d["periods"], y, yerr=np.nan_to_num(err), fmt="o-", color=f"C{i}", capsize=3, label=label
            )
    axes[0].set_xlabel("periods since the cluster switched (0 = its first)")
    axes[1].set_xlabel("period, in clusters that have not switched yet")
    axes[0].set_ylabel("harm reduction (the model's effect)")
    axes[0].legend(fontsize=7, frameon=False)
    return _save(fig, path)


def _axis(table: pd.DataFrame, keys: Sequence[str]) -> tuple[str | None, list[str]]:
    """The factor on the x axis (the number of clusters if varied) and the others."""
    varied = [k for k in keys if table[k].nunique() > 1]
    x = "clusters.count" if "clusters.count" in varied else (varied[0] if varied else None)
    return x, [k for k in varied if k != x]


#: Line styles of the three analyses in the power figure (format, opacity).
STYLES = (("o-", 1.0), ("o--", 0.6), ("s:", 0.8))


def power_figure(table: pd.DataFrame, keys: Sequence[str], path: Path, title: str) -> Path:
    """Power (and coverage) of the adjusted analysis against the x factor, one line per
    combination of the other factors (a colour each; with none, a colour per analysis); the
    naive analysis dashed, the exposure-time one dotted (coverage of its own truth, the
    time-averaged rate ratio)."""
    x, others = _axis(table, keys)
    fig, axes = _figure(
        title or "Virtual trial",
        1,
        2,
        (11, 4.6),
        "power and coverage, 95% Wilson intervals (exposure-time: of the time-averaged truth)",
    )
    groups = list(table.groupby(others, sort=True)) if others else [((), table)]
    for i, (level, group) in enumerate(groups):
        level = level if isinstance(level, tuple) else (level,)
        name = ", ".join(f"{k.rsplit('.', 1)[-1]} = {v}" for k, v in zip(others, level, strict=True))
        xs = group[x].to_numpy(dtype=float) if x else np.zeros(len(group))
        color = f"C{i % 10}"
        for ax, share in zip(axes, ("power", "coverage"), strict=True):
            for j, ((prefix, _, analysis), (fmt, alpha)) in enumerate(zip(ANALYSES, STYLES, strict=True)):
                col = f"{prefix}{share}"
                y = group[col].to_numpy(dtype=float)
                if not np.isfinite(y).any():
                    continue
                err = np.clip(np.vstack([y - group[f"{col}_low"], group[f"{col}_high"] - y]), 0, None)
                ax.errorbar(
                    xs,
                    y,
                    yerr=np.nan_to_num(err),
                    fmt=fmt,
                    color=color if len(groups) > 1 else f"C{j}",  # one group: a colour per analysis
                    capsize=3,
                    label=f"{analysis}{': ' + name if name else ''}",
                    alpha=alpha,
                )
    axes[0].set_ylabel("power (95% CI below RR 1)")
    axes[1].set_ylabel("coverage of the truth")
    axes[1].axhline(0.95, color="0.3", linewidth=1, linestyle=":")
    for ax in axes:
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(x or "")
    axes[0].legend(fontsize=7, frameon=False)
    return _save(fig, path)


def _which_trials(shown: int, run: int) -> str:
    """``each of the 40 simulated trials``, or ``the first 60 of 200 simulated trials``."""
    if shown == run:
        return f"each of the {run} simulated trials"
    return f"the first {shown} of {run} simulated trials"


def estimates_figure(
    trials: pd.DataFrame, keys: Sequence[str], path: Path, title: str, most: int = 60
) -> Path:
    """Each simulated trial (of the first design point, up to ``most``): the adjusted, the
    naive and the exposure-time estimate with 95% CIs against its true rate ratio (and the
    true time-averaged one, the exposure-time estimate's truth)."""
    first = trials[trials["point"] == trials["point"].min()].head(most)
    fig, axes = _figure(
        title or "Virtual trial",
        1,
        1,
        (10, 4.8),
        f"{_which_trials(len(first), int((trials['point'] == trials['point'].min()).sum()))}: "
        "estimate and 95% CI (adjusted, naive, exposure-time) and the truth",
    )
    ax = axes[0]
    i = np.arange(len(first))
    order = np.argsort(first["true_rr"].to_numpy(), kind="stable")
    f = first.iloc[order]
    for prefix, dx, color, name in (
        ("rr", -0.2, "C0", "period-adjusted GEE"),
        ("naive", 0.0, "C3", "naive before-after"),
        ("eti", 0.2, "C2", "exposure-time GEE"),
    ):
        y = f["rr" if prefix == "rr" else f"{prefix}_rr"].to_numpy(dtype=float)
        if not np.isfinite(y).any():
            continue
        err = np.clip(np.vstack([y - f[f"{prefix}_low"], f[f"{prefix}_high"] - y]), 0, None)
        ax.errorbar(
            i + dx,
            y,
            yerr=np.nan_to_num(err, posinf=1e6),  # an infinite interval runs off the axes
            fmt="o",
            ms=3,
            color=color,
            capsize=0,
            linewidth=0.8,
            label=name,
        )
    ax.plot(i, f["true_rr"], "k_", ms=9, mew=2, label="true rate ratio (counterfactual)")
    if np.isfinite(f["true_tate"]).any():
        ax.plot(i + 0.2, f["true_tate"], "_", color="C2", ms=7, mew=2, label="true time-averaged rate ratio")
    ax.axhline(1.0, color="0.4", linewidth=1, linestyle=":")
    ax.set_yscale("log")
    # the axes hold every estimate and truth, and all but the outermost 2% of interval ends
    points = _positive(f[["true_rr", "true_tate", "rr", "naive_rr", "eti_rr"]])
    ends = _positive(f[["rr_low", "naive_low", "eti_low", "rr_high", "naive_high", "eti_high"]])
    if len(points) and len(ends):
        low = min(points.min(), np.quantile(ends, 0.02)) / 1.05
        ax.set_ylim(low, max(points.max(), 1.0, np.quantile(ends, 0.98)) * 1.05)
    ax.set_xlabel("simulated trial (sorted by its true rate ratio)")
    ax.set_ylabel("rate ratio of harms, intervention / control")
    ax.legend(fontsize=8, frameon=False)
    return _save(fig, path)


def _positive(frame: pd.DataFrame) -> np.ndarray:
    """The finite, positive values of ``frame``, flat."""
    values = frame.to_numpy(dtype=float).ravel()
    return values[np.isfinite(values) & (values > 0)]
