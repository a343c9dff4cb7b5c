"""/rank, /ads and /events end to end: order and eCPM, top_k, explain, fresh behaviour,
catalog upserts, ads encoded on the fly, prior-only ads, cold-start users."""

import json

import httpx
import pytest

from tests.e2e.conftest import uid
from tests.support.processes import ServiceProcess

ADS = [
    ("Sport", "Trail running shoes", "Light, waterproof, made for mud"),
    ("Kitchen", "Espresso machine", "Fifteen bar pump, milk frother"),
    ("Books", "A history of the Roman empire", "From Augustus to the fall of Rome"),
    ("Travel", "Weekend in Lisbon", "Flights and a boutique hotel"),
]


def put_ads(client: httpx.Client) -> list[str]:
    ids = [uid("ad") for _ in ADS]
    ads = [{"ad_id": i, "title": t, "description": d, "category": c}
           for i, (c, t, d) in zip(ids, ADS, strict=True)]  # fmt: skip
    r = client.put("/ads", json={"ads": ads})
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == len(ads)
    return ids


def post_events(
    client: httpx.Client, user: str, texts: list[str], ts0: int = 1_700_000_000
) -> None:
    events = [{"user_id": user, "item_id": f"item-{i}", "text": t, "type": "click", "ts": ts0 + i}
              for i, t in enumerate(texts)]  # fmt: skip
    r = client.post("/events", json={"events": events})
    assert r.status_code == 200, r.text


def rank(client: httpx.Client, **body: object) -> dict:
    r = client.post("/rank", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_ranks_by_ecpm_when_bids_are_given(client: httpx.Client) -> None:
    ids = put_ads(client)
    bids = [0.5, 3.0, 1.0, 2.0]
    out = rank(client, user_id=uid("u"), candidates=[
        {"ad_id": a, "bid": b} for a, b in zip(ids, bids, strict=True)])  # fmt: skip
    ranked = out["ranked"]
    assert sorted(r["ad_id"] for r in ranked) == sorted(ids)
    bid_of = dict(zip(ids, bids, strict=True))
    for row in ranked:
        assert row["ecpm"] == pytest.approx(bid_of[row["ad_id"]] * row["p_ctr"] * 1000)
        assert 0 < row["p_ctr"] < 1 and row["source"] == "model"
    assert [r["ecpm"] for r in ranked] == sorted((r["ecpm"] for r in ranked), reverse=True)
    assert [r["rank"] for r in ranked] == [1, 2, 3, 4]
    assert out["degraded"] is False and out["metrics"]["ad_cache_misses"] == 0


def test_ranks_by_pctr_without_bids_and_cuts_to_top_k(client: httpx.Client) -> None:
    ids = put_ads(client)
    full = rank(client, user_id=uid("u"), candidates=[{"ad_id": a} for a in ids])["ranked"]
    assert [r["p_ctr"] for r in full] == sorted((r["p_ctr"] for r in full), reverse=True)
    assert all("ecpm" not in r for r in full)
    top = rank(client, user_id=uid("u"), candidates=[{"ad_id": a} for a in ids], top_k=2)
    assert [r["ad_id"] for r in top["ranked"]] == [r["ad_id"] for r in full[:2]]


def test_events_change_the_next_ranking_and_explain_names_them(client: httpx.Client) -> None:
    ids = put_ads(client)
    user = uid("u")
    cands = [{"ad_id": a} for a in ids]
    cold = rank(client, user_id=user, candidates=cands, explain=True)
    assert cold["metrics"]["user_found"] is False
    assert all(r["explanation"] == [] for r in cold["ranked"])
    post_events(client, user, ["marathon training plan", "best trail shoes", "running socks"])
    warm = rank(client, user_id=user, candidates=cands, explain=True)
    assert warm["metrics"]["user_found"] is True
    before = {r["ad_id"]: r["p_ctr"] for r in cold["ranked"]}
    assert any(abs(r["p_ctr"] - before[r["ad_id"]]) > 1e-6 for r in warm["ranked"])
    for row in warm["ranked"]:
        names = [e["item_id"] for e in row["explanation"]]
        assert names and set(names) <= {"item-0", "item-1", "item-2"}


def test_new_ads_with_text_are_encoded_stored_and_then_known(client: httpx.Client) -> None:
    new = uid("ad-new")
    first = rank(client, user_id=uid("u"), candidates=[
        {"ad_id": new, "title": "Noise cancelling headphones", "category": "Audio"}])  # fmt: skip
    assert first["ranked"][0]["source"] == "model" and first["metrics"]["encode_ms"] > 0
    again = rank(client, user_id=uid("u"), candidates=[{"ad_id": new}])
    assert again["ranked"][0]["source"] == "model"
    assert again["ranked"][0]["p_ctr"] == pytest.approx(first["ranked"][0]["p_ctr"], abs=1e-6)


def test_unknown_ads_without_text_are_ranked_by_their_prior(client: httpx.Client) -> None:
    ids = put_ads(client)
    ghost = uid("ad-ghost")
    out = rank(client, user_id=uid("u"), candidates=[{"ad_id": ids[0]}, {"ad_id": ghost}])
    by_id = {r["ad_id"]: r for r in out["ranked"]}
    assert by_id[ghost]["source"] == "prior" and 0 < by_id[ghost]["p_ctr"] < 1
    assert by_id[ids[0]]["source"] == "model"
    assert out["degraded"] is False


def test_metrics_are_reported_per_request(client: httpx.Client) -> None:
    ids = put_ads(client)
    out = rank(client, user_id=uid("u"), request_id="my-req-1",
               candidates=[{"ad_id": a} for a in ids])  # fmt: skip
    m = out["metrics"]
    assert out["request_id"] == "my-req-1" and out["model_version"]
    assert set(m) >= {"total_ms", "redis_ms", "encode_ms", "queue_ms", "score_ms", "batch_size",
                      "ad_cache_hits", "ad_cache_misses", "user_found"}  # fmt: skip
    assert m["total_ms"] >= m["score_ms"] > 0 and m["batch_size"] >= 1


def test_logs_are_json_without_user_ids_or_ad_text(
    client: httpx.Client, service: ServiceProcess
) -> None:
    user = uid("secret-user")
    post_events(client, user, ["a very private reading history"])
    rank(client, user_id=user, candidates=[{"ad_id": uid("ad"), "title": "Private ad title"}])
    client.post("/rank", content=b"{broken")
    logs = service.logs()
    assert user not in logs and "private" not in logs.lower()
    for line in logs.splitlines():
        if line.startswith("{"):
            json.loads(line)
