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

**Exposure-time analysis** (Kenny et al., Stat Med 2022): the period-adjusted model with
one treatment effect for each period since the switch, reported as their mean on the log
scale (the time-averaged treatment effect), for an effect that grows after the switch.

**Truth**: in the cluster-periods the design treats, the harms the intervention leaves
(the counterfactual harms the model drew for each ward-day x (1 - the model's effect
that day)) over the counterfactual harms: the rate ratio the intervention brought about
in those patients, which no real trial can see.  For the exposure-time analysis, the
geometric mean over the times since the switch of that ratio at each time.
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
    return _treatment_gee(harms, bed_days, treated[:, None], cluster, period, correction)


def exposure_time_gee(
    harms: np.ndarray,
    bed_days: np.ndarray,
    exposure: np.ndarray,
    cluster: np.ndarray,
    period: np.ndarray,
    correction: str = "bias_reduced",
) -> tuple[float, float, float, float, bool]:
    """The exposure-time indicator model (Kenny et al., Stat Med 2022;41:4311-39): as
    :func:`poisson_gee` with the periods, but one treatment effect for each time since the
    switch (``exposure`` = 1 in a cluster's first treated period, 2 in its second, ...; 0
    untreated), so that an effect that grows after the switch is not forced into one number.
    Returns the time-averaged treatment effect (TATE): the rate ratio of the mean of the
    log effects over the exposure times, with its 95% interval (the sandwich variance of
    that mean, t with clusters - 2 degrees of freedom) and p."""
    levels = np.unique(exposure[exposure > 0])
    if not len(levels):
        return NAN, NAN, NAN, NAN, False
    columns = np.column_stack([(exposure == e).astype(float) for e in levels])
    return _treatment_gee(harms, bed_days, columns, cluster, period, correction)


def _treatment_gee(
    harms: np.ndarray,
    bed_days: np.ndarray,
    treatment: np.ndarray,
    cluster: np.ndarray,
    period: np.ndarray | None,
    correction: str,
) -> tuple[float, float, float, float, bool]:
    """Fit the Poisson GEE with the ``treatment`` columns (n, T) and return the rate ratio of
    the mean of their coefficients, its 95% interval, p and whether the fit converged."""
    import statsmodels.api as sm  # GEE with sandwich variances (and the bias-reduced one)
    from scipy import stats

    n_clusters = len(np.unique(cluster))
    if np.ptp(treatment, axis=0).min() == 0 or n_clusters < 3:
        return NAN, NAN, NAN, NAN, False
    columns = [np.ones(len(harms)), *treatment.T]
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
    mean = np.zeros(exog.shape[1])
    mean[1 : 1 + treatment.shape[1]] = 1.0 / treatment.shape[1]  # the mean treatment coefficient
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and domain warnings: judged below
        try:
            fit = model.fit(cov_type=correction, maxiter=100)
            b = float(mean @ fit.params)
            se = float(np.sqrt(mean @ fit.cov_params() @ mean))
        except (np.linalg.LinAlgError, ValueError, ZeroDivisionError):
            return NAN, NAN, NAN, NAN, False
    converged = bool(np.isfinite(b) and np.isfinite(se) and se > 0 and fit.converged)
    if not converged:
        return NAN, NAN, NAN, NAN, False
    df = n_clusters - 2
    q = float(stats.t.ppf(0.975, df))
    p = float(2 * stats.t.sf(abs(b / se), df))
    with np.errstate(over="ignore"):  # an interval too wide for a float reaches infinity
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
    # periods since the switch (1 in the first treated period; 0 untreated), the latest
    # pooled until each is seen in at least 2 clusters
    exposure = np.where(treated, period - switch[cluster.astype(int)] + 1, 0).astype(int)
    exposure = pooled_exposure(exposure, cluster)
    eti = exposure_time_gee(harms, bed_days, exposure, cluster, period, st.correction)
    # control cluster-periods once the first clusters have switched: drift before the switch
    control = ~treated & (period >= switch.min())
    weights = cp["bed_days"]
    first, last = period == 0, period == period.max()
    return {
        "clusters": int(len(switch)),
        "periods": int(st.periods),
        "true_rr": _ratio(cp["harms_expected"][treated], cp["harms_counterfactual"][treated]),
        "true_tate": _time_averaged(cp["harms_expected"], cp["harms_counterfactual"], exposure),
        "rr": rr,
        "rr_low": low,
        "rr_high": high,
        "p": p,
        "naive_rr": naive[0],
        "naive_low": naive[1],
        "naive_high": naive[2],
        "naive_p": naive[3],
        "eti_rr": eti[0],
        "eti_low": eti[1],
        "eti_high": eti[2],
        "eti_p": eti[3],
        "secular_rr": _ratio(cp["harms_counterfactual"][last], bed_days[last])
        / _ratio(cp["harms_counterfactual"][first], bed_days[first]),
        "control_adoption": _mean(cp["adoption"][control], weights[control]),
        "control_effect": 1.0 - _ratio(cp["harms_expected"][control], cp["harms_counterfactual"][control]),
        "treated_adoption": _mean(cp["adoption"][treated], weights[treated]),
        "harms": int(harms.sum()),
        "bed_days": float(bed_days.sum()),
        "converged": int(ok and naive[4]),
    }


def pooled_exposure(exposure: np.ndarray, cluster: np.ndarray, least: int = 2) -> np.ndarray:
    """``exposure`` with its latest times since the switch pooled into the time before them
    until each time is seen in at least ``least`` clusters.  In a stepped wedge with one
    cluster a step, the last time since the switch is seen in the first cluster's last
    period only: its effect is then fitted exactly to one cell, whose sandwich variance is
    undefined (an infinite interval).  Pooled, it is an effect of "that time or later"."""
    out = exposure.copy()
    for e in sorted(np.unique(out[out > 1]), reverse=True):
        if len(np.unique(cluster[out == e])) < least:
            out[out == e] = e - 1
    return out


def _time_averaged(left: np.ndarray, counterfactual: np.ndarray, exposure: np.ndarray) -> float:
    """The truth the exposure-time model estimates: the geometric mean, over the times since
    the switch, of the rate ratio of the harms the intervention left to the counterfactual
    harms in the cluster-periods at that time."""
    levels = np.unique(exposure[exposure > 0])
    if not len(levels):
        return NAN
    logs = [np.log(_ratio(left[exposure == e], counterfactual[exposure == e])) for e in levels]
    return float(np.exp(np.mean(logs)))


def _ratio(a: np.ndarray, b: np.ndarray) -> float:
    den = float(b.sum())
    return float(a.sum()) / den if den > 0 else NAN


def _mean(x: np.ndarray, w: np.ndarray) -> float:
    return float(np.average(x, weights=w)) if len(x) and w.sum() > 0 else NAN
