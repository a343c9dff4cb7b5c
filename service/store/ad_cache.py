"""The in-process cache of ad vectors (per model), laid out for gathering.

Vectors live in one preallocated (capacity, d) float32 array (beside them, the price as the
ranker reads it, ``service.features.price``, computed once when the ad is put), so a
request's known ads become its candidate rows with one dict lookup per ad and one fancy-index —
no per-ad Python objects or ``vstack`` on the hot path. Each slot also keeps the ad's row in
the model's prior table (``prior_rows``, looked up when the ad is put), so a cached ad costs
one dict lookup, not two.
Slots are reused in insertion order (FIFO); entries expire after ``ttl_s`` so an ad updated
through another worker is re-read from Redis.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np

from service.features.price import N_PRICE_FEATURES, price_features

MISS = -1
PriorRows = Callable[[Sequence[str]], np.ndarray]  # ad ids → their rows in a prior table


@dataclass(frozen=True)
class Gathered:
    vectors: np.ndarray  # (n, d) float32, a copy; zero rows where ``have`` is False
    have: np.ndarray  # (n,) bool
    prior_rows: np.ndarray  # (n,) int64, every ad's row in the prior table
    price_rows: np.ndarray  # (n, 2) float32 price features; zeros (no price) where not ``have``


class AdCache:
    def __init__(
        self, capacity: int, d: int, ttl_s: float, prior_rows: PriorRows,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.capacity = max(capacity, 0)
        self.ttl_s = ttl_s
        self._look_up_prior_rows = prior_rows
        self._clock = clock
        self.vectors = np.zeros((self.capacity, d), dtype=np.float32)
        self.price_rows = np.zeros((self.capacity, N_PRICE_FEATURES), dtype=np.float32)
        self._slot_prior_row = np.zeros(self.capacity, dtype=np.int64)
        self._expires = np.zeros(self.capacity, dtype=np.float64)
        self._slot: dict[str, int] = {}
        self._owner: list[str | None] = [None] * self.capacity
        self._next = 0

    def __len__(self) -> int:
        return len(self._slot)

    def gather(self, ad_ids: Sequence[str]) -> Gathered:
        """The cached vectors (safe to keep while later puts reuse slots) and prior rows."""
        rows = self.rows(ad_ids)
        have = rows >= 0
        if have.all():  # the usual case under load: fancy-indexes, nothing to fill in
            return Gathered(self.vectors[rows], have, self._slot_prior_row[rows],
                            self.price_rows[rows])  # fmt: skip
        vectors = np.zeros((len(ad_ids), self.vectors.shape[1]), np.float32)
        prior_rows = np.zeros(len(ad_ids), np.int64)
        price_rows = np.zeros((len(ad_ids), N_PRICE_FEATURES), np.float32)
        if have.any():
            slots = rows[have]
            vectors[have] = self.vectors[slots]
            prior_rows[have] = self._slot_prior_row[slots]
            price_rows[have] = self.price_rows[slots]
        missing = np.flatnonzero(~have)
        prior_rows[missing] = self._look_up_prior_rows([ad_ids[i] for i in missing.tolist()])
        return Gathered(vectors, have, prior_rows, price_rows)

    def rows(self, ad_ids: Sequence[str]) -> np.ndarray:
        """Slot of each ad, ``MISS`` (-1) where absent or expired."""
        n = len(ad_ids)
        if self.capacity == 0:
            return np.full(n, MISS, dtype=np.int64)
        rows = np.fromiter(map(self._slot.get, ad_ids, repeat(MISS, n)), dtype=np.int64, count=n)
        rows[self._expires[rows] < self._clock()] = MISS  # a miss (-1) reads the last slot
        return rows

    def put(self, ad_ids: Sequence[str], vectors: np.ndarray, prices: Sequence[float]) -> None:
        """Store (or refresh) ads with their prices (NaN: none). Callers copy what they
        gathered before putting: a put may reuse the slots of the oldest entries."""
        if self.capacity == 0:
            return
        expires = self._clock() + self.ttl_s
        prior_rows = self._look_up_prior_rows(ad_ids)
        price_rows = price_features(np.asarray(prices, dtype=np.float64))
        for i, ad_id in enumerate(ad_ids):
            slot = self._slot.get(ad_id)
            if slot is None:
                slot = self._take_slot(ad_id)
            self.vectors[slot] = vectors[i]
            self.price_rows[slot] = price_rows[i]
            self._slot_prior_row[slot] = prior_rows[i]
            self._expires[slot] = expires

    def _take_slot(self, ad_id: str) -> int:
        slot = self._next
        self._next = (self._next + 1) % self.capacity
        old = self._owner[slot]
        if old is not None:
            del self._slot[old]
        self._owner[slot] = ad_id
        self._slot[ad_id] = slot
        return slot
