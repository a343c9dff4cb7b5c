"""The per-ad empirical-Bayes offsets (``train/ad_offsets.py``) on counts of a known law."""

import numpy as np
import pandas as pd
from scipy.special import logit

from model_export.evaluate.ad_offsets import Split
from model_export.evaluate.metrics import auc
from model_export.train.ad_offsets import ClickCounts, fit_offsets, pick_alpha


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


def test_a_prior_mean_moves_the_offsets_of_ads_with_few_clicks_most() -> None:
    ads = pd.Index(["few", "many"])
    counts = ClickCounts(pd.Series([1.0, 100.0], ads), pd.Series([1.0, 100.0], ads))
    prior = np.array([2.0, 2.0])  # the words say: twice the model's rate
    off = counts.offsets(10.0, prior)
    assert off["many"] < 0.1 * np.log(2.0) < off["few"] < np.log(2.0)
    assert np.allclose(counts.offsets(np.inf, prior), np.log(2.0))  # alpha inf: the prior alone


def offer_ads(seed: int, n_ads: int = 600, per_ad: int = 60) -> tuple[list[Split], pd.Series]:
    """Three parts of rows of ads whose click rate is set by the offer in their text, a few
    clicks each (the base logit knows nothing of it), and the ads' texts."""
    rng = np.random.default_rng(seed)
    offers = {"half price": 0.6, "free delivery": 0.3, "new season": 0.0, "learn more": -0.5}
    names = list(offers)
    pick = rng.integers(0, len(offers), n_ads)
    ads = [f"a{i}" for i in range(n_ads)]
    texts = pd.Series([f"brand{i % 40} item{i % 25} {names[k]}" for i, k in enumerate(pick)], ads)
    effect = np.array([offers[names[k]] for k in pick])
    ad_id = np.repeat(np.array(ads), per_ad)
    base = np.full(len(ad_id), 0.03)
    p = 1 / (1 + np.exp(-(logit(base) + np.repeat(effect, per_ad))))

    def part() -> Split:
        return Split(ad_id, (rng.random(len(p)) < p).astype(np.float32), p, logit(base))

    return [part(), part(), part()], texts


def rows(part: Split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return part.ad_id, part.label, part.logit


def test_the_text_prior_finds_what_the_ads_words_share_and_helps_held_out_rows() -> None:
    (fit, valid, test), texts = offer_ads(seed=2)
    plain = fit_offsets(rows(fit), rows(valid))
    worded = fit_offsets(rows(fit), rows(valid), texts=texts)
    assert plain.text_penalty is None and worded.text_penalty is not None
    assert worded.valid_logloss[1] < plain.valid_logloss[1]
    assert test.scores(worded.offsets)["log loss"] < test.scores(plain.offsets)["log loss"]
    assert test.scores(worded.offsets)["E[AUC]"] > test.scores(plain.offsets)["E[AUC]"] + 0.01


def test_texts_that_share_no_ngram_leave_the_offsets_as_without_them() -> None:
    (fit, valid, _), texts = offer_ads(seed=3, n_ads=200)
    unique = pd.Series([f"word{i} other{i}" for i in range(len(texts))], texts.index)
    with_texts = fit_offsets(rows(fit), rows(valid), texts=unique)
    assert with_texts.text_penalty is None
    assert with_texts.offsets.equals(fit_offsets(rows(fit), rows(valid)).offsets)
