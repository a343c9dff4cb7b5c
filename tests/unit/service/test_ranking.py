"""Ranking and feature assembly of /rank (pure)."""

import msgspec
import numpy as np
import orjson
import pytest

from service.errors import InvalidRequest, PayloadTooLarge
from service.features.text import AdText
from service.rank.candidates import Candidates, prior_pctr, user_history
from service.rank.parsing import RankInput, parse_rank
from service.rank.protocol import ExplanationItem
from service.rank.ranking import ecpm, explanation, order, ranked_rows
from service.rank.serving import Scores, rank_rows
from service.runtime.pairs import ScoreResult
from service.settings import LimitSettings
from service.store.codec import UserMatrix, encode_ad, encode_user, read_ads, read_user


def test_ecpm_is_bid_times_pctr_times_1000() -> None:
    np.testing.assert_allclose(ecpm(np.array([0.01, 0.02]), np.array([2.0, 0.5])), [20.0, 10.0])


def test_order_descending_ties_keep_request_order_and_top_k() -> None:
    scores = np.array([0.1, 0.3, 0.3, 0.2])
    assert order(scores, None).tolist() == [1, 2, 3, 0]
    assert order(scores, 2).tolist() == [1, 2]


def test_explanation_takes_the_heaviest_real_items() -> None:
    att = np.array([0.1, 0.6, 0.3, 0.0], dtype=np.float32)
    got = explanation(att, ("i1", "i2", "i3"), k=2)
    assert [e.item_id for e in got] == ["i2", "i3"]
    assert explanation(att, ()) == []


def test_ranked_rows_carry_rank_ecpm_source_and_explanations() -> None:
    rows = ranked_rows(
        ["a", "b"], np.array([0.1, 0.2]), np.array([100.0, 50.0]), np.array([True, False]),
        np.array([0, 1]), {0: [ExplanationItem("i", 1.0)]}, ("cpc",),
    )  # fmt: skip
    assert msgspec.to_builtins(rows[0]) == {
        "ad_id": "a", "rank": 1, "p_ctr": 0.1, "ecpm": 100.0, "source": "model", "ranked_by": "cpc",
        "explanation": [{"item_id": "i", "weight": 1.0}]}  # fmt: skip
    assert rows[1].source == "prior" and rows[1].explanation == []


LIMITS = LimitSettings()


def request(**kw: object) -> RankInput:
    base: dict[str, object] = {"user_id": "u", "candidates": [{"ad_id": "a"}, {"ad_id": "b"}]}
    return parse_rank(orjson.dumps({**base, **kw}), LIMITS)


def test_fast_parse_reads_a_full_request() -> None:
    req = request(candidates=[{"ad_id": "a", "bid": 1}, {"ad_id": "b", "bid": 2.5,
                  "title": "T", "category": "C"}], top_k=1, timeout_ms=20, explain=True,
                  context={"device": "mobile", "hour": 3})  # fmt: skip
    assert req.ad_ids == ["a", "b"] and req.bids.tolist() == [1.0, 2.5]  # type: ignore[union-attr]
    assert req.texts == {1: AdText("T", "", "C")}
    assert (req.top_k, req.timeout_ms, req.explain) == (1, 20.0, True)
    assert req.context == {"device": "mobile", "hour": 3}


def test_a_new_ads_price_comes_with_its_text_and_is_a_number_at_least_zero() -> None:
    req = request(candidates=[{"ad_id": "a"}, {"ad_id": "b", "title": "T", "price": 89.9}])
    assert req.texts == {1: AdText("T", "", "", 89.9)}
    with pytest.raises(InvalidRequest, match=r"candidates\.0\.price"):
        request(candidates=[{"ad_id": "a", "title": "T", "price": -1}])
    with pytest.raises(InvalidRequest, match=r"candidates\.0\.price"):
        request(candidates=[{"ad_id": "a", "title": "T", "price": "9.99"}])


def test_values_of_another_json_type_are_refused_naming_the_field() -> None:
    """The schema says number, boolean, integer: a string or a number in their place is a
    caller's bug, refused as the schema says (no lax coercion)."""
    with pytest.raises(InvalidRequest, match=r"candidates\.0\.bid"):
        request(candidates=[{"ad_id": "a", "bid": "1.5"}])
    with pytest.raises(InvalidRequest, match="explain"):
        request(explain=0)
    with pytest.raises(InvalidRequest, match="top_k"):
        request(top_k="3")
    with pytest.raises(InvalidRequest, match=r"top_k: 2\.5 is not an integer"):
        request(top_k=2.5)
    assert request(top_k=3.0).top_k == 3  # an integer by JSON Schema's rule
    with pytest.raises(InvalidRequest, match="candidates"):
        request(candidates=[])


def test_a_full_body_with_unknown_fields_is_read() -> None:
    body = {"user_id": "u", "request_id": "r",
            "context": {"d": "m", "h": 3, "x": 1.5, "y": None, "z": True},
            "candidates": [{"ad_id": "a", "bid": 0}, {"ad_id": "b", "bid": 2.5, "title": "T",
                            "description": None, "category": "C"}],
            "top_k": 1, "timeout_ms": 20, "explain": True, "unknown": [1]}  # fmt: skip
    req = parse_rank(orjson.dumps(body), LIMITS)
    assert req.ad_ids == ["a", "b"] and req.texts == {1: AdText("T", "", "C")}
    assert req.context == body["context"] and req.request_id == "r"


