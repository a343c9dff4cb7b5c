"""Increments of an experiment's count hashes, summed per (key, field) in process and then
written in one pipeline of ``HINCRBY``/``HINCRBYFLOAT`` (atomic per command: two workers or
replicas adding to one field never lose an update)."""

from collections import Counter, defaultdict
from typing import Any

from service.store.keys import KeyLayout


class Tally:
    def __init__(self, keys: KeyLayout, bucket_s: int) -> None:
        self.keys = keys
        self.bucket_s = bucket_s
        self.ints: Counter[tuple[str, str]] = Counter()
        self.floats: defaultdict[tuple[str, str], float] = defaultdict(float)

    def count(
        self, experiment: str, arm: str, user_id: str, metric: str, ts: float, n: float = 1
    ) -> None:
        """``n`` of ``metric`` (q, i, c, v as integers; r as a float) for the user and the
        time bucket of ``ts``."""
        bucket = int(ts // self.bucket_s) * self.bucket_s
        users = (self.keys.exp_users(experiment, arm), f"{metric}:{user_id}")
        series = (self.keys.exp_series(experiment, arm), f"{bucket}:{metric}")
        if metric == "r":
            self.floats[users] += n
            self.floats[series] += n
        else:
            self.ints[users] += int(n)
            self.ints[series] += int(n)

    def __bool__(self) -> bool:
        return bool(self.ints or self.floats)

    def queue(self, pipe: Any) -> None:
        for (key, field), n in self.ints.items():
            pipe.hincrby(key, field, n)
        for (key, field), x in self.floats.items():
            pipe.hincrbyfloat(key, field, x)
