"""The experiment report's statistics against independent computations and simulations: a
ratio lift and its interval against a direct delta-method formula, an A/A study's false
positive rate, a planted lift detected and covered, the sample-ratio check, CUPED narrowing
the interval, the detectable lift against statsmodels' power solver."""

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import tea_tasting as tt
from statsmodels.stats.power import NormalIndPower

from model_export.experiment.power import ClickMoments, detectable_ctr_lift
from model_export.experiment.stats import analyze, arm_aggregates, difference, with_derived

ALPHA = 0.05
EVEN = {"control": 0.5, "b": 0.5}


def simulate_users(
    n: int,
    rng: np.random.Generator,
    lift: float = 0.0,
    share_b: float = 0.5,
    propensity: np.ndarray | None = None,
    activity: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per-user counts: heterogeneous activity (Poisson impressions around a gamma rate) and
    click propensity (beta), clicks binomial; arm ``b``'s propensities times 1 + ``lift``
    (so its true ratio of means is exactly 1 + lift times the control's). A user's
    ``propensity`` and ``activity`` may be given (the same users in two periods)."""
    arm = np.where(rng.random(n) < share_b, "b", "control")
    p = propensity if propensity is not None else rng.beta(1.0, 19.0, n)
    p = np.minimum(p * np.where(arm == "b", 1.0 + lift, 1.0), 1.0)
    rate = activity if activity is not None else rng.gamma(2.0, 2.5, n)
    impressions = rng.poisson(rate)
    clicks = rng.binomial(impressions, p)
    conversions = rng.binomial(clicks, 0.1)
    return pd.DataFrame(
        {
            "arm": arm,
            "user_id": [f"u:{i}" for i in range(n)],
            "requests": impressions + rng.poisson(1.0, n),
            "impressions": impressions,
            "clicks": clicks,
            "conversions": conversions,
            "revenue": clicks * 0.4,
        }
    )


def direct_delta(clicks: np.ndarray, imps: np.ndarray) -> tuple[float, float]:
    """A ratio of per-user sums and its delta-method variance (Deng et al. 2018), by hand."""
    n = len(clicks)
    ratio = clicks.mean() / imps.mean()
    cov = np.cov(clicks, imps, ddof=1)
    per_user = (cov[0, 0] - 2 * ratio * cov[0, 1] + ratio**2 * cov[1, 1]) / imps.mean() ** 2
    return ratio, per_user / n


def welch_df(v1: float, n1: int, v2: float, n2: int) -> float:
    """Welch-Satterthwaite degrees of freedom from the variances of the two means."""
    return (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))


def constructed_frame() -> pd.DataFrame:
    """Control CTR exactly 10/100, arm b exactly 12/100: the lift is exactly +20%."""
    imps = [10, 20, 30, 40]
    rows = []
    for k in range(50):
        for arm, clicks in (("control", [0, 3, 2, 5]), ("b", [2, 1, 5, 4])):
            for j, (i, c) in enumerate(zip(imps, clicks, strict=True)):
                rows.append((arm, f"{arm}:{k}:{j}", i + 1, i, c, 0, 0.0))
    columns = ["arm", "user_id", "requests", "impressions", "clicks", "conversions", "revenue"]
    return pd.DataFrame(rows, columns=columns)


def test_ratio_lift_and_interval_match_a_direct_delta_method_computation() -> None:
    frame = constructed_frame()
    analysis = analyze(frame, EVEN, "control", ALPHA)
    ctr = analysis.comparison("b").ctr
    assert ctr.control == pytest.approx(0.10) and ctr.treatment == pytest.approx(0.12)
    assert ctr.lift.value == pytest.approx(0.20, abs=1e-12)

    arms = {a: frame[frame["arm"] == a] for a in ("control", "b")}
    (rc, vc), (rb, vb) = (
        direct_delta(arms[a]["clicks"].to_numpy(float), arms[a]["impressions"].to_numpy(float))
        for a in ("control", "b")
    )
    n = len(arms["control"])
    t = scipy.stats.t.ppf(1 - ALPHA / 2, welch_df(vc, n, vb, n))
    half = t * math.sqrt(vc + vb)
    assert (ctr.diff.low, ctr.diff.high) == pytest.approx((rb - rc - half, rb - rc + half))
    p = 2 * scipy.stats.t.sf(abs(rb - rc) / math.sqrt(vc + vb), welch_df(vc, n, vb, n))
    assert ctr.pvalue == pytest.approx(p, rel=1e-9)
    # the relative interval is the log ratio's: log(rb / rc) ± t·sqrt(vb/rb² + vc/rc²)
    lc, lb = vc / rc**2, vb / rb**2
    t_log = scipy.stats.t.ppf(1 - ALPHA / 2, welch_df(lc, n, lb, n))
    width = math.exp(t_log * math.sqrt(lc + lb))
    expected = (rb / rc / width - 1, rb / rc * width - 1)
    assert (ctr.lift.low, ctr.lift.high) == pytest.approx(expected)
    # each arm's own interval: its ratio ± z·sqrt(delta variance)
    control = analysis.arms[0]
    z = scipy.stats.norm.ppf(1 - ALPHA / 2)
    assert control.ctr.value == pytest.approx(0.10)
    assert (control.ctr.low, control.ctr.high) == pytest.approx(
        (rc - z * math.sqrt(vc), rc + z * math.sqrt(vc))
    )
    assert (control.users, control.impressions, control.clicks) == (200, 5000, 500)


def test_arm_aggregates_are_tea_tastings_own() -> None:
    frame = with_derived(simulate_users(500, np.random.default_rng(3)), None)
    ours = arm_aggregates(frame, ())
    cols = ["clicks", "impressions", "conversions", "requests", "revenue_k"]
    pairs = [(a, b) for a in cols for b in cols if a < b]
    theirs = tt.aggr.read_aggregates(
        frame, "arm", has_count=True, mean_cols=cols, var_cols=cols, cov_cols=pairs
    )
    for arm, aggr in theirs.items():
        assert ours[arm].count() == aggr.count()
        for c in cols:
            assert ours[arm].mean(c) == pytest.approx(aggr.mean(c))
            assert ours[arm].var(c) == pytest.approx(aggr.var(c))
        for a, b in pairs:
            assert ours[arm].cov(a, b) == pytest.approx(aggr.cov(a, b))


def naive_impression_pvalue(frame: pd.DataFrame) -> float:
    """A two-proportion z-test over impressions: the wrong unit when users differ."""
    sums = frame.groupby("arm")[["clicks", "impressions"]].sum()
    c, n = sums["clicks"].to_numpy(float), sums["impressions"].to_numpy(float)
    pooled = c.sum() / n.sum()
    se = math.sqrt(pooled * (1 - pooled) * (1 / n[0] + 1 / n[1]))
    return float(2 * scipy.stats.norm.sf(abs(c[0] / n[0] - c[1] / n[1]) / se))


def test_aa_false_positive_rate_is_near_alpha_and_per_impression_tests_are_not() -> None:
    rng = np.random.default_rng(20240601)
    ours, naive = [], []
    for _ in range(200):
        users = simulate_users(2000, rng)
        users["impressions"] *= 5  # heavy users: the per-impression test's blind spot
        users["clicks"] = rng.binomial(users["impressions"], rng.beta(0.3, 5.7, len(users)))
        aggregates = arm_aggregates(with_derived(users, None), ())
        ours.append(difference(aggregates, "control", "b", "ctr", ALPHA, ()).pvalue)
        naive.append(naive_impression_pvalue(users))
    share = float(np.mean(np.asarray(ours) < ALPHA))
    assert 0.02 <= share <= 0.09, share
    assert float(np.mean(np.asarray(naive) < ALPHA)) > 0.2  # anti-conservative


def test_planted_lift_is_detected_and_covered() -> None:
    users = simulate_users(40_000, np.random.default_rng(7), lift=0.15)
    analysis = analyze(users, EVEN, "control", ALPHA)
    ctr = analysis.comparison("b").ctr
    assert ctr.significant and ctr.pvalue < 1e-3
    assert ctr.lift.covers(0.15), ctr.lift
    assert ctr.diff.low > 0
    assert not analysis.srm.mismatch  # type: ignore[union-attr]
    # revenue is 0.4 per click: revenue per request follows the clicks
    assert analysis.comparison("b").differences["rpm"].lift.value > 0.05


def srm_users(n_control: int, n_b: int) -> pd.DataFrame:
    arms = ["control"] * n_control + ["b"] * n_b
    ones = np.ones(len(arms), dtype=int)
    return pd.DataFrame({"arm": arms, "user_id": [str(i) for i in range(len(arms))],
                         "requests": ones, "impressions": ones, "clicks": 0 * ones,
                         "conversions": 0 * ones, "revenue": 0.0 * ones})  # fmt: skip


def test_sample_ratio_mismatch_is_flagged_for_52_48_and_not_for_an_even_split() -> None:
    skewed = analyze(srm_users(10_400, 9_600), EVEN, "control", ALPHA)
    assert skewed.srm is not None and skewed.srm.mismatch
    assert skewed.srm.pvalue == pytest.approx(scipy.stats.chi2.sf(32.0, 1))  # (400²/10⁴)·2
    assert skewed.srm.expected == {"control": 10_000.0, "b": 10_000.0}
    assert skewed.comparison("b").srm_pvalue < 1e-6
    even = analyze(srm_users(10_000, 10_000), EVEN, "control", ALPHA)
    assert even.srm is not None and not even.srm.mismatch and even.srm.pvalue > 0.9
    # the weights decide what is expected: 52/48 is right for weights 0.52/0.48
    weighted = analyze(srm_users(10_400, 9_600), {"control": 52, "b": 48}, "control", ALPHA)
    assert weighted.srm is not None and not weighted.srm.mismatch


def test_cuped_narrows_the_interval_when_the_covariate_correlates() -> None:
    rng = np.random.default_rng(11)
    n = 20_000
    propensity, activity = rng.beta(0.5, 9.5, n), rng.gamma(2.0, 10.0, n)
    users = simulate_users(n, rng, lift=0.1, propensity=propensity, activity=activity)
    before = simulate_users(n, rng, propensity=propensity, activity=2 * activity)
    before = before.drop(columns="arm")
    before = before.iloc[: n * 3 // 4]  # a quarter of the users are new: zeros
    plain = analyze(users, EVEN, "control", ALPHA).comparison("b").ctr
    adjusted = analyze(users, EVEN, "control", ALPHA, covariates=before)
    ctr = adjusted.comparison("b").ctr
    assert ctr.cuped and not plain.cuped
    assert adjusted.cuped is not None and adjusted.cuped.users_with_history == n * 3 // 4
    narrowed, wide = ctr.lift.high - ctr.lift.low, plain.lift.high - plain.lift.low
    assert narrowed < 0.85 * wide, (narrowed, wide)
    assert ctr.lift.covers(0.1) and plain.lift.covers(0.1)


def test_detectable_lift_matches_statsmodels_power_with_the_delta_method_variance() -> None:
    users = simulate_users(20_000, np.random.default_rng(5))
    m = ClickMoments.of(users)
    ratio = m.mean_clicks / m.mean_impressions
    var = m.var_clicks - 2 * ratio * m.cov_clicks_impressions + ratio**2 * m.var_impressions
    sigma = math.sqrt(var) / m.mean_impressions  # one user's delta-method deviation
    for n_control, n_b in ((10_000, 10_000), (5_000, 15_000)):
        d = NormalIndPower().solve_power(nobs1=n_control, ratio=n_b / n_control, alpha=ALPHA,
                                         power=0.8)  # fmt: skip
        expected = d * sigma / ratio
        assert detectable_ctr_lift(m, n_control, n_b) == pytest.approx(expected, rel=1e-3)
    # four times the users halve it
    small = detectable_ctr_lift(m, 2_500, 2_500)
    assert detectable_ctr_lift(m, 10_000, 10_000) == pytest.approx(small / 2, rel=0.01)
    assert math.isnan(detectable_ctr_lift(m, 1, 10))


def test_arms_without_users_or_denominators_give_nan_and_notes_not_errors() -> None:
    frame = constructed_frame()
    frame.loc[frame["arm"] == "b", ["impressions", "clicks"]] = 0
    analysis = analyze(frame, {"control": 1, "b": 1, "empty": 1}, "control", ALPHA)
    assert [a.arm for a in analysis.arms] == ["control", "b", "empty"]
    b, empty = analysis.comparison("b").ctr, analysis.comparison("empty").ctr
    for d in (b, empty):
        assert math.isnan(d.pvalue) and not d.significant and math.isnan(d.lift.value)
    assert any("empty" in note for note in analysis.notes)
    assert analysis.arms[2].users == 0 and math.isnan(analysis.arms[2].ctr.value)
    assert analysis.srm is not None and analysis.srm.mismatch  # nobody in "empty"
    with pytest.raises(ValueError, match="control"):
        analyze(frame, EVEN, "nope", ALPHA)


def test_several_arms_are_each_compared_with_the_control() -> None:
    rng = np.random.default_rng(2)
    users = simulate_users(9_000, rng)
    users["arm"] = rng.choice(["control", "b", "c"], len(users))
    analysis = analyze(users, {"control": 1, "b": 1, "c": 1}, "control", ALPHA)
    assert [c.arm for c in analysis.comparisons] == ["b", "c"]
    assert all(c.control == "control" for c in analysis.comparisons)
    assert all(0 < c.detectable_ctr_lift < 1 for c in analysis.comparisons)
    assert analysis.as_dict()["comparisons"][0]["arm"] == "b"


def test_a_control_without_conversions_has_no_relative_lift_but_an_absolute_difference() -> None:
    frame = constructed_frame()
    frame.loc[frame["arm"] == "b", "conversions"] = frame.loc[frame["arm"] == "b", "clicks"] // 2
    aggregates = arm_aggregates(with_derived(frame, None), ())
    cvr = difference(aggregates, "control", "b", "cvr", ALPHA, ())
    assert cvr.control == 0.0 and cvr.treatment > 0
    assert math.isnan(cvr.lift.value) and math.isnan(cvr.lift.low) and math.isnan(cvr.lift.high)
    assert cvr.diff.value == pytest.approx(cvr.treatment)
    assert cvr.diff.low <= cvr.diff.value <= cvr.diff.high
