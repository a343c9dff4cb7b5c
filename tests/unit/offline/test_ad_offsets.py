"""The per-ad empirical-Bayes offsets (``train/ad_offsets.py``) on counts of a known law."""

import numpy as np
import pandas as pd
from scipy.special import logit

from model_export.evaluate.ad_offsets import Split
from model_export.evaluate.metrics import auc
from model_export.train.ad_offsets import ClickCounts, pick_alpha


def gamma_poisson(alpha: float, n_ads: int, expected: float, seed: int = 0) -> ClickCounts:
    """Ads whose clicks are Poisson(multiplier × expected), multiplier ~ Gamma(alpha, alpha)."""
    rng = np.random.default_rng(seed)
    multiplier = rng.gamma(alpha, 1 / alpha, n_ads)
    ads = pd.Index([f"a{i}" for i in range(n_ads)])
    return ClickCounts(pd.Series(rng.poisson(multiplier * expected), ads),
                    pd.Series(np.full(n_ads, expected), ads))  # fmt: skip


def test_marginal_likelihood_finds_the_spread_of_the_multipliers() -> None:
    for alpha in (5.0, 40.0):
        found = gamma_poisson(alpha, 20_000, expected=10.0).marginal_alpha()
        assert 0.8 * alpha < found < 1.25 * alpha


def test_offsets_are_shrunk_more_the_fewer_clicks_an_ad_has() -> None:
    ads = pd.Index(["few", "many"])
    counts = ClickCounts(pd.Series([4.0, 400.0], ads), pd.Series([2.0, 200.0], ads))
    off = counts.offsets(10.0)
    assert 0 < off["few"] < off["many"] < np.log(2.0)
    assert off["many"] > 0.9 * np.log(2.0)


def test_validation_log_loss_picks_a_shrinkage_that_helps_held_out_rows() -> None:
    """Rows of ads with a hidden multiplier: offsets fitted on one half of the rows, with the
    alpha picked on the other half, lower the log loss of a third half."""
    rng = np.random.default_rng(1)
    n_ads, per_ad = 400, 300
    multiplier = rng.gamma(20.0, 1 / 20.0, n_ads)
    ad_id = np.repeat(np.array([f"a{i}" for i in range(n_ads)]), per_ad)
    base = np.full(len(ad_id), 0.03)

    def part() -> Split:
        label = rng.random(len(ad_id)) < base * np.repeat(multiplier, per_ad)
        return Split(ad_id, label.astype(np.float32), base, logit(base))

    fit, valid, test = part(), part(), part()
    alpha = pick_alpha(fit.counts(), valid.ad_id, valid.label, valid.logit)
    shifted = test.scores(fit.counts().offsets(alpha))
    assert shifted["log loss"] < test.scores()["log loss"]
    oracle = auc(test.label, np.repeat(multiplier, per_ad))
    assert shifted["AUC"] - 0.5 > 0.5 * (oracle - 0.5)  # over half of what their rates rank
