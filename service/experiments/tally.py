"""Increments of an experiment's count hashes, summed per (key, field) in process and then
written with one script call per hash (``HINCRBY``/``HINCRBYFLOAT`` per field inside it:
atomic per field, so two workers or replicas adding to one field never lose an update). A
script call per hash, not a command per field, keeps the client's work per flush small."""

from collections import defaultdict
from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any

from service.store.keys import KeyLayout

CHUNK = 1000  # fields (or keys) per script call: a call blocks Redis while it runs

INCREMENT_MANY = """
for i = 2, #ARGV, 2 do redis.call(ARGV[1], KEYS[1], ARGV[i], ARGV[i + 1]) end
return #ARGV
"""
"""KEYS: one hash. ARGV: HINCRBY or HINCRBYFLOAT, then field, increment pairs."""

SET_MANY = """
for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[1]) end
return #KEYS
"""
"""KEYS: strings (one slot: an experiment's hash tag). ARGV: the TTL, then their values."""


class Tally:
    def __init__(self, keys: KeyLayout, bucket_s: int) -> None:
        self.keys = keys
        self.bucket_s = bucket_s
        self.ints: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.floats: defaultdict[str, defaultdict[str, float]] = defaultdict(
            lambda: defaultdict(float)
        )

    def count(
        self, experiment: str, arm: str, user_id: str, metric: str, ts: float, n: float = 1
    ) -> None:
        """``n`` of ``metric`` (q, i, c, v as integers; r as a float) for the user and the
        time bucket of ``ts``."""
        bucket = int(ts // self.bucket_s) * self.bucket_s
        users, series = self.keys.exp_users(experiment, arm), self.keys.exp_series(experiment, arm)
        if metric == "r":
            self.floats[users][f"r:{user_id}"] += n
            self.floats[series][f"{bucket}:r"] += n
        else:
            self.ints[users][f"{metric}:{user_id}"] += int(n)
            self.ints[series][f"{bucket}:{metric}"] += int(n)

    def __bool__(self) -> bool:
        return bool(self.ints or self.floats)

    def queue(self, pipe: Any) -> None:
        for command, hashes in (("HINCRBY", self.ints), ("HINCRBYFLOAT", self.floats)):
            for key, fields in hashes.items():
                for part in chunks(list(fields.items())):
                    pipe.eval(INCREMENT_MANY, 1, key, command, *_flat(part))


def queue_set_many(pipe: Any, items: Sequence[tuple[str, str]], ttl_s: int) -> None:
    """SET each (key, value) with a TTL, a script call per CHUNK keys of one slot."""
    for part in chunks(items):
        pipe.eval(SET_MANY, len(part), *(k for k, _ in part), ttl_s, *(v for _, v in part))


def chunks(items: Sequence[Any]) -> Iterator[list[Any]]:
    it = iter(items)
    while part := list(islice(it, CHUNK)):
        yield part


def _flat(pairs: list[tuple[str, float]]) -> Iterator[Any]:
    for field, n in pairs:
        yield field
        yield n
