"""The in-process cache of ad vectors: gathering, slot reuse, expiry, capacity zero."""

from collections.abc import Sequence

import numpy as np

from service.features.price import price_features
from service.store.ad_cache import MISS, AdCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def prior_rows(ad_ids: Sequence[str]) -> np.ndarray:
    """A prior table that knows a → 1, b → 2, c → 3 and nothing else (0)."""
    return np.array([{"a": 1, "b": 2, "c": 3}.get(a, 0) for a in ad_ids], np.int64)


def test_ad_cache_gathers_copies_reuses_oldest_slots_and_expires() -> None:
    clock = Clock()
    cache = AdCache(capacity=2, d=2, ttl_s=10, prior_rows=prior_rows, clock=clock)
    cache.put(["a", "b"], np.array([[1, 1], [2, 2]], np.float32), [9.5, np.nan])
    got = cache.gather(["b", "x", "a"])
    assert got.have.tolist() == [True, False, True]
    assert got.vectors.tolist() == [[2, 2], [0, 0], [1, 1]]
    assert got.prior_rows.tolist() == [2, 0, 1]
    priced = price_features(np.array([9.5]))[0].tolist()
    assert got.price_rows.tolist() == [[0, 0], [0, 0], priced]  # b has none, x unknown
    assert cache.gather(["a", "b"]).price_rows[0].tolist() == priced  # all cached: from slots
    cache.put(["c"], np.array([[3, 3]], np.float32), [1.0])  # reuses a's slot, the oldest
    assert got.vectors[2].tolist() == [1, 1]  # what was gathered stays valid
    assert cache.rows(["a", "b", "c"]).tolist()[0] == MISS
    assert cache.gather(["c", "b"]).prior_rows.tolist() == [3, 2]  # all cached: from slots
    assert cache.gather(["a", "c"]).prior_rows.tolist() == [1, 3]  # a looked up again
    cache.put(["b"], np.array([[4, 4]], np.float32), [2.0])  # refresh in place
    assert cache.gather(["b"]).vectors.tolist() == [[4, 4]]
    assert cache.gather(["b"]).price_rows.tolist() == price_features(np.array([2.0])).tolist()
    clock.now = 11
    assert cache.rows(["b", "c"]).tolist() == [MISS, MISS]


def test_ad_cache_of_capacity_zero_keeps_nothing_and_gathers_zeros() -> None:
    cache = AdCache(capacity=0, d=3, ttl_s=10, prior_rows=prior_rows)
    cache.put(["a"], np.ones((1, 3), np.float32), [1.0])
    got = cache.gather(["a", "b"])
    assert got.have.tolist() == [False, False]
    assert got.vectors.shape == (2, 3) and not got.vectors.any()
    assert got.prior_rows.tolist() == [1, 2]
