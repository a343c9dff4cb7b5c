"""Advertisers who pay per impression, per click or per conversion, in one auction, over HTTP."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import StartService, uid
from tests.e2e.test_rank import put_ads, rank


@pytest.fixture(scope="module")
def clicks_only(start_service: StartService, clicks_only_bundle: Path) -> Iterator[httpx.Client]:
    """A service whose model predicts clicks only."""
    proc = start_service(bundle=clicks_only_bundle)
    with httpx.Client(base_url=proc.url, timeout=10) as c:
        yield c


def test_cpm_and_cpc_bids_share_one_auction(client: httpx.Client) -> None:
    ids = put_ads(client)
    cands = [{"ad_id": ids[0], "bid": 40.0, "bid_type": "cpm"}, {"ad_id": ids[1], "bid": 0.5},
             {"ad_id": ids[2], "bid": 0.001, "bid_type": "cpm"},
             {"ad_id": ids[3], "bid": 2.0, "bid_type": "cpc"}]  # fmt: skip
    out = rank(client, user_id=uid("u"), candidates=cands)
    by_id = {r["ad_id"]: r for r in out["ranked"]}
    assert by_id[ids[0]]["ecpm"] == 40.0 and by_id[ids[0]]["ranked_by"] == "cpm"
    assert by_id[ids[2]]["ecpm"] == pytest.approx(0.001)
    for ad, bid in ((ids[1], 0.5), (ids[3], 2.0)):
        row = by_id[ad]
        assert row["ranked_by"] == "cpc" and row["ecpm"] == pytest.approx(bid * row["p_ctr"] * 1000)
    ecpms = [r["ecpm"] for r in out["ranked"]]
    assert ecpms == sorted(ecpms, reverse=True)
    assert all(0 < r["p_cvr"] < 1 for r in out["ranked"])  # the model has a conversion tower


def test_a_cpa_bid_is_priced_by_pctr_times_pcvr(client: httpx.Client) -> None:
    ids = put_ads(client)
    cands = [{"ad_id": ids[0], "bid": 30.0, "bid_type": "cpa"}, {"ad_id": ids[1], "bid": 0.5},
             {"ad_id": ids[2], "bid": 5.0, "bid_type": "cpm"}]  # fmt: skip
    out = rank(client, user_id=uid("u"), candidates=cands)
    cpa = next(r for r in out["ranked"] if r["ad_id"] == ids[0])
    assert cpa["ranked_by"] == "cpa" and cpa["source"] == "model"
    assert cpa["ecpm"] == pytest.approx(30.0 * cpa["p_ctr"] * cpa["p_cvr"] * 1000, rel=1e-6)
    ecpms = [r["ecpm"] for r in out["ranked"]]
    assert ecpms == sorted(ecpms, reverse=True)


def test_the_schema_offers_cpa_when_the_model_predicts_conversions(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert schema["Candidate"]["properties"]["bid_type"]["enum"] == ["cpm", "cpc", "cpa"]


def test_without_bids_ads_are_ranked_by_pctr(client: httpx.Client) -> None:
    out = rank(client, user_id=uid("u"), candidates=[{"ad_id": a} for a in put_ads(client)])
    assert {r["ranked_by"] for r in out["ranked"]} == {"p_ctr"}


def test_a_cpa_bid_on_a_model_without_a_conversion_head_is_422(clicks_only: httpx.Client) -> None:
    client = clicks_only
    ids = put_ads(client)
    r = client.post(
        "/rank",
        json={
            "user_id": uid("u"),
            "candidates": [
                {"ad_id": ids[0], "bid": 1.0},
                {"ad_id": ids[1], "bid": 30.0, "bid_type": "cpa"},
            ],
        },
    )
    assert r.status_code == 422
    assert r.json()["error"].startswith("candidates.1.bid_type: cpa needs a model with a "
                                        "conversion head")  # fmt: skip


def test_the_schema_offers_the_bid_types_the_model_takes(clicks_only: httpx.Client) -> None:
    schema = clicks_only.get("/openapi.json").json()["components"]["schemas"]
    assert schema["Candidate"]["properties"]["bid_type"]["enum"] == ["cpm", "cpc"]
