"""`adrank load` into a real Redis server: ad vectors, behaviour matrices and raw history
in the service's layout, readable by the service's codec."""

from pathlib import Path

import numpy as np
import pandas as pd
import redis

from adrank.cli import main
from model_export.data.clicklog import ClickLog
from model_export.data.io import write_clicklog
from service.bundle.loader import load_bundle
from service.features.text import ad_text, item_text
from service.runtime.encoder import TextEncoder
from service.store.codec import decode_ad, decode_history, decode_user
from service.store.keys import KeyLayout

ADS = pd.DataFrame(
    {
        "ad_id": ["a1", "a2"],
        "title": ["Trail shoes", "Yoga mat"],
        "description": ["20% off", ""],
        "category": ["sports", "sports"],
    }
)
EVENTS = pd.DataFrame(
    {
        "user_id": ["u1"] * 40 + ["u2"],
        "item_id": [f"i{k}" for k in range(40)] + ["i0"],
        "text": [f"Article number {k} about running" for k in range(40)] + ["Yoga basics"],
        "type": "view",
        "ts": [*range(1000, 1040), 5],
    }
)


def test_load_writes_the_service_layout(tiny_bundle: Path, redis_server, tmp_path: Path) -> None:
    data = tmp_path / "data"
    imps = pd.DataFrame(
        {"user_id": ["u1"], "ad_id": ["a1"], "ts": [2000], "label": [0], "p_true": [np.nan]}
    )
    write_clicklog(ClickLog("t", ADS, EVENTS, imps), data)
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    main(
        [
            "load",
            "--bundle",
            str(tiny_bundle),
            "--data",
            str(data),
            "--redis-url",
            redis_server.url,
            "--key-prefix",
            "t:",
        ]
    )

    bundle = load_bundle(tiny_bundle)
    version, d, h = bundle.version, bundle.manifest.dims.d, bundle.manifest.dims.history_len
    keys = KeyLayout("t:")
    encoder = TextEncoder.from_bundle(bundle)
    expected = encoder.encode([ad_text("Trail shoes", "20% off", "sports")])[0]
    stored = decode_ad(client.get(keys.ad(version, "a1")), version, d)
    assert np.allclose(stored.vector, expected.astype(np.float16), atol=1e-3)

    matrix = decode_user(client.get(keys.user(version, "u1")), version, d)
    assert matrix.item_ids == tuple(f"i{k}" for k in range(39, 39 - h, -1))  # newest first
    newest = encoder.encode([item_text("Article number 39 about running")])[0]
    assert np.allclose(matrix.vectors[0], newest.astype(np.float16), atol=1e-3)
    raw = decode_history(client.get(keys.history("u1")))
    assert [i.item_id for i in raw[:2]] == ["i39", "i38"] and len(raw) == 40
    assert decode_user(client.get(keys.user(version, "u2")), version, d).item_ids == ("i0",)
    assert client.ttl(keys.user(version, "u1")) > 0
    assert client.ttl(keys.ad(version, "a1")) == -1  # ads keep no TTL by default
