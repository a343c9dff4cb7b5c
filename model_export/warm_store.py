"""`adrank load`: precompute ad vectors and user behaviour matrices and write them to Redis.

So a service starts warm: every catalog ad and every user with behaviour is one GET away.
Writes the layout of service/store (keys.py, codec.py) in pipelined chunks, to one Redis or
to a Redis Cluster (a cluster pipeline is not a transaction: it groups the SETs by node).
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import redis
from tqdm import tqdm

from service.bundle.loader import Bundle
from service.features.text import AdText, ad_text, item_text
from service.runtime.encoder import TextEncoder
from service.store.codec import (
    BehaviourItem,
    UserMatrix,
    encode_ad,
    encode_ad_raw,
    encode_history,
    encode_user,
)
from service.store.keys import KeyLayout

CHUNK = 512
Client = redis.Redis | redis.RedisCluster


@dataclass(frozen=True)
class LoadOptions:
    layout: KeyLayout = field(default_factory=KeyLayout)
    user_ttl_s: int | None = 30 * 86400
    ad_ttl_s: int | None = None
    raw_history_len: int = 64


def _chunks(n: int, size: int = CHUNK) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def load_ads(
    client: Client,
    encoder: TextEncoder,
    bundle: Bundle,
    ads: pd.DataFrame,
    options: LoadOptions,
) -> int:
    """Vectors of every ad under ``ad:{version}:{id}``, raw fields under ``adraw:{id}``."""
    texts = [
        ad_text(t, d or "", c or "")
        for t, d, c in zip(ads["title"], ads["description"], ads["category"], strict=True)
    ]
    ids = ads["ad_id"].astype(str).tolist()
    prices = ads["price"] if "price" in ads else pd.Series(np.nan, index=ads.index)
    for s in tqdm(list(_chunks(len(ids))), desc="ads → redis", unit="chunk"):
        vectors = encoder.encode(texts[s])
        pipe = client.pipeline(transaction=False)
        for ad_id, row, price, vec in zip(
            ids[s], ads.iloc[s].itertuples(index=False), prices.iloc[s], vectors, strict=True
        ):
            text = AdText(row.title, row.description or "", row.category or "",
                          None if pd.isna(price) else float(price))  # fmt: skip
            pipe.set(
                options.layout.ad(bundle.version, ad_id),
                encode_ad(vec, bundle.version, text.price),
                ex=options.ad_ttl_s,
            )
            pipe.set(options.layout.ad_raw(ad_id), encode_ad_raw(text), ex=options.ad_ttl_s)
        pipe.execute()
    return len(ids)


def recent_behaviour(events: pd.DataFrame, keep: int) -> dict[str, list[BehaviourItem]]:
    """Each user's ``keep`` most recent events, newest first."""
    recent = events.sort_values(["user_id", "ts"], ascending=[True, False], kind="stable")
    recent = recent.groupby("user_id", sort=False).head(keep)
    out: dict[str, list[BehaviourItem]] = {}
    for row in recent.itertuples(index=False):
        out.setdefault(str(row.user_id), []).append(
            BehaviourItem(str(row.item_id), item_text(row.text), str(row.type), float(row.ts))
        )
    return out


def user_matrices(
    encoder: TextEncoder, history: dict[str, list[BehaviourItem]], history_len: int
) -> dict[str, UserMatrix]:
    """Each user's matrix of their ``history_len`` newest items (``recent_behaviour``), every
    distinct text encoded once, stored as fp16."""
    texts = sorted({i.text for items in history.values() for i in items[:history_len]})
    vectors = dict(zip(texts, encoder.encode(texts), strict=True)) if texts else {}
    return {
        user_id: UserMatrix(
            np.stack([vectors[i.text] for i in items[:history_len]]).astype(np.float16),
            tuple(i.item_id for i in items[:history_len]),
        )
        for user_id, items in history.items()
    }


def load_users(
    client: Client,
    encoder: TextEncoder,
    bundle: Bundle,
    events: pd.DataFrame,
    options: LoadOptions,
) -> int:
    """Matrices of the H newest items under ``user:{version}:{id}``; raw under ``hist:{id}``."""
    history = recent_behaviour(
        events, max(options.raw_history_len, bundle.manifest.dims.history_len)
    )
    matrices = user_matrices(encoder, history, bundle.manifest.dims.history_len)
    users = list(history)
    for s in tqdm(list(_chunks(len(users))), desc="users → redis", unit="chunk"):
        pipe = client.pipeline(transaction=False)
        for user_id in users[s]:
            items = history[user_id]
            pipe.set(
                options.layout.user(bundle.version, user_id),
                encode_user(matrices[user_id], bundle.version),
                ex=options.user_ttl_s,
            )
            pipe.set(
                options.layout.history(user_id),
                encode_history(items[: options.raw_history_len]),
                ex=options.user_ttl_s,
            )
        pipe.execute()
    return len(users)
