"""The statistics of an experiment's arms from its per-user counts. Pure.

``analyze(users, weights, control, alpha, covariates)`` → ``results.Analysis``:

- per arm: users and totals; CTR, CVR and revenue per 1,000 requests, each a ratio of
  per-user means with its delta-method interval (users are the randomisation unit, so the
  variance is over users, not impressions);
- per non-control arm against the control: tea-tasting's ``RatioOfMeans`` (delta method,
  Welch's t-test): relative lift with its interval, absolute difference with its interval,
  p-value; with ``covariates`` (the same metrics per user from an earlier period) CUPED:
  the covariate is the same ratio over the earlier counts, users absent there count zeros;
- sample-ratio mismatch: users per arm against the configured weights, scipy's chi-square
  goodness of fit over all weighted arms (``Analysis.srm``), and tea-tasting's
  ``SampleRatio`` for each pair (``Comparison.srm_pvalue``);
- the smallest relative CTR lift detectable at 80% power (``power.detectable_ctr_lift``).

``users``: one row per (arm, user_id) with ``requests``, ``impressions``, ``clicks``,
``conversions``, ``revenue`` (``frames.users_frame``). ``covariates``: one row per user_id
with the same columns (``frames.per_user_totals``).
"""

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats

from model_export.experiment.layout import COLUMNS
from model_export.experiment.power import ClickMoments, detectable_ctr_lift
from model_export.experiment.results import (
    METRIC_NAMES,
    Analysis,
    ArmSummary,
    Comparison,
    CupedInfo,
    Difference,
    Estimate,
    SrmCheck,
)

SRM_ALPHA = 0.001  # a mismatch this unlikely under the weights means the split is broken
PRE = "_pre"  # suffix of the covariate columns
REVENUE_K = "revenue_k"  # revenue x 1000: revenue per 1,000 requests is revenue_k / requests
# metric → (numerator column, denominator column)
RATIOS: dict[str, tuple[str, str]] = {
    "ctr": ("clicks", "impressions"),
    "cvr": ("conversions", "clicks"),
    "rpm": (REVENUE_K, "requests"),
}


def analyze(
    users: pd.DataFrame,
    weights: Mapping[str, float] | None,
    control: str,
    alpha: float = 0.05,
    covariates: pd.DataFrame | None = None,
    arms: Sequence[str] | None = None,
    power: float = 0.8,
) -> Analysis:
    """The whole analysis; ``arms`` (default: the weights' arms, then the frame's others)
    fixes the order and may name arms without users (shown with zeros, not compared)."""
    weights = dict(weights or {})
    order = arm_order(users, weights, arms)
    if control not in order:
        raise ValueError(f"control arm {control!r} is not among the arms {list(order)}")
    frame = with_derived(users, covariates)
    cuped = cuped_metrics(frame) if covariates is not None else ()
    aggregates = arm_aggregates(frame, cuped)
    summaries = tuple(arm_summary(arm, weights.get(arm), frame, aggregates, alpha) for arm in order)
    comparisons, notes = [], []
    for arm in order:
        if arm == control:
            continue
        comparison = compare(frame, aggregates, control, arm, weights, alpha, cuped, power)
        comparisons.append(comparison)
        if not math.isfinite(comparison.ctr.pvalue):
            notes.append(f"{arm} against {control}: too few users or no impressions to compare")
    srm = srm_check(summaries, weights)
    notes += srm_notes(summaries, weights)
    info = cuped_info(frame, comparisons, covariates)
    return Analysis(control, alpha, summaries, tuple(comparisons), srm, info, power, tuple(notes))


# ------------------------------------------------------------------ the frame


def arm_order(
    users: pd.DataFrame, weights: Mapping[str, float], arms: Sequence[str] | None
) -> tuple[str, ...]:
    listed = list(arms) if arms is not None else list(weights)
    seen = sorted(set(users["arm"].astype(str)) - set(listed))
    return tuple(listed + seen)


def with_derived(users: pd.DataFrame, covariates: pd.DataFrame | None) -> pd.DataFrame:
    """The per-user frame with ``revenue_k`` and, given covariates, their columns
    (``<column>_pre``, zeros for users absent from the covariate frame)."""
    frame = users.assign(**{REVENUE_K: users["revenue"] * 1000.0})
    if covariates is None:
        return frame
    pre = covariates.groupby("user_id", as_index=False)[list(COLUMNS)].sum()
    pre = pre.assign(**{REVENUE_K: pre["revenue"] * 1000.0})
    value_cols = [*COLUMNS, REVENUE_K]
    pre = pre.rename(columns={c: c + PRE for c in value_cols})
    frame = frame.merge(pre, on="user_id", how="left", indicator="_history")
    frame["_history"] = frame["_history"] == "both"
    pre_cols = [c + PRE for c in value_cols]
    frame[pre_cols] = frame[pre_cols].fillna(0.0)
    return frame


