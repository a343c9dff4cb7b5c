"""Ranking and feature assembly of /rank (pure)."""

import numpy as np
import pytest

from service.errors import InvalidRequest
from service.rank.features import build_block, plan_candidates, read_ads, read_user, user_history
from service.rank.protocol import RankRequest
from service.rank.ranking import ecpm, explanation, order, ranked_rows
from service.rank.serving import Scores, candidate_bids, rank_rows
from service.runtime.model import ScoreResult
from service.store.codec import UserMatrix, encode_ad, encode_user


def test_ecpm_is_bid_times_pctr_times_1000() -> None:
    np.testing.assert_allclose(ecpm(np.array([0.01, 0.02]), np.array([2.0, 0.5])), [20.0, 10.0])


def test_order_descending_ties_keep_request_order_and_top_k() -> None:
    scores = np.array([0.1, 0.3, 0.3, 0.2])
    assert order(scores, None).tolist() == [1, 2, 3, 0]
    assert order(scores, 2).tolist() == [1, 2]


def test_explanation_takes_the_heaviest_real_items() -> None:
    att = np.array([0.1, 0.6, 0.3, 0.0], dtype=np.float32)
    got = explanation(att, ("i1", "i2", "i3"), k=2)
    assert [e["item_id"] for e in got] == ["i2", "i3"]
    assert explanation(att, ()) == []


def test_ranked_rows_carry_rank_ecpm_source_and_explanations() -> None:
    rows = ranked_rows(
        ["a", "b"], np.array([0.1, 0.2]), np.array([100.0, 50.0]), np.array([True, False]),
        np.array([0, 1]), {0: [{"item_id": "i", "weight": 1.0}]},
    )  # fmt: skip
    assert rows[0] == {"ad_id": "a", "rank": 1, "p_ctr": 0.1, "ecpm": 100.0, "source": "model",
                       "explanation": [{"item_id": "i", "weight": 1.0}]}  # fmt: skip
    assert rows[1]["source"] == "prior" and rows[1]["explanation"] == []


def request(**kw: object) -> RankRequest:
    base: dict[str, object] = {"user_id": "u", "candidates": [{"ad_id": "a"}, {"ad_id": "b"}]}
    return RankRequest.model_validate({**base, **kw})


def test_bids_all_or_none() -> None:
    assert candidate_bids(request()) is None
    both = request(candidates=[{"ad_id": "a", "bid": 1}, {"ad_id": "b", "bid": 2}])
    assert candidate_bids(both).tolist() == [1.0, 2.0]  # type: ignore[union-attr]
    with pytest.raises(InvalidRequest, match="bid is given for 1 of 2"):
        candidate_bids(request(candidates=[{"ad_id": "a", "bid": 1}, {"ad_id": "b"}]))


def test_rank_rows_orders_by_ecpm_when_bids_are_given() -> None:
    req = request(candidates=[{"ad_id": "a", "bid": 1.0}, {"ad_id": "b", "bid": 3.0}],
                  explain=True)  # fmt: skip
    result = ScoreResult(np.array([0.3, 0.2]), np.array([[0.9, 0.1], [0.2, 0.8]]), 0, 0, 1)
    scores = Scores(np.array([0.3, 0.2]), np.array([True, True]), np.array([0, 1]), result)
    user = UserMatrix(np.zeros((2, 4), np.float16), ("i1", "i2"))
    rows = rank_rows(req, candidate_bids(req), scores, user)
    assert [r["ad_id"] for r in rows] == ["b", "a"]  # 600 > 300
    assert rows[0]["ecpm"] == pytest.approx(600.0)
    assert rows[0]["explanation"][0]["item_id"] == "i2"  # type: ignore[index]
    by_pctr = rank_rows(request(), None, scores, user)
    assert [r["ad_id"] for r in by_pctr] == ["a", "b"] and "ecpm" not in by_pctr[0]


def test_user_history_pads_and_masks_and_handles_cold_start() -> None:
    m = UserMatrix(np.ones((2, 3), np.float16), ("x", "y"))
    hist, mask = user_history(m, history_len=4, d=3)
    assert hist.dtype == np.float32 and hist[:2].sum() == 6 and hist[2:].sum() == 0
    assert mask.tolist() == [1, 1, 0, 0]
    cold_hist, cold_mask = user_history(None, 4, 3)
    assert cold_hist.sum() == 0 and cold_mask.sum() == 0


def test_stored_values_of_another_model_version_read_as_absent() -> None:
    blob = encode_user(UserMatrix(np.ones((1, 3), np.float16), ("x",)), "v1")
    assert read_user(blob, "v1", 3) is not None
    assert read_user(blob, "v2", 3) is None
    assert read_user(b"garbage", "v1", 3) is None
    ads = read_ads([encode_ad(np.ones(3), "v1"), None, encode_ad(np.ones(3), "v2")], "v1", 3)
    assert ads[0] is not None and ads[0].dtype == np.float32 and ads[1] is None and ads[2] is None


def test_plan_and_block_keep_candidates_with_vectors() -> None:
    vecs = [np.ones(3, np.float32), None, np.zeros(3, np.float32)]
    plan = plan_candidates(vecs)
    assert plan.model_rows.tolist() == [0, 2] and plan.prior_rows.tolist() == [1]
    block = build_block(np.zeros((2, 3), np.float32), np.zeros(2, np.float32),
                        np.zeros(1, np.int64), [vecs[0], vecs[2]],  # type: ignore[list-item]
                        np.zeros(2, np.int64), np.zeros((2, 2), np.float32))  # fmt: skip
    assert block.n_pairs == 2 and block.candidates.dtype == np.float32
