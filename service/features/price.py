"""The ad's price as the model reads it: what a conversion costs the buyer.

A dearer offer converts less readily than a cheaper one of its kind (a click on a €900
holiday is not a click on a €9 lipstick), and a text vector does not carry a number written
in the text (docs/results.md: a linear probe finds none of the price within its category in
the frozen vector). So an ad may carry its price as a number, and the ranker reads
``[log1p(price) − PRICE_CENTRE, 1]``; an ad without one reads ``[0, 0]``.
"""

import math

import numpy as np

N_PRICE_FEATURES = 2
PRICE_CENTRE = math.log1p(100.0)  # a price of 100 in the data's currency reads as 0


def price_features(prices: np.ndarray) -> np.ndarray:
    """(n, 2) float32 of (n,) prices, NaN where an ad has none."""
    prices = np.asarray(prices, dtype=np.float64)
    known = np.isfinite(prices) & (prices >= 0)
    level = np.where(known, np.log1p(np.where(known, prices, 0.0)) - PRICE_CENTRE, 0.0)
    return np.stack([level, known], axis=1).astype(np.float32)
