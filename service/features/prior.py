"""The ad's own prior: a hashed id bucket and its smoothed historical click rate.

An ad seen in training gets a bucket in ``1..n_buckets-1`` and its smoothed CTR; an ad the
model has not seen gets bucket 0 and the global CTR, the state training teaches through
id dropout. So text carries the cold start and the prior carries warm ads.
"""

import zlib

import numpy as np

UNKNOWN_BUCKET = 0
N_PRIOR_FEATURES = 2


def ad_bucket(ad_id: str, n_buckets: int) -> int:
    """Stable hash bucket of a known ad id (never the unknown bucket 0)."""
    return zlib.crc32(ad_id.encode()) % (n_buckets - 1) + 1


def smoothed_ctr(
    clicks: np.ndarray, impressions: np.ndarray, global_ctr: float, alpha: float
) -> np.ndarray:
    """(clicks + alpha * global_ctr) / (impressions + alpha): Bayesian shrinkage to the mean."""
    return (clicks + alpha * global_ctr) / (impressions + alpha)


def prior_features(
    clicks: np.ndarray, impressions: np.ndarray, global_ctr: float, alpha: float
) -> np.ndarray:
    """[logit of the smoothed CTR, log1p(impressions)] per ad, float32 of shape (n, 2)."""
    clicks = np.asarray(clicks, dtype=np.float64)
    impressions = np.asarray(impressions, dtype=np.float64)
    p = np.clip(smoothed_ctr(clicks, impressions, global_ctr, alpha), 1e-6, 1 - 1e-6)
    return np.stack([np.log(p / (1 - p)), np.log1p(impressions)], axis=1).astype(np.float32)


def unknown_prior(global_ctr: float, alpha: float) -> np.ndarray:
    """Prior features of an ad with no history (shape (2,))."""
    return prior_features(np.zeros(1), np.zeros(1), global_ctr, alpha)[0]
