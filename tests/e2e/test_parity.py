"""Online equals offline: the pCTR the running service returns for a user history, candidates
and context equals the PyTorch model's on the same inputs (within 1e-5)."""

import json
from pathlib import Path

import httpx
import numpy as np

from service.features.text import ad_text
from tests.e2e.conftest import uid
from tests.support.tiny_bundle import Candidate, reference_pctr

HISTORY = [  # oldest first, as sent
    "How to start trail running",
    "Espresso vs filter coffee: a guide",
    "Ten weekend trips from Lisbon",
    "Waterproof jackets tested in the rain",
]
NEW_ADS = [
    ("Sport", "Trail running shoes", "Light, waterproof, made for mud"),
    ("Kitchen", "Espresso machine", "Fifteen bar pump, milk frother"),
    ("Travel", "Weekend in Porto", ""),
]


def warm_ad_ids(bundle: Path, n: int) -> list[str]:
    with np.load(bundle / "ad_priors.npz", allow_pickle=False) as data:
        return [str(a) for a in data["ad_id"][:n]]


def vocab_value(bundle: Path, field: str) -> str:
    manifest = json.loads((bundle / "manifest.json").read_text())
    return manifest["context_vocab"][field][0]


def test_service_pctr_matches_pytorch(client: httpx.Client, tiny_bundle: Path) -> None:
    user = uid("parity-user")
    ts0 = 1_700_000_000
    events = [{"user_id": user, "item_id": f"h{i}", "text": t, "ts": ts0 + i}
              for i, t in enumerate(HISTORY)]  # fmt: skip
    assert client.post("/events", json={"events": events}).status_code == 200

    warm = warm_ad_ids(tiny_bundle, 2)
    ads = [(a, "Sport", f"Warm ad {a}", "seen in training") for a in warm]
    ads += [(uid("new"), c, t, d) for c, t, d in NEW_ADS]
    body = {"ads": [{"ad_id": a, "title": t, "description": d, "category": c}
                    for a, c, t, d in ads]}  # fmt: skip
    assert client.put("/ads", json=body).status_code == 200

    context = {"hour": 20, "weekday": 4, "device": vocab_value(tiny_bundle, "device")}
    r = client.post("/rank", json={"user_id": user, "context": context,
                                   "candidates": [{"ad_id": a[0]} for a in ads]})  # fmt: skip
    assert r.status_code == 200, r.text
    online = {row["ad_id"]: row["p_ctr"] for row in r.json()["ranked"]}

    candidates = [Candidate(a, ad_text(t, d, c)) for a, c, t, d in ads]
    offline = reference_pctr(tiny_bundle, list(reversed(HISTORY)), candidates, context, ts=ts0)
    got = np.array([online[c.ad_id] for c in candidates])
    np.testing.assert_allclose(got, offline, atol=1e-5, rtol=0)
