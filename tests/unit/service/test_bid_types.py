"""One auction for every bid type: cpm as it is, cpc × pCTR, cpa × pCTR × pCVR (pure)."""

import numpy as np
import orjson
import pytest

from service.errors import InvalidRequest
from service.rank.parsing import RankInput, parse_rank
from service.rank.ranking import check_bid_types, ecpm, ranked_by
from service.settings import LimitSettings


def request(*cands: dict[str, object]) -> RankInput:
    return parse_rank(orjson.dumps({"user_id": "u", "candidates": list(cands)}), LimitSettings())


def test_ecpm_of_each_bid_type() -> None:
    p_ctr, p_cvr = np.array([0.02, 0.02, 0.02]), np.array([0.1, 0.1, 0.1])
    bids, types = np.array([5.0, 1.0, 20.0]), np.array([0, 1, 2], np.int8)
    np.testing.assert_allclose(ecpm(p_ctr, bids, types, p_cvr), [5.0, 20.0, 40.0])
    np.testing.assert_allclose(ecpm(p_ctr, bids), [100.0, 20.0, 400.0])  # all cpc


def test_a_mixed_auction_ranks_by_each_ads_formula() -> None:
    req = request({"ad_id": "a", "bid": 3.0, "bid_type": "cpm"}, {"ad_id": "b", "bid": 0.2},
                  {"ad_id": "c", "bid": 0.5, "bid_type": "cpc"})  # fmt: skip
    assert req.bid_types is not None and req.bid_types.tolist() == [0, 1, 1]
    assert list(ranked_by(req)) == ["cpm", "cpc", "cpc"]
    values = ecpm(np.array([0.01, 0.01, 0.01]), req.bids, req.bid_types)  # type: ignore[arg-type]
    np.testing.assert_allclose(values, [3.0, 2.0, 5.0])


def test_bid_types_are_looked_up_only_when_some_are_not_cpc() -> None:
    plain = request({"ad_id": "a", "bid": 1.0}, {"ad_id": "b", "bid": 2.0, "bid_type": "cpc"})
    assert plain.bid_types is None and list(ranked_by(plain)) == ["cpc"]
    no_bids = request({"ad_id": "a", "bid_type": "cpm"})  # a type prices a bid: none here
    assert no_bids.bids is None and no_bids.bid_types is None
    assert list(ranked_by(no_bids)) == ["p_ctr"]


def test_an_unknown_bid_type_names_the_field() -> None:
    with pytest.raises(InvalidRequest, match=r"^candidates\.0\.bid_type: Invalid enum value"):
        request({"ad_id": "a", "bid": 1.0, "bid_type": "cpv"})


def test_cpa_needs_a_model_with_a_conversion_head() -> None:
    req = request({"ad_id": "a", "bid": 1.0}, {"ad_id": "b", "bid": 9.0, "bid_type": "cpa"})
    with pytest.raises(InvalidRequest, match=r"^candidates\.1\.bid_type: cpa needs a model "
                       r"with a conversion head; model v1 predicts clicks only"):  # fmt: skip
        check_bid_types(req, has_cvr=False, version="v1")
    check_bid_types(req, has_cvr=True, version="v2")
