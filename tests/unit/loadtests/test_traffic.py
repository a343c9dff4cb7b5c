"""The pure parts of the load tests: Zipf users, Poisson arrivals, request bodies, checks."""

import numpy as np
import pytest

from loadtests.traffic import (
    STAGES,
    TrafficConfig,
    ZipfSampler,
    build_world,
    events_request,
    poisson_offsets,
    rank_problem,
    rank_request,
    seed_batches,
)

SMALL = TrafficConfig(ads=300, users=200, events_per_user=5, unseen_share=0.05)


@pytest.fixture(scope="module")
def world():
    return build_world(SMALL, seed=0)


def test_zipf_shares_follow_the_law() -> None:
    sampler = ZipfSampler(100, 1.1)
    draws = sampler.sample(np.random.default_rng(0), 200_000)
    assert draws.min() >= 0 and draws.max() < 100
    shares = np.bincount(draws, minlength=100) / len(draws)
    expected = np.arange(1, 101) ** -1.1 / (np.arange(1, 101) ** -1.1).sum()
    np.testing.assert_allclose(shares[:5], expected[:5], rtol=0.03)
    assert shares[0] > 2 * shares[1] > 0  # skewed: the top user gets 2^1.1 × the second's


def test_zipf_with_no_skew_is_uniform() -> None:
    draws = ZipfSampler(10, 0.0).sample(np.random.default_rng(1), 50_000)
    assert np.bincount(draws, minlength=10).min() > 4_500


def test_poisson_offsets_count_gaps_and_burstiness() -> None:
    times = poisson_offsets(200.0, 50.0, np.random.default_rng(2))
    assert abs(len(times) - 10_000) < 4 * np.sqrt(10_000)
    assert np.all(np.diff(times) > 0) and times[0] >= 0 and times[-1] < 50.0
    gaps = np.diff(times)
    assert gaps.mean() == pytest.approx(1 / 200, rel=0.05)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.05)  # exponential, not a clock


def test_poisson_offsets_of_nothing() -> None:
    assert len(poisson_offsets(0.0, 10.0, np.random.default_rng(0))) == 0
    assert len(poisson_offsets(10.0, 0.0, np.random.default_rng(0))) == 0


def test_rank_request_shape(world) -> None:
    rng = np.random.default_rng(3)
    body = rank_request(rng, world, "r-1")
    cands = body["candidates"]
    assert SMALL.min_candidates <= len(cands) <= SMALL.max_candidates
    assert len({c["ad_id"] for c in cands}) == len(cands)
    assert all(c["bid"] > 0 for c in cands)
    assert body["timeout_ms"] == SMALL.deadline_ms and body["request_id"] == "r-1"
    assert {"hour", "weekday", "device", "slot", "age_band"} <= set(body["context"])
    assert body["user_id"] in {u.user_id for u in world.users}


def test_unseen_candidates_carry_text_and_are_new(world) -> None:
    rng = np.random.default_rng(4)
    known = {a["ad_id"] for a in world.ads}
    seen = unseen = 0
    for i in range(200):
        for c in rank_request(rng, world, f"r-{i}", candidates=100)["candidates"]:
            if c["ad_id"] in known:
                assert "title" not in c
                seen += 1
            else:
                assert c["title"] and c["category"] and c["description"]
                unseen += 1
    assert unseen / (seen + unseen) == pytest.approx(SMALL.unseen_share, rel=0.1)


def test_fixed_candidates_and_no_unseen(world) -> None:
    body = rank_request(np.random.default_rng(5), world, "r", candidates=100, unseen_share=0.0)
    assert len(body["candidates"]) == 100
    assert all("title" not in c for c in body["candidates"])


def test_popular_users_get_most_requests(world) -> None:
    rng = np.random.default_rng(6)
    users = [rank_request(rng, world, "r", candidates=1)["user_id"] for _ in range(3000)]
    top = users.count(world.users[0].user_id)
    assert top > 5 * users.count(world.users[50].user_id) and top > 3000 / 20


def test_seed_batches_cover_catalog_and_histories(world) -> None:
    ads, histories = seed_batches(world, ads_per_batch=128, events_per_batch=300)
    ad_ids = [a["ad_id"] for body in ads for a in body["ads"]]
    assert sorted(ad_ids) == sorted(a["ad_id"] for a in world.ads)
    assert all(len(body["ads"]) <= 128 for body in ads)
    events = [e for body in histories for e in body["events"]]
    assert len(events) == SMALL.users * SMALL.events_per_user
    assert all(len(body["events"]) <= 300 for body in histories)
    first = [e for e in events if e["user_id"] == world.users[0].user_id]
    assert len(first) == SMALL.events_per_user and all(e["text"] for e in first)
    assert [e["ts"] for e in first] == sorted(e["ts"] for e in first)


def test_events_request(world) -> None:
    body = events_request(np.random.default_rng(7), world, 1_800_000_000.0)
    assert len(body["events"]) == SMALL.events_per_batch
    assert all(e["ts"] == 1_800_000_000.0 and e["type"] in ("click", "view")
               for e in body["events"])  # fmt: skip


def _answer(n: int, degraded: bool = False) -> dict[str, object]:
    return {"ranked": [{"ad_id": str(i)} for i in range(n)], "degraded": degraded,
            "degraded_reasons": ["redis_unavailable"] if degraded else [],
            "metrics": dict.fromkeys(STAGES, 1.0)}  # fmt: skip


def test_rank_problem() -> None:
    assert rank_problem(200, _answer(3), 3) is None
    assert rank_problem(503, _answer(3), 3) == "HTTP 503"
    assert rank_problem(401, None, 3) == "HTTP 401"
    assert rank_problem(200, _answer(3, degraded=True), 3) == "degraded: redis_unavailable"
    assert rank_problem(200, _answer(2), 3) == "ranked 2 of 3"
    assert rank_problem(200, {"error": "x"}, 3) == "not a /rank answer"
    lacking = _answer(3)
    del lacking["metrics"]["score_ms"]  # type: ignore[attr-defined]
    assert rank_problem(200, lacking, 3) == "metrics lack score_ms"
