"""The audiences of ``adrank copy``: who the variants are scored for.

``--audience`` is one of

- ``redis:N`` — a seeded sample of N users that have a matrix of the bundle's version in
  Redis (``service.copy.audience.audience_from_redis``), one context for all;
- ``users:FILE`` — the users named in FILE (one id a line), read from Redis the same way;
- ``data:DIR:N`` — N impressions of the test split (the last 10% by time) of the click log in
  DIR, one per user: each user's history as the model saw it at that impression (their
  behaviour strictly before it, newest first, encoded by the bundle's encoder as ``adrank
  load`` encodes it) and the impression's own context. These rows are also what the synthetic
  truth (``truth.TextTruth``) scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from model_export.data.clicklog import ClickLog
from model_export.data.protocols import standard_split
from model_export.warm_store import recent_behaviour, user_matrices
from service.bundle.loader import Bundle
from service.copy.audience import Audience
from service.features.context import ContextSpec
from service.runtime.encoder import TextEncoder

KINDS = ("redis", "users", "data")


@dataclass(frozen=True)
class AudienceSpec:
    kind: str  # redis, users or data
    size: int | None = None  # redis and data
    path: Path | None = None  # users (a file) and data (a directory)


def parse_audience(text: str) -> AudienceSpec:
    """``redis:N``, ``users:FILE`` or ``data:DIR:N`` (see the module's docstring)."""
    kind, _, rest = text.partition(":")
    if kind == "redis":
        return AudienceSpec("redis", _size(rest, text))
    if kind == "users" and rest:
        return AudienceSpec("users", path=Path(rest))
    if kind == "data" and ":" in rest:
        where, size = rest.rsplit(":", 1)
        return AudienceSpec("data", _size(size, text), Path(where))
    raise ValueError(f"audience {text!r}: expected redis:N, users:FILE or data:DIR:N")


def _size(text: str, spec: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"audience {spec!r}: the size must be a positive integer")
    return int(text)


def read_user_ids(path: Path) -> list[str]:
    """One id a line; blank lines and surrounding spaces ignored."""
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def sample_test_rows(log: ClickLog, n: int, seed: int) -> pd.DataFrame:
    """A seeded sample of ``n`` test impressions, one per user (a user's first in the split),
    without their ad, label or truth: the rows an audience stands for."""
    imps = log.impressions
    test = imps[standard_split(log) == "test"].drop_duplicates("user_id")
    rows = test.sample(min(n, len(test)), random_state=seed).sort_values(["ts", "user_id"])
    drop = [c for c in ("ad_id", "label", "p_true", "p_cvr_true", "converted", "conversion_ts")
            if c in rows.columns]  # fmt: skip
    return rows.drop(columns=drop).reset_index(drop=True)


def events_before(events: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """The events of each row's user strictly before the row's time (rows: one per user)."""
    cut = rows[["user_id", "ts"]].rename(columns={"ts": "cut_ts"})
    joined = events.merge(cut, on="user_id", how="inner")
    return joined[joined["ts"] < joined["cut_ts"]].drop(columns="cut_ts")


def row_contexts(rows: pd.DataFrame, spec: ContextSpec) -> np.ndarray:
    """(rows, C) context ids: each row's ``ctx_*`` values, hour and weekday from its time."""
    columns = [c for c in rows.columns if c.startswith("ctx_")]
    out = np.zeros((len(rows), len(spec.fields)), np.int64)
    for i, row in enumerate(rows[["ts", *columns]].itertuples(index=False)):
        values = dict(zip(columns, row[1:], strict=True))
        context = {c[4:]: v for c, v in values.items() if v is not None and not pd.isna(v)}
        out[i] = spec.encode(context, ts=float(row[0]))
    return out


def data_audience(
    log: ClickLog, bundle: Bundle, encoder: TextEncoder, n: int, seed: int = 0
) -> tuple[Audience, pd.DataFrame]:
    """The audience of ``n`` test rows of ``log`` (``sample_test_rows``) and those rows."""
    rows = sample_test_rows(log, n, seed)
    h = bundle.manifest.dims.history_len
    history = recent_behaviour(events_before(log.events, rows), h)
    matrices = user_matrices(encoder, history, h)
    users = rows["user_id"].astype(str).tolist()
    contexts = row_contexts(rows, bundle.context)
    return Audience.build(users, [matrices.get(u) for u in users], contexts, bundle), rows
