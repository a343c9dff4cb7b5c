"""Micro-batching under concurrent load: requests share ranker calls, and each gets exactly
the scores it gets when scored alone."""

import asyncio
import re

import httpx
import numpy as np

from tests.e2e.conftest import uid
from tests.support.processes import ServiceProcess

TOPICS = ["running", "coffee", "travel", "history", "music", "gardening", "cycling", "baking"]


def setup_catalog_and_users(client: httpx.Client, n_ads: int, n_users: int) -> tuple[list, list]:
    ads = [{"ad_id": uid("ad"), "title": f"{TOPICS[i % 8]} offer {i}", "category": TOPICS[i % 8]}
           for i in range(n_ads)]  # fmt: skip
    assert client.put("/ads", json={"ads": ads}).status_code == 200
    users = [uid("u") for _ in range(n_users)]
    events = [{"user_id": u, "item_id": f"i{j}", "text": f"{TOPICS[(k + j) % 8]} news {j}",
               "ts": 1_700_000_000 + j} for k, u in enumerate(users) for j in range(5)]  # fmt: skip
    assert client.post("/events", json={"events": events}).status_code == 200
    return [a["ad_id"] for a in ads], users


def scores(body: dict) -> dict[str, float]:
    return {r["ad_id"]: r["p_ctr"] for r in body["ranked"]}


def ranker_batches(metrics_text: str) -> tuple[float, float]:
    """(batches, batches holding one request) of the ranker so far."""
    count = re.search(r'adrank_batch_size_requests_count\{graph="ranker"\} (\S+)', metrics_text)
    ones = re.search(r'adrank_batch_size_requests_bucket\{graph="ranker",le="1.0"\} (\S+)',
                     metrics_text)  # fmt: skip
    assert count and ones
    return float(count.group(1)), float(ones.group(1))


async def test_concurrent_requests_share_batches_and_score_as_alone(
    client: httpx.Client, service: ServiceProcess
) -> None:
    ad_ids, users = setup_catalog_and_users(client, n_ads=100, n_users=16)
    # mixed sizes: a call holds whole requests up to call_max_pairs (400) pairs
    bodies = [{"user_id": u, "candidates": [{"ad_id": a} for a in ad_ids[: 100 if k % 2 else 10]],
               "context": {"hour": 9, "weekday": 1}, "timeout_ms": 10_000}
              for k, u in enumerate(users)]  # fmt: skip
    alone = [scores(client.post("/rank", json=b).json()) for b in bodies]
    before = ranker_batches(client.get("/metrics").text)

    async with httpx.AsyncClient(base_url=service.url, timeout=30) as ac:
        replies = await asyncio.gather(*(ac.post("/rank", json=b) for b in bodies * 4))
    after = ranker_batches(client.get("/metrics").text)

    failed = [r.text for r in replies if r.status_code != 200 or r.json()["degraded"]]
    assert not failed, failed[:2]
    sizes = [r.json()["metrics"]["batch_size"] for r in replies]
    assert max(sizes) > 1, sizes
    batches, single = after[0] - before[0], after[1] - before[1]
    assert batches < len(replies) and single < batches  # the histogram shows shared batches
    for i, reply in enumerate(replies):
        got, want = scores(reply.json()), alone[i % len(users)]
        assert got.keys() == want.keys()
        np.testing.assert_allclose([got[a] for a in want], [want[a] for a in want],
                                   rtol=0, atol=1e-6)  # fmt: skip
