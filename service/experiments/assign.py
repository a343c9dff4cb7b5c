"""Which arm a user is in: a salted murmur3 hash of the user id, cut by the arms' weights.

``mmh3.hash(f"{salt}:{user_id}", signed=False) / 2**32`` is a point in [0, 1); the weights,
normalised and laid end to end in the configured order, cut [0, 1) into intervals, and the
user's arm is the interval holding the point. Nothing else enters it: the same user is in the
same arm on every replica and after every restart, and a new salt reshuffles everyone.
"""

from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

import mmh3

_SPAN = 2.0**32


class ArmTable:
    def __init__(self, weights: Sequence[float], salt: str) -> None:
        if not weights or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"weights must be ≥ 0 with a positive sum: {list(weights)}")
        total = sum(weights)
        # upper ends of the intervals; the last is 1 whatever the rounding
        self._ends = [*list(accumulate(w / total for w in weights))[:-1], 1.0]
        self._salt = salt + ":"

    def point(self, user_id: str) -> float:
        """The user's point in [0, 1)."""
        return mmh3.hash(self._salt + user_id, signed=False) / _SPAN

    def arm_of(self, user_id: str) -> int:
        """Index of the user's arm (an arm of weight 0 gets no one)."""
        return bisect_right(self._ends, self.point(user_id))
