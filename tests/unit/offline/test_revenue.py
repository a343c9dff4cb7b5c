"""Revenue of mixed auctions: top-k by predicted eCPM, paid by the true probabilities, against
the oracle; bids as the module documents them."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model_export.evaluate.revenue import (
    BID_NOISE,
    VALUE_SHARE,
    assign_bids,
    bid_amounts,
    expected_revenue,
    plot_revenue_shares,
    reference_rates,
    revenue_report,
    true_value,
)
from service.rank.ranking import CPA, CPC, CPM


def _auctions(rows: list[tuple[int, int, float, float, float]]) -> pd.DataFrame:
    """(auction, bid_type, bid, p_true, p_cvr_true) rows."""
    return pd.DataFrame(rows, columns=["auction", "bid_type", "bid", "p_true", "p_cvr_true"])


def _random_auctions(n: int, size: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    m = n * size
    types = rng.integers(0, 3, m)
    scale = np.array([2.0, -1.0, 2.0])[types]  # log bid by type: cpm, cpc, cpa
    bid = rng.lognormal(scale, 1.0)
    return pd.DataFrame(
        {
            "auction": np.repeat(np.arange(n), size),
            "bid_type": types,
            "bid": bid,
            "p_true": rng.beta(1, 30, m),
            "p_cvr_true": rng.beta(1, 10, m),
        }
    )


def _noisy(p: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
    return 1 / (1 + np.exp(-(np.log(p / (1 - p)) + rng.normal(0, scale, len(p)))))


def test_true_value_is_the_true_ecpm_per_impression() -> None:
    auctions = _auctions(
        [(0, CPM, 5.0, 0.1, 0.2), (0, CPC, 0.5, 0.1, 0.2), (0, CPA, 4.0, 0.1, 0.2)]
    )
    np.testing.assert_allclose(true_value(auctions), [0.005, 0.05, 0.08])


def test_a_cpa_ad_wins_only_when_its_cvr_is_predicted() -> None:
    """A cpc ad at eCPM 50 against a cpa ad whose buyers convert often (true eCPM 80): a ranking
    that knows each ad's pCVR shows the cpa ad and earns more; one that assumes every ad
    converts at the population's rate (2%) ranks the cpa ad at eCPM 8 and shows the cpc ad."""
    auctions = _auctions([(0, CPC, 1.0, 0.05, 0.01), (0, CPA, 10.0, 0.04, 0.2)])
    p_ctr = auctions["p_true"]
    knows = expected_revenue(auctions, p_ctr, auctions["p_cvr_true"], k=1)
    mean_cvr = expected_revenue(auctions, p_ctr, np.full(2, 0.02), k=1)
    np.testing.assert_allclose(knows, [0.08])
    np.testing.assert_allclose(mean_cvr, [0.05])
    # a clicks-only ranking (p_cvr None) reads the cpa bid as per click: it shows the cpa ad
    np.testing.assert_allclose(expected_revenue(auctions, p_ctr, None, k=1), [0.08])


def test_top_k_sums_the_k_best_by_predicted_ecpm() -> None:
    # two auctions, rows shuffled and ids not contiguous: results in ascending auction id
    auctions = _auctions(
        [
            (7, CPM, 40.0, 0.1, 0.1),  # true 0.04
            (3, CPM, 10.0, 0.1, 0.1),  # true 0.01 (auction 3)
            (7, CPM, 30.0, 0.1, 0.1),  # 0.03
            (7, CPC, 0.2, 0.05, 0.1),  # true 0.01
            (3, CPM, 20.0, 0.1, 0.1),  # 0.02 (auction 3)
            (7, CPC, 1.0, 0.05, 0.1),  # true 0.05
        ]
    )
    # predictions reverse the two cpc ads of auction 7: 0.2·0.5 = 0.1 (eCPM 100) vs 1·0.001
    p_ctr = np.array([0.1, 0.1, 0.1, 0.5, 0.1, 0.001])
    np.testing.assert_allclose(expected_revenue(auctions, p_ctr, None, 1), [0.02, 0.01])
    np.testing.assert_allclose(expected_revenue(auctions, p_ctr, None, 2), [0.03, 0.05])
    np.testing.assert_allclose(expected_revenue(auctions, p_ctr, None, 3), [0.03, 0.08])
    np.testing.assert_allclose(expected_revenue(auctions, p_ctr, None, 10), [0.03, 0.13])
    oracle = expected_revenue(auctions, auctions["p_true"], auctions["p_cvr_true"], 2)
    np.testing.assert_allclose(oracle, [0.03, 0.09])


