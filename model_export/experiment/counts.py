"""Read an experiment's counts from Redis (the layout of docs/experiments.md; ``layout``).

``read_counts(url, name, prefix)`` → ``ExperimentCounts``: the meta, the per-user frame and
the per-bucket series frame of every arm. The arms are the meta's ``arms`` and, in case the
meta lacks some (an arm removed by a later ``PUT /admin/arms``, or no meta at all), every
``…:arm:<arm>:users`` hash a SCAN finds. Big hashes are read with HSCAN, never HGETALL.

A plain (non-cluster) client: ``redis.Redis.from_url`` takes ``redis://``, ``rediss://`` and
``unix://`` URLs. Against a Redis Cluster, point the URL at the node holding the experiment's
slot (all its keys share the hash tag ``{E}``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from model_export.experiment.frames import series_frame, users_frame
from model_export.experiment.layout import (
    arm_of_users_key,
    meta_key,
    series_key,
    users_key,
    users_pattern,
)
from model_export.experiment.meta import ExperimentMeta, parse_meta

if TYPE_CHECKING:
    import pandas as pd
    import redis

SCAN_COUNT = 1000  # fields (keys) per HSCAN (SCAN) round trip


class NoSuchExperiment(LookupError):
    """Redis holds neither a meta hash nor any arm's counts of the experiment."""


@dataclass(frozen=True)
class ExperimentCounts:
    """One experiment as counted in Redis.

    ``users``: one row per (arm, user_id): ``arm``, ``user_id``, ``requests``,
    ``impressions``, ``clicks``, ``conversions`` (int) and ``revenue`` (float), 0 where a
    user has no field. ``series``: one row per (arm, bucket_start) with the same metrics.
    ``arms``: the meta's arms in their configured order, then the ones only SCAN found
    (sorted); ``unlisted``: those SCAN-only arms.
    """

    name: str
    meta: ExperimentMeta
    users: pd.DataFrame
    series: pd.DataFrame
    arms: tuple[str, ...]
    unlisted: tuple[str, ...] = field(default=())


def connect(url: str) -> redis.Redis:
    import redis

    return redis.Redis.from_url(url)


def discover_arms(client: redis.Redis, prefix: str, name: str) -> list[str]:
    """The arms that have a users hash, by SCAN (sorted)."""
    found = set()
    for key in client.scan_iter(match=users_pattern(prefix, name), count=SCAN_COUNT):
        text = key.decode() if isinstance(key, bytes) else key
        arm = arm_of_users_key(text, prefix, name)
        if arm is not None:
            found.add(arm)
    return sorted(found)


def _ordered_arms(
    meta: ExperimentMeta, found: list[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(every arm: the meta's in order, then SCAN's others; those others)."""
    listed = tuple(arm.name for arm in meta.arms)
    unlisted = tuple(arm for arm in found if arm not in listed)
    return listed + unlisted, unlisted


def read_counts(url: str, name: str, prefix: str = "adrank:") -> ExperimentCounts:
    """The experiment ``name``'s meta and counts; ``NoSuchExperiment`` when Redis has none."""
    client = connect(url)
    try:
        return _read(client, name, prefix)
    finally:
        client.close()


def _read(client: redis.Redis, name: str, prefix: str) -> ExperimentCounts:
    raw_meta = client.hgetall(meta_key(prefix, name))
    meta = parse_meta(raw_meta)
    arms, unlisted = _ordered_arms(meta, discover_arms(client, prefix, name))
    if not raw_meta and not arms:
        raise NoSuchExperiment(
            f"no experiment {name!r} under prefix {prefix!r}: "
            f"neither {meta_key(prefix, name)} nor any arm's users hash"
        )
    users = users_frame({arm: _hscan(client, users_key(prefix, name, arm)) for arm in arms})
    series = series_frame({arm: _hscan(client, series_key(prefix, name, arm)) for arm in arms})
    return ExperimentCounts(name, meta, users, series, arms, unlisted)


def _hscan(client: redis.Redis, key: str) -> list[tuple[bytes, bytes]]:
    return list(client.hscan_iter(key, count=SCAN_COUNT))
