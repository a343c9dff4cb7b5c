"""An in-process LRU of ad vectors with a time to live (ads change rarely; Redis is the truth)."""

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

import numpy as np


class VectorCache:
    def __init__(
        self, max_items: int, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_items = max_items
        self.ttl_s = ttl_s
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, np.ndarray]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> np.ndarray | None:
        entry = self._items.get(key)
        if entry is None:
            return None
        if entry[0] < self._clock():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return entry[1]

    def put_many(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        if self.max_items <= 0:
            return
        expires = self._clock() + self.ttl_s
        for key, vector in items:
            self._items[key] = (expires, vector)
            self._items.move_to_end(key)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()
