"""A simulated trial analysed as trialists analyse one, with the truth beside it.

**Period-adjusted analysis** (Hussey and Hughes 2007, for counts): harms per cluster and
period, Poisson mean with a log bed-days offset, fixed effects for the periods (the
secular trend) and one treatment effect, fitted by generalised estimating equations
(GEE; statsmodels) with an exchangeable working correlation within clusters, the
marginal counterpart of Hussey and Hughes' random cluster effect. Its variance is the
sandwich estimator, by default with Mancl and DeRouen's bias reduction, and the 95%
interval uses a t distribution with clusters - 2 degrees of freedom: with few clusters
the plain sandwich is too small (Leyrat et al. 2018). GEE rather than a Poisson mixed
model: it needs no distribution for the cluster effects, its sandwich variance is robust
to the extra-Poisson variation that the model's ward-to-ward and day-to-day noise
produces, and statsmodels fits it exactly (its mixed GLMs are Bayesian approximations).

**Naive analysis**: the same model without the periods, in the clusters that switch:
the rate after the switch against the rate before it, whatever the calendar did in
between. It is what an uncontrolled before-after study reports, and it credits the
intervention with the secular trend (Hemming, Taljaard and Forbes, Trials 2017;18:101).

**Truth**: in the cluster-periods the design treats, the harms the intervention leaves
(the counterfactual harms the model drew for each ward-day x (1 - the model's effect
that day)) over the counterfactual harms: the rate ratio the intervention brought about
in those patients, which no real trial can see.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from .definition import Settings

NAN = float("nan")


def poisson_gee(
    harms: np.ndarray,
    bed_days: np.ndarray,
    treated: np.ndarray,
    cluster: np.ndarray,
    period: np.ndarray | None,
    correction: str = "bias_reduced",
) -> tuple[float, float, float, float, bool]:
    """Rate ratio of ``treated`` with its 95% interval and two-sided p: a Poisson GEE with a
    log bed-days offset, exchangeable correlation within clusters, period fixed effects
    (unless ``period`` is None), t with clusters - 2 degrees of freedom.  NaN when the
    treatment cannot be estimated (no contrast, or no fit)."""
    import statsmodels.api as sm  # GEE with sandwich variances (and the bias-reduced one)
    from scipy import stats

    n_clusters = len(np.unique(cluster))
    if treated.min() == treated.max() or n_clusters < 3:
        return NAN, NAN, NAN, NAN, False
    columns = [np.ones_like(treated), treated]
    if period is not None:
        levels = np.unique(period)
        columns += [(period == level).astype(float) for level in levels[1:]]
    exog = np.column_stack(columns)
    if np.linalg.matrix_rank(exog) < exog.shape[1]:  # treatment confounded with the periods
        return NAN, NAN, NAN, NAN, False
    model = sm.GEE(
        harms,
        exog,
        groups=cluster,
        family=sm.families.Poisson(),
        cov_struct=sm.cov_struct.Exchangeable(),
        offset=np.log(bed_days),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and domain warnings: judged below
        try:
            fit = model.fit(cov_type=correction, maxiter=100)
            b, se = float(fit.params[1]), float(fit.bse[1])
        except (np.linalg.LinAlgError, ValueError, ZeroDivisionError):
            return NAN, NAN, NAN, NAN, False
    converged = bool(np.isfinite(b) and np.isfinite(se) and se > 0 and fit.converged)
    if not converged:
        return NAN, NAN, NAN, NAN, False
    df = n_clusters - 2
    q = float(stats.t.ppf(0.975, df))
    p = float(2 * stats.t.sf(abs(b / se), df))
    return float(np.exp(b)), float(np.exp(b - q * se)), float(np.exp(b + q * se)), p, True


def analyse_trial(cp: Mapping[str, np.ndarray], switch: np.ndarray, st: Settings) -> dict[str, float | int]:
    """The scalars of one simulated trial from its cluster-period table."""
    cluster, period = cp["cluster"], cp["period"]
    treated = cp["treated"].astype(bool)
    harms, bed_days = cp["harms"], cp["bed_days"]
    rr, low, high, p, ok = poisson_gee(harms, bed_days, cp["treated"], cluster, period, st.correction)
    if st.kind == "before_after":  # no control: nothing to adjust the periods against
        ok = True
    switching = switch[cluster.astype(int)] < st.periods
    naive = poisson_gee(
        harms[switching],
        bed_days[switching],
        cp["treated"][switching],
        cluster[switching],
        None,
        st.correction,
    )
    # control cluster-periods once the first clusters have switched: drift before the switch
    control = ~treated & (period >= switch.min())
    weights = cp["bed_days"]
    first, last = period == 0, period == period.max()
    return {
        "clusters": int(len(switch)),
        "periods": int(st.periods),
        "true_rr": _ratio(cp["harms_expected"][treated], cp["harms_counterfactual"][treated]),
        "rr": rr,
        "rr_low": low,
        "rr_high": high,
        "p": p,
        "naive_rr": naive[0],
        "naive_low": naive[1],
        "naive_high": naive[2],
        "naive_p": naive[3],
        "secular_rr": _ratio(cp["harms_counterfactual"][last], bed_days[last])
        / _ratio(cp["harms_counterfactual"][first], bed_days[first]),
        "control_adoption": _mean(cp["adoption"][control], weights[control]),
        "control_effect": 1.0 - _ratio(cp["harms_expected"][control], cp["harms_counterfactual"][control]),
        "treated_adoption": _mean(cp["adoption"][treated], weights[treated]),
        "harms": int(harms.sum()),
        "bed_days": float(bed_days.sum()),
        "converged": int(ok and naive[4]),
    }


def _ratio(a: np.ndarray, b: np.ndarray) -> float:
    den = float(b.sum())
    return float(a.sum()) / den if den > 0 else NAN


def _mean(x: np.ndarray, w: np.ndarray) -> float:
    return float(np.average(x, weights=w)) if len(x) and w.sum() > 0 else NAN
