"""Per-ad click offsets: what a trained model's text does not say about a warm ad's click rate.

A model that reads an ad only through its text (``--no-ad-prior``) leaves in every score of
that ad whatever of its click rate the text does not carry: a per-ad quality, the part of
the offer its text vector loses, the head's own error on that ad. An ad with history shows
it: its clicks in the training rows against the clicks the trained model expects there.
Empirical Bayes turns that into a logit offset per ad, shrunk towards 0 the fewer clicks the
ad has: with Poisson clicks and a Gamma(alpha, alpha) prior on each ad's click-rate
multiplier, the posterior mean is ``(clicks + alpha) / (expected + alpha)``, and its log is
added to the ad's click logit (``ranker.onnx``'s ``ad_offset`` input). Ads without training
rows keep no offset. ``alpha`` is picked on the validation split's log loss, ``inf`` (no
offsets) among the choices. Given the ads' texts, the prior's mean may instead be what an ad's
words predict of its multiplier (``text_prior.py``), when validation says so.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.special import expit

from model_export.evaluate.metrics import logloss
from model_export.train.text_prior import text_priors

# a context cell holds far more rows than an ad: its picks reach further
ALPHAS = (2.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0, math.inf)


@dataclass(frozen=True)
class ClickCounts:
    """Per ad (or per any key, ``cell_offsets.py``): its clicks and the clicks a model expects
    in the same rows."""

    clicks: pd.Series
    expected: pd.Series

    @classmethod
    def of(cls, key: np.ndarray, label: np.ndarray, p: np.ndarray) -> "ClickCounts":
        sums = pd.DataFrame({"clicks": label, "expected": p}).groupby(key).sum()
        return cls(sums["clicks"].astype(np.float64), sums["expected"].astype(np.float64))

    def offsets(self, alpha: float, prior: np.ndarray | None = None) -> pd.Series:
        """Each ad's logit offset: the posterior mean of its click-rate multiplier, logged,
        under a Gamma prior of shape ``alpha`` and mean ``prior`` (1 when None; each ad's,
        in the order of the counts). ``alpha`` inf: the prior's mean itself."""
        mean = np.ones(len(self.clicks)) if prior is None else prior
        if math.isinf(alpha):
            return pd.Series(np.log(mean), index=self.clicks.index)
        return np.log((self.clicks + alpha) / (self.expected + alpha / mean))

    def marginal_alpha(self) -> float:
        """The ``alpha`` that makes the ads' clicks likeliest under Poisson counts with a
        Gamma(alpha, alpha) multiplier (a negative binomial per ad)."""
        c, e = self.clicks.to_numpy(), self.expected.to_numpy()

        def nll(log_alpha: float) -> float:
            a = np.exp(log_alpha)
            return -float(stats.nbinom.logpmf(c, a, a / (a + e)).sum())

        best = optimize.minimize_scalar(nll, bounds=(-3.0, 9.0), method="bounded")
        return float(np.exp(best.x))


def shifted(logit: np.ndarray, key: np.ndarray, offsets: pd.Series) -> np.ndarray:
    """``logit`` plus each row's offset by its key (ad id; 0 for keys without one)."""
    return logit + offsets.reindex(key).fillna(0.0).to_numpy()


def pick_alpha(
    fit: ClickCounts, ad_id: np.ndarray, label: np.ndarray, logit: np.ndarray,
    alphas: Sequence[float] = ALPHAS,
) -> float:  # fmt: skip
    """The ``alpha`` of ``alphas`` whose offsets (fitted on ``fit``) give the held-out rows
    (``ad_id``, ``label``, the model's ``logit``) the lowest log loss."""
    return _pick_prior(fit, {None: None}, alphas, (ad_id, label, logit))[1]


def _pick_prior(
    fit: ClickCounts, priors: dict[float | None, np.ndarray | None], alphas: Sequence[float],
    valid: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[float | None, float]:  # fmt: skip
    """The (prior, ``alpha``) pair whose offsets give the ``valid`` rows the lowest log loss."""
    ad_id, label, logit = valid

    def loss(choice: tuple[float | None, float]) -> float:
        offsets = fit.offsets(choice[1], priors[choice[0]])
        return logloss(label, expit(shifted(logit, ad_id, offsets)))

    return min(((p, a) for p in priors for a in alphas), key=loss)


@dataclass(frozen=True)
class FittedOffsets:
    offsets: pd.Series  # logit offset by ad id (ads with training rows)
    alpha: float
    valid_logloss: tuple[float, float]  # without and with the offsets
    text_penalty: float | None = None  # the text prior's (``text_prior.py``); None: no prior

    def summary(self) -> dict[str, float | int | None]:
        return {"alpha": None if math.isinf(self.alpha) else self.alpha,
                "text_prior_penalty": self.text_penalty,
                "ads": int((self.offsets != 0).sum()),
                "valid_logloss_without": self.valid_logloss[0],
                "valid_logloss_with": self.valid_logloss[1]}  # fmt: skip


def fit_offsets(
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    valid: tuple[np.ndarray, np.ndarray, np.ndarray],
    alpha: float | None = None,
    texts: pd.Series | None = None,
) -> FittedOffsets:
    """Offsets fitted on the ``train`` rows with ``alpha`` (when not given, picked on the
    ``valid`` rows), each ``(ad_id, label, the model's logit)``; none without valid rows.
    With the ads' ``texts`` (by ad id), each ad's prior is centred on what its words predict
    (``text_prior.py``) when that lowers the valid rows' log loss, the penalty picked there."""
    counts = ClickCounts.of(train[0], train[1], expit(train[2]))
    if not len(valid[0]):
        return FittedOffsets(pd.Series(dtype=np.float64), math.inf, (math.nan, math.nan))
    priors: dict[float | None, np.ndarray | None] = {None: None}
    if texts is not None:
        ad_texts = texts.reindex(counts.clicks.index).tolist()
        clicks, expected = counts.clicks.to_numpy(), counts.expected.to_numpy()
        for weight, prior in text_priors(ad_texts, clicks, expected).items():
            priors[weight] = prior
    penalty, alpha = _pick_prior(counts, priors, ALPHAS if alpha is None else [alpha], valid)
    offsets = counts.offsets(alpha, priors[penalty])

    def loss(o: pd.Series) -> float:
        return logloss(valid[1], expit(shifted(valid[2], valid[0], o)))

    without = logloss(valid[1], expit(valid[2]))
    return FittedOffsets(offsets[offsets != 0], alpha, (without, loss(offsets)), penalty)