def cuped_metrics(frame: pd.DataFrame) -> tuple[str, ...]:
    """The metrics CUPED can adjust: the covariate's denominator is positive in every arm
    (else the covariate ratio is undefined there)."""
    sums = frame.groupby("arm")[[d + PRE for _, d in RATIOS.values()]].sum()
    return tuple(m for m, (_, d) in RATIOS.items() if bool((sums[d + PRE] > 0).all()))


def ratio_metric(metric: str, cuped: Sequence[str], alpha: float) -> Any:
    """tea-tasting's ``RatioOfMeans`` of a metric (with its covariate under CUPED)."""
    import tea_tasting as tt

    numer, denom = RATIOS[metric]
    covariates = (numer + PRE, denom + PRE) if metric in cuped else (None, None)
    return tt.RatioOfMeans(numer, denom, *covariates, confidence_level=1 - alpha)


def arm_aggregates(frame: pd.DataFrame, cuped: Sequence[str]) -> dict[str, Any]:
    """Per arm tea-tasting's ``Aggregates`` (count, means, variances and covariances with
    ddof 1) of every column the metrics read (as ``tea_tasting.aggr.read_aggregates`` gives
    them, from numpy in one pass per arm)."""
    import tea_tasting as tt

    cols = tt.metrics.AggrCols()
    for metric in RATIOS:
        cols |= ratio_metric(metric, cuped, 0.05).aggr_cols
    names = sorted(set(cols.mean_cols) | set(cols.var_cols))
    return {
        str(arm): moments(group[names].to_numpy(dtype=np.float64), names)
        for arm, group in frame.groupby("arm", sort=False)
    }


def moments(values: np.ndarray, names: Sequence[str]) -> Any:
    """tea-tasting's ``Aggregates`` of the columns of ``values`` (rows are users)."""
    import tea_tasting as tt

    n = len(values)
    cov = np.cov(values, rowvar=False, ddof=1).reshape(len(names), len(names)) if n > 1 else None
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    return tt.aggr.Aggregates(
        count_=n,
        mean_={c: float(m) for c, m in zip(names, values.mean(axis=0), strict=True)},
        var_={c: float(cov[i, i]) if cov is not None else math.nan for i, c in enumerate(names)},
        cov_={
            (names[i], names[j]): float(cov[i, j]) if cov is not None else math.nan
            for i, j in pairs
        },
    )


# ------------------------------------------------------------------ per arm


def arm_summary(
    arm: str,
    weight: float | None,
    frame: pd.DataFrame,
    aggregates: Mapping[str, Any],
    alpha: float,
) -> ArmSummary:
    rows = frame[frame["arm"] == arm]
    aggr = aggregates.get(arm)
    return ArmSummary(
        arm=arm,
        weight=weight,
        users=len(rows),
        requests=int(rows["requests"].sum()),
        impressions=int(rows["impressions"].sum()),
        clicks=int(rows["clicks"].sum()),
        conversions=int(rows["conversions"].sum()),
        revenue=float(rows["revenue"].sum()),
        ctr=ratio_estimate(aggr, "ctr", alpha),
        cvr=ratio_estimate(aggr, "cvr", alpha),
        rpm=ratio_estimate(aggr, "rpm", alpha),
    )


def ratio_estimate(aggr: Any, metric: str, alpha: float) -> Estimate:
    """An arm's ratio of means and its normal interval from the delta-method variance
    (tea-tasting's ``Aggregates.ratio_var``); NaN without users or denominator."""
    numer, denom = RATIOS[metric]
    if aggr is None or aggr.count() == 0 or aggr.mean(denom) == 0:
        return Estimate.missing()
    value = float(aggr.mean(numer) / aggr.mean(denom))
    if aggr.count() < 2:
        return Estimate(value, math.nan, math.nan)
    scale = math.sqrt(max(float(aggr.ratio_var(numer, denom)), 0.0) / aggr.count())
    if scale == 0:
        return Estimate(value, value, value)
    low, high = scipy.stats.norm.interval(1 - alpha, loc=value, scale=scale)
    return Estimate(value, float(low), float(high))


# ------------------------------------------------------------------ against control


def compare(
    frame: pd.DataFrame,
    aggregates: Mapping[str, Any],
    control: str,
    arm: str,
    weights: Mapping[str, float],
    alpha: float,
    cuped: Sequence[str],
    power: float = 0.8,
) -> Comparison:
    differences = {m: difference(aggregates, control, arm, m, alpha, cuped) for m in METRIC_NAMES}
    pair = frame[frame["arm"].isin([control, arm])]
    n_control, n_arm = (_count(aggregates, a) for a in (control, arm))
    mde = detectable_ctr_lift(ClickMoments.of(pair), n_control, n_arm, alpha, power)
    srm = pair_srm_pvalue(aggregates, control, arm, weights)
    return Comparison(arm, control, differences, srm, mde)


def _count(aggregates: Mapping[str, Any], arm: str) -> int:
    aggr = aggregates.get(arm)
    return 0 if aggr is None else int(aggr.count())


def _comparable(aggregates: Mapping[str, Any], arm: str, denom: str) -> bool:
    aggr = aggregates.get(arm)
    return aggr is not None and aggr.count() >= 2 and aggr.mean(denom) > 0


