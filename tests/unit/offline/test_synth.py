"""The synthetic click log: deterministic, realistic in shape, and with a truth that only a
model reading the text can reach."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from model_export.data.clicklog import (
    AD_COLUMNS,
    EVENT_COLUMNS,
    IMPRESSION_COLUMNS,
    ClickLog,
)
from model_export.data.sources import split_for
from model_export.data.synth import (
    CONTEXT_FIELDS,
    TOPIC_VERTICAL,
    SynthConfig,
    affinity_counts,
    synthesize,
)
from model_export.data.synth_catalog import VERTICALS
from model_export.data.synth_text import OFFERS
from model_export.data.synth_truth import calibrate_base, sigmoid
from model_export.evaluate.label_ceiling import ceiling
from model_export.evaluate.truth_ablation import ablation, offer_effects
from model_export.train.history import history_index
from service.features.context import time_context

CONFIG = SynthConfig.small()


@pytest.fixture(scope="module")
def log() -> ClickLog:
    return synthesize(CONFIG)


@pytest.fixture(scope="module")
def counts(log: ClickLog) -> tuple[np.ndarray, np.ndarray]:
    return affinity_counts(log, CONFIG.history_len)


def _ad_column(log: ClickLog, name: str) -> np.ndarray:
    """A column of ``log.ads`` per impression."""
    return log.ads.set_index("ad_id")[name].reindex(log.impressions["ad_id"]).to_numpy()


def test_same_seed_gives_the_same_log(log: ClickLog) -> None:
    again = synthesize(CONFIG)
    pd.testing.assert_frame_equal(log.ads, again.ads)
    pd.testing.assert_frame_equal(log.events, again.events)
    pd.testing.assert_frame_equal(log.impressions, again.impressions)


def test_another_seed_gives_another_log(log: ClickLog) -> None:
    other = synthesize(SynthConfig.small(seed=CONFIG.seed + 1))
    assert not log.ads["title"].equals(other.ads["title"])
    assert not log.events["text"].equals(other.events["text"])
    assert not np.allclose(log.impressions["p_true"], other.impressions["p_true"])


def test_frames_have_the_click_log_columns(log: ClickLog) -> None:
    imps = log.impressions
    ctx = [log.context_column(f) for f in CONTEXT_FIELDS]
    assert list(imps.columns)[: len(IMPRESSION_COLUMNS) + len(ctx)] == IMPRESSION_COLUMNS + ctx
    assert set(AD_COLUMNS) <= set(log.ads.columns)
    assert set(EVENT_COLUMNS) <= set(log.events.columns)
    assert len(imps) == CONFIG.n_impressions and len(log.ads) == CONFIG.n_ads
    assert imps["ts"].dtype == np.int64 and log.events["ts"].dtype == np.int64
    assert set(np.unique(imps["label"])) == {0, 1}
    assert imps["p_true"].dtype == np.float64
    assert ((imps["p_true"] > 0) & (imps["p_true"] < 1)).all()
    assert set(log.events["type"]) == {"click", "view"}
    assert imps["ad_id"].isin(log.ads["ad_id"]).all()
    assert imps["user_id"].str.match(r"^u\d+$").all()
    assert log.events["item_id"].str.match(r"^i\d+$").all()
    assert log.ads["ad_id"].str.match(r"^a\d+$").all()
    assert log.ads["ad_id"].is_unique


def test_items_have_one_text_and_one_topic(log: ClickLog) -> None:
    per_item = log.events.groupby("item_id")[["text", "topic"]].nunique()
    assert (per_item == 1).all().all()
    assert log.events["text"].nunique() <= CONFIG.items_per_topic * len(TOPIC_VERTICAL)


def test_base_ctr_is_low_single_digit_percent(log: ClickLog) -> None:
    assert 0.01 <= log.impressions["label"].mean() <= 0.05
    assert log.impressions["p_true"].mean() == pytest.approx(CONFIG.target_ctr, rel=1e-3)


def test_labels_follow_p_true_in_every_quintile(log: ClickLog) -> None:
    imps = log.impressions
    bucket = pd.qcut(imps["p_true"], 5, labels=False)
    for _, rows in imps.groupby(bucket):
        p, y = rows["p_true"].to_numpy(), rows["label"].to_numpy()
        se = np.sqrt((p * (1 - p)).sum()) / len(p)
        assert abs(y.mean() - p.mean()) < 4 * se


def test_category_is_the_vertical_and_hides_the_topic(log: ClickLog) -> None:
    ads = log.ads
    topics_per_category = ads.groupby("category")["topic"].nunique()
    assert len(topics_per_category) >= 12
    assert (topics_per_category >= 6).all()
    assert (ads["category"] == ads["topic"].map(TOPIC_VERTICAL)).all()
    assert not any(t.lower() in c.lower() for t in TOPIC_VERTICAL for c in VERTICALS)


def test_ad_text_names_a_product_of_its_topic(log: ClickLog) -> None:
    for title, vertical, topic in log.ads[["title", "category", "topic"]].itertuples(index=False):
        assert any(p.lower() in title.lower() for p in VERTICALS[vertical][topic].products)


def test_oracle_beats_the_best_topic_blind_predictor(
    log: ClickLog, counts: tuple[np.ndarray, np.ndarray]
) -> None:
    """Knowing the category and how many recent events share it is not enough: the fine topic
    (visible only in text) carries a clear part of the truth."""
    k_topic, k_vert = counts
    y, p = log.impressions["label"].to_numpy(), log.impressions["p_true"]
    category = _ad_column(log, "category")
    blind = roc_auc_score(y, p.groupby([category, k_topic + k_vert]).transform("mean"))
    ad_only = roc_auc_score(y, p.groupby(log.impressions["ad_id"].to_numpy()).transform("mean"))
    topic_aware = roc_auc_score(y, p.groupby([k_topic, k_vert]).transform("mean"))
    oracle = roc_auc_score(y, p)
    assert oracle > ad_only + 0.15
    assert oracle > blind + 0.04
    assert topic_aware > blind + 0.03


def test_click_rate_grows_with_topic_matches_in_history(
    log: ClickLog, counts: tuple[np.ndarray, np.ndarray]
) -> None:
    k_topic, _ = counts
    p, y = log.impressions["p_true"].to_numpy(), log.impressions["label"].to_numpy()
    means = [
        p[k_topic == 0].mean(),
        p[(k_topic >= 1) & (k_topic < 4)].mean(),
        p[k_topic >= 4].mean(),
    ]
    assert means[0] < means[1] < means[2]
    assert y[k_topic >= 4].mean() > 4 * y[k_topic == 0].mean()
    assert (k_topic >= 4).mean() > 0.1  # positives are not confined to rare buckets


def test_hour_and_weekday_agree_with_ts(log: ClickLog) -> None:
    imps = log.impressions
    moments = pd.to_datetime(imps["ts"], unit="s", utc=True)
    assert (imps["ctx_hour"] == moments.dt.hour).all()
    assert (imps["ctx_weekday"] == moments.dt.day_of_week).all()
    for row in imps.sample(200, random_state=0).itertuples():
        assert time_context(row.ts) == {"hour": row.ctx_hour, "weekday": row.ctx_weekday}
    assert imps["ts"].between(CONFIG.start_ts, CONFIG.end_ts - 1).all()
    assert imps["ctx_hour"].nunique() == 24 and imps["ctx_weekday"].nunique() == 7


def test_ads_launch_over_time_so_the_last_tenth_has_cold_ads(log: ClickLog) -> None:
    imps = log.impressions
    assert (imps["ts"] >= _ad_column(log, "launch_ts")).all()
    last = imps["ts"] >= imps["ts"].quantile(0.9)
    seen_before = set(imps.loc[~last, "ad_id"])
    cold_share = (~imps.loc[last, "ad_id"].isin(seen_before)).mean()
    assert 0.03 <= cold_share <= 0.3


def test_histories_are_non_trivial_and_evolve(log: ClickLog) -> None:
    index = history_index(log.events, log.impressions, CONFIG.history_len)
    length = (index >= 0).sum(axis=1)
    assert (length >= 10).mean() > 0.5
    assert 0.005 < (length == 0).mean() < 0.2
    users_with_events = set(log.events["user_id"])
    cold_users = set(log.impressions["user_id"]) - users_with_events
    assert len(cold_users) > 0
    # events and impressions of a user interleave: many impressions have later events too
    last_event = log.events.groupby("user_id")["ts"].max()
    later = log.impressions["ts"] < last_event.reindex(log.impressions["user_id"]).to_numpy()
    assert later.mean() > 0.5


def test_calibrate_base_hits_the_target_rate() -> None:
    logit = np.random.default_rng(0).normal(0.0, 1.5, 10_000)
    base = calibrate_base(logit, 0.03)
    assert sigmoid(base + logit).mean() == pytest.approx(0.03, rel=1e-6)


def test_truth_ablation_shows_what_only_text_carries(log: ClickLog) -> None:
    split = split_for(log, "standard")
    result = ablation(log, split, CONFIG)
    test = log.impressions[split == "test"]
    assert result["oracle (whole truth)"] == pytest.approx(
        roc_auc_score(test["label"], test["p_true"]), abs=1e-9
    )
    assert result["without the fine-topic term"] < result["oracle (whole truth)"] - 0.05
    assert (result["without the fine-topic term"] < result["fine topic counted as the vertical"]
            < result["oracle (whole truth)"])  # fmt: skip
    assert result["affinity alone"] > 0.6
    assert result["without the offer term"] < result["oracle (whole truth)"]


def test_the_labels_suffice_for_a_regression_given_the_truths_forms(log: ClickLog) -> None:
    split = split_for(log, "standard")
    result = ceiling(log, split, CONFIG)
    oracle = result["oracle (true probability)"]
    assert oracle == pytest.approx(
        roc_auc_score(log.impressions["label"][split == "test"],
                      log.impressions["p_true"][split == "test"]), abs=1e-9
    )  # fmt: skip
    fitted = result["regression: true counts, offer, ad id, context"]
    assert oracle - 0.03 < fitted <= oracle + 0.01  # learned weights, not the true ones
    assert "the run" not in result


def test_offer_effects_are_read_back_from_the_ad_text(log: ClickLog) -> None:
    effects = offer_effects(log)
    offers = {o.effect for o in OFFERS}
    assert set(np.unique(effects)) <= offers and len(np.unique(effects)) > 3
