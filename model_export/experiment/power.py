"""The smallest relative CTR lift an experiment detects. Pure.

CTR is a ratio of per-user sums, clicks / impressions; its per-user variance is the
delta-method variance of the ratio of means, from the per-user means, variances and the
covariance of clicks and impressions (``ClickMoments``). tea-tasting's power analysis of
``RatioOfMeans`` (two-sided, in its normal approximation: scipy's non-central t, which the
t-test's power reads, returns NaN for some unbalanced arms) solves for the relative effect at
the wanted power, for the control's and the treatment's numbers of users.
"""

import math
from dataclasses import dataclass

import pandas as pd

CLICKS, IMPRESSIONS = "clicks", "impressions"


@dataclass(frozen=True)
class ClickMoments:
    """Per-user sample moments of clicks and impressions (the no-effect case: pooled over
    the arms compared)."""

    mean_clicks: float
    mean_impressions: float
    var_clicks: float
    var_impressions: float
    cov_clicks_impressions: float

    @classmethod
    def of(cls, users: pd.DataFrame) -> "ClickMoments":
        """The moments of a per-user frame's ``clicks`` and ``impressions`` (ddof 1)."""
        clicks = users[CLICKS].astype(float)
        imps = users[IMPRESSIONS].astype(float)
        return cls(
            mean_clicks=float(clicks.mean()),
            mean_impressions=float(imps.mean()),
            var_clicks=float(clicks.var()),
            var_impressions=float(imps.var()),
            cov_clicks_impressions=float(clicks.cov(imps)),
        )


def detectable_ctr_lift(
    moments: ClickMoments,
    users_control: int,
    users_treatment: int,
    alpha: float = 0.05,
    power: float = 0.8,
) -> float:
    """The smallest relative CTR lift (0.05 = +5%) a two-sided test at ``alpha`` detects with
    probability ``power`` with these users per arm; NaN when the moments cannot give one
    (no clicks, no impressions, too few users)."""
    import tea_tasting as tt

    if min(users_control, users_treatment) < 2 or not _usable(moments):
        return math.nan
    total = users_control + users_treatment
    aggregates = tt.aggr.Aggregates(
        count_=total,
        mean_={CLICKS: moments.mean_clicks, IMPRESSIONS: moments.mean_impressions},
        var_={CLICKS: moments.var_clicks, IMPRESSIONS: moments.var_impressions},
        cov_={(CLICKS, IMPRESSIONS): moments.cov_clicks_impressions},
    )
    metric = tt.RatioOfMeans(
        CLICKS,
        IMPRESSIONS,
        use_t=False,
        alpha=alpha,
        power=power,
        ratio=users_treatment / users_control,
        n_obs=total,
    )
    try:
        (result,) = metric.solve_power_from_aggregates(aggregates, "rel_effect_size")
    except (ValueError, RuntimeError, ZeroDivisionError):  # no variance, no root found
        return math.nan
    return float(result.rel_effect_size)


def _usable(m: ClickMoments) -> bool:
    values = (m.mean_clicks, m.mean_impressions, m.var_clicks, m.var_impressions)
    return all(math.isfinite(v) for v in values) and m.mean_clicks > 0 and m.mean_impressions > 0