def difference(
    aggregates: Mapping[str, Any],
    control: str,
    arm: str,
    metric: str,
    alpha: float,
    cuped: Sequence[str],
) -> Difference:
    """tea-tasting's ``RatioOfMeans`` of ``arm`` against ``control``; NaN (and not
    significant) when either arm has fewer than two users or no denominator. A covariate
    that explains the metric entirely (no variance left: tea-tasting cannot go on) falls
    back to the unadjusted analysis (``cuped`` False)."""
    _, denom = RATIOS[metric]
    if not all(_comparable(aggregates, a, denom) for a in (control, arm)):
        missing = Estimate.missing()
        return Difference(metric, math.nan, math.nan, missing, missing, math.nan, False)
    adjusted = metric in cuped
    try:
        r = _ratio_result(aggregates, control, arm, metric, alpha, cuped)
    except (ValueError, ZeroDivisionError):
        if not adjusted:
            raise
        adjusted = False
        r = _ratio_result(aggregates, control, arm, metric, alpha, ())
    # a control without any of the numerator (no conversion yet) has no relative lift: the
    # absolute difference stands, the relative one is missing rather than infinite
    relative = float(r.control) > 0
    return Difference(
        metric=metric,
        control=float(r.control),
        treatment=float(r.treatment),
        lift=Estimate(
            float(r.rel_effect_size),
            float(r.rel_effect_size_ci_lower),
            float(r.rel_effect_size_ci_upper),
        )
        if relative
        else Estimate.missing(),
        diff=Estimate(
            float(r.effect_size), float(r.effect_size_ci_lower), float(r.effect_size_ci_upper)
        ),
        pvalue=float(r.pvalue),
        significant=bool(r.pvalue < alpha),
        cuped=adjusted,
    )


def _ratio_result(
    aggregates: Mapping[str, Any],
    control: str,
    arm: str,
    metric: str,
    alpha: float,
    cuped: Sequence[str],
) -> Any:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # a zero control mean (no conversions) makes the relative figures NaN, as reported
        warnings.simplefilter("ignore", RuntimeWarning)
        return ratio_metric(metric, cuped, alpha).analyze(aggregates, control, arm)


# ------------------------------------------------------------------ sample ratio


def pair_srm_pvalue(
    aggregates: Mapping[str, Any], control: str, arm: str, weights: Mapping[str, float]
) -> float:
    """tea-tasting's ``SampleRatio`` of the two arms' users against their weights (NaN when
    either has no positive weight or no users)."""
    import tea_tasting as tt

    if min(weights.get(control, 0.0), weights.get(arm, 0.0)) <= 0:
        return math.nan
    if _count(aggregates, control) + _count(aggregates, arm) == 0:
        return math.nan
    counts = {a: tt.aggr.Aggregates(count_=_count(aggregates, a)) for a in (control, arm)}
    ratio = {a: weights[a] for a in (control, arm)}
    return float(tt.SampleRatio(ratio).analyze(counts, control, arm).pvalue)


def srm_check(
    arms: Sequence[ArmSummary], weights: Mapping[str, float], alpha: float = SRM_ALPHA
) -> SrmCheck | None:
    """Chi-square goodness of fit of the users per arm to the configured weights, over the
    arms with a positive weight; None with fewer than two such arms or no users."""
    weighted = [a for a in arms if (weights.get(a.arm) or 0) > 0]
    observed = np.array([a.users for a in weighted], dtype=float)
    if len(weighted) < 2 or observed.sum() == 0:
        return None
    shares = np.array([weights[a.arm] for a in weighted], dtype=float)
    expected = observed.sum() * shares / shares.sum()
    pvalue = float(scipy.stats.chisquare(observed, expected).pvalue)
    return SrmCheck(
        users={a.arm: a.users for a in weighted},
        expected={a.arm: float(e) for a, e in zip(weighted, expected, strict=True)},
        pvalue=pvalue,
        alpha=alpha,
        mismatch=pvalue < alpha,
    )


def srm_notes(arms: Sequence[ArmSummary], weights: Mapping[str, float]) -> list[str]:
    """Arms with users that the SRM check leaves out (no positive configured weight)."""
    return [
        f"arm {a.arm!r} has {a.users} users but no positive configured weight: "
        "left out of the sample-ratio check"
        for a in arms
        if a.users > 0 and (weights.get(a.arm) or 0) <= 0
    ]


# ------------------------------------------------------------------ CUPED


def cuped_info(
    frame: pd.DataFrame, comparisons: Sequence[Comparison], covariates: pd.DataFrame | None
) -> CupedInfo | None:
    """The metrics CUPED adjusted in at least one comparison, and the users with history."""
    if covariates is None:
        return None
    adjusted = {m for c in comparisons for m, d in c.differences.items() if d.cuped}
    with_history = frame.loc[frame["_history"], "user_id"].nunique()
    return CupedInfo(tuple(m for m in METRIC_NAMES if m in adjusted), int(with_history))
