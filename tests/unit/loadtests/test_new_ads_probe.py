"""The campaign-launch probe's pure parts: new ads with their own words, and its one-line view."""

from loadtests.new_ads_probe import launch, summary


def test_a_launch_is_new_ads_each_with_its_own_text() -> None:
    ads = launch(100)
    assert len({a["ad_id"] for a in ads}) == 100
    assert len({(a["title"], a["category"]) for a in ads}) == 100
    assert {a["ad_id"] for a in launch(3)}.isdisjoint(a["ad_id"] for a in ads)  # fresh ids


def test_the_summary_counts_sources_and_distinct_scores() -> None:
    out = {"ranked": [{"source": "prior", "p_ctr": 0.1}, {"source": "prior", "p_ctr": 0.1},
                      {"source": "model", "p_ctr": 0.3}],
           "metrics": {"total_ms": 12.34}, "degraded_reasons": ["encoder_deadline"]}  # fmt: skip
    line = summary(1, out, 13.0)
    assert "by model 1, by prior 2, distinct p_ctr 2" in line and "encoder_deadline" in line
