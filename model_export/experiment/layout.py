"""Where an experiment's counts live in Redis and how their fields read (docs/experiments.md,
"Redis layout"). Pure: key names and field parsing; ``counts`` does the reading.

Keys (P the key prefix, E the experiment name; ``{E}`` is a cluster hash tag):

- ``P exp:{E}:meta``: hash of ``arms`` (JSON list of ``{name, weight, versions}``), ``salt``,
  ``control``, ``bucket_s``, ``started``;
- ``P exp:{E}:arm:<arm>:users``: hash, field ``<m>:<user_id>`` → count;
- ``P exp:{E}:arm:<arm>:series``: hash, field ``<bucket_start>:<m>`` → count;

with ``m`` one of ``METRICS``' letters.
"""

import re

# the metric letters of the count fields → the per-user frame's column names
METRICS: dict[str, str] = {
    "q": "requests",
    "i": "impressions",
    "c": "clicks",
    "v": "conversions",
    "r": "revenue",
}
COLUMNS: tuple[str, ...] = tuple(METRICS.values())
INTEGER_COLUMNS: tuple[str, ...] = ("requests", "impressions", "clicks", "conversions")
USERS_SUFFIX = ":users"
SERIES_SUFFIX = ":series"
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def experiment_base(prefix: str, name: str) -> str:
    """``P exp:{E}``: what every key of the experiment starts with."""
    return f"{prefix}exp:{{{name}}}"


def meta_key(prefix: str, name: str) -> str:
    return f"{experiment_base(prefix, name)}:meta"


def arm_base(prefix: str, name: str) -> str:
    """``P exp:{E}:arm:``: the arm's name follows."""
    return f"{experiment_base(prefix, name)}:arm:"


def users_key(prefix: str, name: str, arm: str) -> str:
    return f"{arm_base(prefix, name)}{arm}{USERS_SUFFIX}"


def series_key(prefix: str, name: str, arm: str) -> str:
    return f"{arm_base(prefix, name)}{arm}{SERIES_SUFFIX}"


def users_pattern(prefix: str, name: str) -> str:
    """The SCAN ``MATCH`` pattern of every arm's users hash (glob characters of the prefix and
    the name escaped)."""
    escaped = _GLOB_SPECIAL.sub(r"\\\1", arm_base(prefix, name))
    return f"{escaped}*{USERS_SUFFIX}"


def arm_of_users_key(key: str, prefix: str, name: str) -> str | None:
    """The arm named by a users hash key, or None when the key is not one of this
    experiment's."""
    base = arm_base(prefix, name)
    if not (key.startswith(base) and key.endswith(USERS_SUFFIX)):
        return None
    arm = key[len(base) : -len(USERS_SUFFIX)]
    return arm or None


def user_field(field: str) -> tuple[str, str] | None:
    """``<m>:<user_id>`` → (column, user_id), split on the first ':' (user ids may hold ':');
    None for a field of an unknown metric."""
    letter, sep, user_id = field.partition(":")
    column = METRICS.get(letter)
    return (column, user_id) if sep and column else None


def series_field(field: str) -> tuple[int, str] | None:
    """``<bucket_start>:<m>`` → (bucket_start, column); None for a malformed field."""
    bucket, sep, letter = field.partition(":")
    column = METRICS.get(letter)
    if not sep or column is None:
        return None
    try:
        return int(float(bucket)), column
    except ValueError:
        return None