def test_ties_keep_row_order_as_the_service_does() -> None:
    auctions = _auctions([(0, CPM, 125.0, 0.1, 0.1), (0, CPC, 0.5, 0.9, 0.1)])
    # both at eCPM 125 predicted (0.5 · 0.25 · 1000, exact in binary): the first row wins
    np.testing.assert_allclose(expected_revenue(auctions, [0.1, 0.25], None, 1), [0.125])
    swapped = auctions.iloc[::-1].reset_index(drop=True)
    np.testing.assert_allclose(expected_revenue(swapped, [0.25, 0.1], None, 1), [0.45])


def test_the_oracle_is_never_beaten() -> None:
    auctions = _random_auctions(300, 7, seed=0)
    rng = np.random.default_rng(1)
    p, c = auctions["p_true"].to_numpy(), auctions["p_cvr_true"].to_numpy()
    for k in (1, 2, 3, 7):
        oracle = expected_revenue(auctions, p, c, k)
        for scale in (0.1, 0.5, 2.0):
            ranked = expected_revenue(auctions, _noisy(p, scale, rng), _noisy(c, scale, rng), k)
            assert (ranked <= oracle + 1e-12).all()
        assert (expected_revenue(auctions, p, None, k) <= oracle + 1e-12).all()


def test_report_shares_intervals_and_differences(tmp_path: Path) -> None:
    auctions = _random_auctions(2_000, 6, seed=2)
    rng = np.random.default_rng(3)
    p, c = auctions["p_true"].to_numpy(), auctions["p_cvr_true"].to_numpy()
    rankings = {
        "truth": (p, c),
        "adrank": (_noisy(p, 0.3, rng), _noisy(c, 0.3, rng)),
        "ctr_only": (_noisy(p, 0.3, rng), None),
    }
    report = revenue_report(auctions, rankings, ks=(1, 3), seed=0, pairs=[("adrank", "ctr_only")])
    assert report["auctions"] == 2_000 and report["candidates"] == 6 and report["ks"] == [1, 3]
    assert list(report["rankings"]) == ["oracle", "truth", "adrank", "ctr_only"]
    for k in ("top1", "top3"):
        oracle = report["rankings"]["oracle"][k]
        assert oracle["share_of_oracle"] == 1.0 and oracle["share_ci"] == [1.0, 1.0]
        truth = report["rankings"]["truth"][k]
        assert truth["share_of_oracle"] == 1.0 and truth["share_ci"] == [1.0, 1.0]
        assert truth["revenue_per_1000"] == oracle["revenue_per_1000"]
        for name in ("adrank", "ctr_only"):
            entry = report["rankings"][name][k]
            assert entry["share_of_oracle"] < 1.0
            assert entry["share_ci"][0] <= entry["share_of_oracle"] <= entry["share_ci"][1] <= 1.0
            low, high = entry["revenue_ci"]
            assert low <= entry["revenue_per_1000"] <= high
            expected = 1000 * expected_revenue(auctions, *rankings[name], int(k[3:])).mean()
            assert entry["revenue_per_1000"] == pytest.approx(expected)
        diff = report["differences"]["adrank - ctr_only"][k]
        adrank, ctr_only = report["rankings"]["adrank"][k], report["rankings"]["ctr_only"][k]
        assert diff["revenue_per_1000"] == pytest.approx(
            adrank["revenue_per_1000"] - ctr_only["revenue_per_1000"]
        )
        assert diff["share_of_oracle"] == pytest.approx(
            adrank["share_of_oracle"] - ctr_only["share_of_oracle"]
        )
        # a paired interval: narrower than the two rankings' own intervals side by side
        assert diff["revenue_ci"][0] <= diff["revenue_per_1000"] <= diff["revenue_ci"][1]
        assert diff["share_ci"][0] > 0  # knowing the conversion rate pays, clearly
    assert report == revenue_report(
        auctions, rankings, ks=(1, 3), seed=0, pairs=[("adrank", "ctr_only")]
    )
    png = plot_revenue_shares(report, tmp_path / "revenue.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_refuses_what_it_cannot_judge() -> None:
    auctions = _random_auctions(10, 3, seed=4)
    p = auctions["p_true"].to_numpy()
    with pytest.raises(ValueError, match="oracle"):
        revenue_report(auctions, {"oracle": (p, None)})
    with pytest.raises(ValueError, match="unknown rankings: nope"):
        revenue_report(auctions, {"a": (p, None)}, pairs=[("a", "nope")])
    with pytest.raises(ValueError, match="NaN"):
        expected_revenue(auctions, np.full(len(p), np.nan), None, 1)
    with pytest.raises(ValueError, match="one value per row"):
        expected_revenue(auctions, p[:-1], None, 1)


def test_bids_follow_the_documented_choice() -> None:
    rng = np.random.default_rng(5)
    ads = pd.DataFrame({"ad_id": [f"a{i}" for i in range(3_000)],
                        "price": rng.lognormal(4, 1, 3_000)})  # fmt: skip
    bids = assign_bids(ads, np.random.default_rng(6))
    assert list(bids.index) == list(ads["ad_id"])
    # a third each, exactly
    assert bids["bid_type"].value_counts().to_dict() == {CPM: 1_000, CPC: 1_000, CPA: 1_000}
    # the value of a conversion: a share of the price, log-normal noise around it
    noise = np.log(bids["value"].to_numpy() / (VALUE_SHARE * ads["price"].to_numpy()))
    assert abs(noise.mean()) < 0.05 and noise.std() == pytest.approx(BID_NOISE, rel=0.05)
    pd.testing.assert_frame_equal(bids, assign_bids(ads, np.random.default_rng(6)))
    skewed = assign_bids(ads, np.random.default_rng(6), {"cpc": 0.5, "cpa": 0.5})
    assert skewed["bid_type"].value_counts().to_dict() == {CPC: 1_500, CPA: 1_500}
    with pytest.raises(ValueError, match="shares"):
        assign_bids(ads, np.random.default_rng(6), {"cpc": 0.5, "cpx": 0.5})
    # the bid is the value in the type's unit at the market's rates
    types, value = bids["bid_type"].to_numpy(), bids["value"].to_numpy()
    unit = bid_amounts(types, value, ctr_ref=0.02, cvr_ref=0.1) / value
    np.testing.assert_allclose(unit[types == CPA], 1.0)
    np.testing.assert_allclose(unit[types == CPC], 0.1)
    np.testing.assert_allclose(unit[types == CPM], 0.1 * 0.02 * 1000)


def test_reference_rates_give_every_bid_type_the_same_median_ecpm() -> None:
    """As if every candidate bid each way: equal medians by construction, even with skewed,
    correlated values and probabilities (where the median pCTR and pCVR would not do)."""
    rng = np.random.default_rng(7)
    n = 20_001
    value = rng.lognormal(3, 1.2, n)
    p_ctr = 1 / (1 + np.exp(-(-4 + rng.exponential(1.0, n))))  # right-skewed logit
    p_cvr = 1 / (1 + np.exp(-(-2 - 0.3 * np.log(value) + rng.exponential(0.8, n))))
    ctr_ref, cvr_ref = reference_rates(value, p_ctr, p_cvr)
    medians = [
        np.median(true_value(_as_type(code, value, ctr_ref, cvr_ref, p_ctr, p_cvr)))
        for code in (CPM, CPC, CPA)
    ]
    np.testing.assert_allclose(medians, medians[0], rtol=1e-9)
    assert cvr_ref != pytest.approx(np.median(p_cvr), rel=0.05)  # the naive rate is off


def _as_type(
    code: int, value: np.ndarray, ctr_ref: float, cvr_ref: float, p_ctr: np.ndarray,
    p_cvr: np.ndarray,
) -> pd.DataFrame:  # fmt: skip
    types = np.full(len(value), code)
    return pd.DataFrame({"auction": np.arange(len(value)), "bid_type": types,
                         "bid": bid_amounts(types, value, ctr_ref, cvr_ref), "p_true": p_ctr,
                         "p_cvr_true": p_cvr})  # fmt: skip
