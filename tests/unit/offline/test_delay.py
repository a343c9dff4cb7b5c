"""The conversion delay model: fitted on right-truncated delays, it recovers the mixture."""

import numpy as np
import pytest
from scipy.special import ndtri

from model_export.train.delay import DelayModel, fit_delay

WINDOW_S = 30 * 86_400.0
TRUE = DelayModel(fast_share=0.3, fast_mean_s=900.0, slow_log_median=np.log(2 * 86_400.0),
                  slow_sigma=1.5, window_s=WINDOW_S, conversions=0)  # fmt: skip


def sample(rng: np.random.Generator, n: int) -> np.ndarray:
    """Delays of the true mixture, conditioned on arriving within the window."""
    out = np.empty(0)
    while len(out) < n:
        fast = rng.random(n) < TRUE.fast_share
        slow = np.exp(TRUE.slow_log_median + TRUE.slow_sigma * ndtri(rng.random(n)))
        d = np.where(fast, rng.exponential(TRUE.fast_mean_s, n), slow)
        out = np.concatenate([out, d[d <= WINDOW_S]])
    return out[:n]


def test_the_cdf_is_a_distribution_over_the_window() -> None:
    t = np.array([0.0, 60.0, 3600.0, 86_400.0, WINDOW_S, 2 * WINDOW_S])
    f = TRUE.cdf(t)
    assert f[0] == pytest.approx(0.0, abs=1e-9) and f[-2] == pytest.approx(1.0)
    assert f[-1] == pytest.approx(1.0) and np.all(np.diff(f) >= 0)


def test_the_fit_recovers_the_mixture_from_truncated_delays() -> None:
    """Clicks spread over 30 days before the cut: a delay is seen only if it fits before the
    cut. Fitting the seen ones as if complete would find delays far too short."""
    rng = np.random.default_rng(0)
    delay = sample(rng, 40_000)
    elapsed = rng.uniform(0, WINDOW_S, len(delay))
    seen = delay <= elapsed
    fitted = fit_delay(delay[seen], elapsed[seen], WINDOW_S)
    checkpoints = np.array([3600.0, 86_400.0, 7 * 86_400.0])
    np.testing.assert_allclose(fitted.cdf(checkpoints), TRUE.cdf(checkpoints), atol=0.02)
    naive = fit_delay(delay[seen], np.full(seen.sum(), WINDOW_S), WINDOW_S)
    assert naive.cdf(np.array(86_400.0)) > TRUE.cdf(np.array(86_400.0)) + 0.05


def test_too_few_conversions_are_refused() -> None:
    with pytest.raises(ValueError, match="too few"):
        fit_delay(np.ones(5), np.ones(5), WINDOW_S)
