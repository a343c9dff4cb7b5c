"""The in-process cache of ad vectors (per model), laid out for gathering.

Vectors live in one preallocated (capacity, d) float32 array, so a request's known ads become
its candidate rows with one dict lookup per ad and one fancy-index — no per-ad Python objects
or ``vstack`` on the hot path.
Slots are reused in insertion order (FIFO); entries expire after ``ttl_s`` so an ad updated
through another worker is re-read from Redis.
"""

import time
from collections.abc import Callable, Sequence
from itertools import repeat

import numpy as np

MISS = -1


class AdCache:
    def __init__(
        self, capacity: int, d: int, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = max(capacity, 0)
        self.ttl_s = ttl_s
        self._clock = clock
        self.vectors = np.zeros((self.capacity, d), dtype=np.float32)
        self._expires = np.zeros(self.capacity, dtype=np.float64)
        self._slot: dict[str, int] = {}
        self._owner: list[str | None] = [None] * self.capacity
        self._next = 0

    def __len__(self) -> int:
        return len(self._slot)

    def gather(self, ad_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(vectors (n, d) float32, have (n,) bool)``: a copy of the cached vectors (zeros
        where missing), safe to keep while later puts reuse slots."""
        rows = self.rows(ad_ids)
        have = rows >= 0
        if have.all():  # the usual case under load: one fancy-index, nothing to zero
            return self.vectors[rows], have
        if not have.any():  # also the cache of capacity 0, which has no row to index
            return np.zeros((len(ad_ids), self.vectors.shape[1]), np.float32), have
        vectors = self.vectors[np.where(have, rows, 0)]
        vectors[~have] = 0.0
        return vectors, have

    def rows(self, ad_ids: Sequence[str]) -> np.ndarray:
        """Slot of each ad, ``MISS`` (-1) where absent or expired."""
        n = len(ad_ids)
        rows = np.fromiter(map(self._slot.get, ad_ids, repeat(MISS, n)), dtype=np.int64, count=n)
        hit = rows >= 0
        if hit.any():
            stale = hit & (self._expires[np.where(hit, rows, 0)] < self._clock())
            rows[stale] = MISS
        return rows

    def put(self, ad_ids: Sequence[str], vectors: np.ndarray) -> None:
        """Store (or refresh) ads. Callers copy what they gathered before putting: a put may
        reuse the slots of the oldest entries."""
        if self.capacity == 0:
            return
        expires = self._clock() + self.ttl_s
        for i, ad_id in enumerate(ad_ids):
            slot = self._slot.get(ad_id)
            if slot is None:
                slot = self._take_slot(ad_id)
            self.vectors[slot] = vectors[i]
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
