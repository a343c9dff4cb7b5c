"""Online equals offline: the pCTR and pCVR the running service returns for a user history,
candidates (with their prices) and context equal the PyTorch model's on the same inputs
(within 1e-5)."""

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from service.features.text import ad_text
from tests.e2e.conftest import uid
from tests.support.tiny_bundle import Candidate, reference_scores

HISTORY = [  # oldest first, as sent
    "How to start trail running",
    "Espresso vs filter coffee: a guide",
    "Ten weekend trips from Lisbon",
    "Waterproof jackets tested in the rain",
]
NEW_ADS = [
    ("Sport", "Trail running shoes", "Light, waterproof, made for mud", 89.9),
    ("Kitchen", "Espresso machine", "Fifteen bar pump, milk frother", None),
    ("Travel", "Weekend in Porto", "", 900.0),
]


def warm_ad_ids(bundle: Path, n: int) -> list[str]:
    with np.load(bundle / "ad_priors.npz", allow_pickle=False) as data:
        return [str(a) for a in data["ad_id"][:n]]


def vocab_value(bundle: Path, field: str) -> str:
    manifest = json.loads((bundle / "manifest.json").read_text())
    return manifest["context_vocab"][field][0]


def test_service_scores_match_pytorch(client: httpx.Client, tiny_bundle: Path) -> None:
    user = uid("parity-user")
    ts0 = 1_700_000_000
    events = [{"user_id": user, "item_id": f"h{i}", "text": t, "ts": ts0 + i}
              for i, t in enumerate(HISTORY)]  # fmt: skip
    assert client.post("/events", json={"events": events}).status_code == 200

    warm = warm_ad_ids(tiny_bundle, 2)
    ads = [(a, "Sport", f"Warm ad {a}", "seen in training", 12.5) for a in warm]
    ads += [(uid("new"), c, t, d, p) for c, t, d, p in NEW_ADS]
    body = {"ads": [{"ad_id": a, "title": t, "description": d, "category": c, "price": p}
                    for a, c, t, d, p in ads]}  # fmt: skip
    assert client.put("/ads", json=body).status_code == 200
    # the same shoes at another price, new to the service: brought by /rank with their text
    shoes = ads[2]
    dear = (uid("dear"), *shoes[1:4], 450.0)
    inline = {"ad_id": dear[0], "title": dear[2], "description": dear[3], "category": dear[1],
              "price": dear[4]}  # fmt: skip

    context = {"hour": 20, "weekday": 4, "device": vocab_value(tiny_bundle, "device")}
    body = {"user_id": user, "context": context, "timeout_ms": 5000,
            "candidates": [{"ad_id": a[0]} for a in ads] + [inline]}  # fmt: skip
    r = client.post("/rank", json=body)
    assert r.status_code == 200, r.text
    assert not r.json()["degraded"]
    online = {row["ad_id"]: row for row in r.json()["ranked"]}

    candidates = [Candidate(a, ad_text(t, d, c), p) for a, c, t, d, p in [*ads, dear]]
    p_ctr, p_cvr = reference_scores(tiny_bundle, list(reversed(HISTORY)), candidates, context,
                                    ts=ts0)  # fmt: skip
    assert p_cvr is not None
    for name, offline in (("p_ctr", p_ctr), ("p_cvr", p_cvr)):
        got = np.array([online[c.ad_id][name] for c in candidates])
        np.testing.assert_allclose(got, offline, atol=1e-5, rtol=0)
    # the price moves the conversion, not the click
    assert online[dear[0]]["p_ctr"] == pytest.approx(online[shoes[0]]["p_ctr"], abs=1e-6)
    assert online[dear[0]]["p_cvr"] != online[shoes[0]]["p_cvr"]