@pytest.mark.parametrize(
    ("context", "field"),
    [
        ({"hour": 99}, "hour"),
        ({"hour": -1}, "hour"),
        ({"hour": "20"}, "hour"),
        ({"hour": 3.5}, "hour"),
        ({"hour": True}, "hour"),
        ({"weekday": 7}, "weekday"),
        ({"position": 0}, "position"),
    ],
)
def test_context_values_outside_their_range_are_refused(context: dict, field: str) -> None:
    with pytest.raises(InvalidRequest, match=rf"^context\.{field}: .* is not an integer in"):
        request(context=context)


def test_context_keeps_unknown_keys_and_unseen_values() -> None:
    context = {"hour": 23, "weekday": 0.0, "position": 12, "device": "smart-fridge", "tier": 9}
    assert request(context=context).context == context


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": "u", "candidates": [{"ad_id": "a", "bid": -1}]}, r"candidates\.0\.bid"),
        (b'{"user_id": "u", "candidates": [{"ad_id": "a", "bid": 1e999}]}', "bid"),
        ({"user_id": "u", "candidates": [{"ad_id": ""}]}, r"candidates\.0\.ad_id"),
        ({"user_id": "u", "candidates": [{"ad_id": "a"}], "top_k": 0}, "top_k"),
        ({"user_id": "u", "candidates": [{"ad_id": "a"}], "timeout_ms": 0}, "timeout_ms"),
        ({"user_id": "u", "candidates": [{"ad_id": "a"}], "context": {"a": [1]}}, r"^context\b"),
        ({"user_id": "u", "candidates": [{"ad_id": "a"}], "request_id": "r" * 129}, "request_id"),
        ({"candidates": [{"ad_id": "a"}]}, "user_id"),
    ],
)
def test_what_the_schema_forbids_is_refused_naming_the_field(body: object, field: str) -> None:
    with pytest.raises(InvalidRequest, match=field):
        parse_rank(body if isinstance(body, bytes) else orjson.dumps(body), LIMITS)


def test_limits_name_the_field() -> None:
    with pytest.raises(PayloadTooLarge, match="candidates: 1001 items"):
        request(candidates=[{"ad_id": f"a{i}"} for i in range(1001)])
    with pytest.raises(InvalidRequest, match=r"candidates\.0\.title"):
        request(candidates=[{"ad_id": "a", "title": "x" * 5000}])


def test_bids_all_or_none() -> None:
    assert request().bids is None
    with pytest.raises(InvalidRequest, match="bid is given for 1 of 2"):
        request(candidates=[{"ad_id": "a", "bid": 1}, {"ad_id": "b"}])


def test_rank_rows_orders_by_ecpm_when_bids_are_given() -> None:
    req = request(candidates=[{"ad_id": "a", "bid": 1.0}, {"ad_id": "b", "bid": 3.0}],
                  explain=True)  # fmt: skip
    result = ScoreResult(np.array([0.3, 0.2]), np.array([[0.9, 0.1], [0.2, 0.8]]), 0, 0, 1)
    scores = Scores(np.array([0.3, 0.2]), None, np.array([True, True]), np.array([0, 1]), result)
    user = UserMatrix(np.zeros((2, 4), np.float16), ("i1", "i2"))
    rows = rank_rows(req, scores, user)
    assert [r.ad_id for r in rows] == ["b", "a"]  # 600 > 300
    assert rows[0].ecpm == pytest.approx(600.0)
    assert rows[0].explanation is not None and rows[0].explanation[0].item_id == "i2"
    by_pctr = rank_rows(request(), scores, user)
    assert [r.ad_id for r in by_pctr] == ["a", "b"] and by_pctr[0].ecpm is None


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
    ads = read_ads([encode_ad(np.ones(3), "v1", 9.5), None, encode_ad(np.ones(3), "v2")], "v1", 3)
    assert ads[0] is not None and ads[0].vector.dtype == np.float32 and ads[0].price == 9.5
    assert ads[1] is None and ads[2] is None


def test_candidates_block_keeps_the_rows_with_vectors() -> None:
    have = np.array([True, False, False])
    zeros = np.zeros((3, 2), np.float32)
    cands = Candidates(["a", "b", "c"], zeros.copy(), have, np.arange(3), zeros.copy(),
                       zeros.copy(), np.array([0.1, 0.2, 0.3], np.float32))  # fmt: skip
    assert cands.missing() == [1, 2]
    cands.fill([2], [np.ones(2)], [99.0])
    block = cands.block(
        np.zeros((4, 2), np.float32), np.zeros(4, np.float32), np.zeros(1, np.int64)
    )
    assert block.n_pairs == 2 and block.ad_bucket.tolist() == [0, 2]
    assert block.candidates.tolist() == [[0, 0], [1, 1]]
    assert block.ad_price[:, 1].tolist() == [0, 1]  # a has no price, c has one
    assert block.ad_offset.tolist() == pytest.approx([0.1, 0.3])
    assert prior_pctr(np.array([[0.0, 1.0]]), np.zeros(1))[0] == pytest.approx(0.5)
    assert prior_pctr(np.array([[0.0, 1.0]]), np.ones(1))[0] == pytest.approx(1 / (1 + np.exp(-1)))
