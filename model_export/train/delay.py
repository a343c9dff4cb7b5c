"""How long conversions take to arrive, fitted on a log cut at a date (delayed feedback).

A click from an hour before the log was cut has had an hour to convert; most of its
conversions, if any, are still to come. Counted as "did not convert", recent clicks teach a
conversion model that recent traffic converts less, and it under-predicts. In the manner of
Chapelle (KDD 2014), a delay distribution is fitted beside the model and training asks the
model for the probability that a click converts *and has done so by the cut*,
``pCVR × F(elapsed)`` (``losses.py``), instead of ``pCVR`` alone.

The delay is a mixture of a fast exponential part (impulse buys) and a slow log-normal part
with a long tail (considered buys), pooled over advertisers and conditioned on the attribution
window. It is fitted by maximum likelihood on the conversions the log holds, each one's delay
counted as right-truncated at its click's elapsed time (a delay longer than that could not
have been observed): ``L = Π f(d_i) / F(e_i)``.
"""

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from scipy.stats import expon, lognorm

MIN_DELAY_S = 1.0  # a conversion in the click's own second counts as one second
MIN_CONVERSIONS = 30  # fewer delays than this fit no distribution worth trusting


@dataclass(frozen=True)
class DelayModel:
    fast_share: float  # weight of the exponential part
    fast_mean_s: float
    slow_log_median: float  # log seconds
    slow_sigma: float
    window_s: float  # attribution window: F(window) = 1
    conversions: int  # how many delays it was fitted on

    def cdf(self, t: np.ndarray) -> np.ndarray:
        """Share of a click's eventual conversions that have arrived ``t`` seconds after it."""
        t = np.clip(np.asarray(t, dtype=np.float64), 0.0, self.window_s)
        return self._raw_cdf(t) / self._raw_cdf(np.asarray(self.window_s))

    def _parts(self) -> tuple[Any, Any]:
        """The fast and the slow part as scipy distributions."""
        slow = lognorm(s=self.slow_sigma, scale=np.exp(self.slow_log_median))
        return expon(scale=self.fast_mean_s), slow

    def _raw_cdf(self, t: np.ndarray) -> np.ndarray:
        fast, slow = self._parts()
        return self.fast_share * fast.cdf(t) + (1.0 - self.fast_share) * slow.cdf(t)

    def pdf(self, t: np.ndarray) -> np.ndarray:
        """Density of the delay (without the window's conditioning)."""
        fast, slow = self._parts()
        return self.fast_share * fast.pdf(t) + (1.0 - self.fast_share) * slow.pdf(t)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _model(params: np.ndarray, window_s: float, n: int) -> DelayModel:
    share_logit, log_fast_mean, log_median, log_sigma = params
    return DelayModel(float(expit(share_logit)), float(np.exp(log_fast_mean)), float(log_median),
                      float(np.exp(log_sigma)), window_s, n)  # fmt: skip


def _neg_log_likelihood(
    params: np.ndarray, delay: np.ndarray, elapsed: np.ndarray, window_s: float
) -> float:
    m = _model(params, window_s, len(delay))
    observable = m._raw_cdf(np.minimum(elapsed, window_s))
    return float(-(np.log(np.maximum(m.pdf(delay), 1e-300))
                   - np.log(np.maximum(observable, 1e-300))).sum())  # fmt: skip


def fit_delay(delay_s: np.ndarray, elapsed_s: np.ndarray, window_s: float) -> DelayModel:
    """The delay mixture of observed conversions: ``delay_s`` from click to conversion,
    ``elapsed_s`` from the click to the log's cut (each delay ≤ its elapsed time)."""
    delay = np.maximum(np.asarray(delay_s, dtype=np.float64), MIN_DELAY_S)
    elapsed = np.maximum(np.asarray(elapsed_s, dtype=np.float64), delay)
    if len(delay) < MIN_CONVERSIONS:
        raise ValueError(f"{len(delay)} conversions are too few to fit their delays")
    start = np.array([0.0, np.log(900.0), np.log(max(np.median(delay), 3600.0)), np.log(1.5)])
    found = minimize(_neg_log_likelihood, start, args=(delay, elapsed, window_s),
                     method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-4})  # fmt: skip
    return _model(found.x, window_s, len(delay))
