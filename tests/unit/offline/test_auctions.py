"""The revenue table of `adrank evaluate` (pure formatting of a revenue report)."""

from model_export.evaluate.auctions import revenue_markdown


def entry(revenue: float, share: float) -> dict:
    return {"revenue_per_1000": revenue, "revenue_ci": [revenue - 1, revenue + 1],
            "share_of_oracle": share, "share_ci": [share - 0.01, share + 0.01]}  # fmt: skip


def test_rankings_show_their_share_interval_and_differences_their_revenue_interval() -> None:
    report = {
        "ks": [1, 3], "auctions": 5000, "candidates": 10.0, "confidence": 0.95,
        "rankings": {"adrank": {"top1": entry(346.1, 0.954), "top3": entry(487.4, 0.979)}},
        "differences": {"adrank - ctr_only": {"top1": entry(5.0, 0.014),
                                              "top3": entry(2.1, 0.004)}},
    }  # fmt: skip
    lines = revenue_markdown(report).splitlines()
    assert lines[2] == "| adrank | 346.1 | 0.954 [0.944, 0.964] | 487.4 | 0.979 [0.969, 0.989] |"
    assert lines[3] == (
        "| adrank - ctr_only | +5.0 [+4.0, +6.0] | +0.014 | +2.1 [+1.1, +3.1] | +0.004 |"
    )
    assert lines[-1] == "5,000 auctions of 10 ads; 95% bootstrap intervals."
