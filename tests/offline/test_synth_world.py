"""The synthetic platform's truth for any (user, time, context, ad): it reproduces the log's own
truth, moves the way the truth says when the ad or the context changes, regenerates from the
config `adrank synth` writes, and serves auctions of ads that were never shown."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from adrank.cli import main
from model_export.data.clicklog import ClickLog
from model_export.data.io import read_clicklog, write_clicklog
from model_export.data.sources import split_for
from model_export.data.synth import SynthConfig, synthesize, synthesize_world
from model_export.data.synth_conversion import AFFINITY_CVR_WEIGHT
from model_export.data.synth_truth import position_effect
from model_export.data.synth_world import CONFIG_FILE, SynthWorld, load_world, write_config
from model_export.evaluate.cvr_ceiling import ceilings, logistic_row, marginal_sigmoid
from model_export.evaluate.metrics import auc, expected_auc
from model_export.evaluate.revenue import auction_requests, true_value
from service.rank.protocol import BID_TYPES

SMALL = SynthConfig.small()  # cvr_mean 0.1: with conversions
CLI_SMALL = ["--n-users", "1500", "--n-ads", "300", "--n-impressions", "40000", "--seed", "7"]


@pytest.fixture(scope="module")
def synthesized() -> tuple[ClickLog, SynthWorld]:
    return synthesize_world(SMALL)


@pytest.fixture(scope="module")
def log(synthesized: tuple[ClickLog, SynthWorld]) -> ClickLog:
    return synthesized[0]


@pytest.fixture(scope="module")
def world(synthesized: tuple[ClickLog, SynthWorld]) -> SynthWorld:
    return synthesized[1]


# ---------------------------------------------------------------- the log's own truth


def test_synthesize_world_gives_synthesize_s_log(log: ClickLog) -> None:
    assert SMALL.cvr_mean > 0
    plain = synthesize(SMALL)
    for name in ("ads", "events", "impressions"):
        pd.testing.assert_frame_equal(getattr(log, name), getattr(plain, name))


def test_truth_of_the_logged_impressions_is_the_log_s(log: ClickLog, world: SynthWorld) -> None:
    p_ctr, p_cvr = world.truth(log.impressions)
    np.testing.assert_allclose(p_ctr, log.impressions["p_true"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(p_cvr, log.impressions["p_cvr_true"], rtol=1e-12, atol=0)
    # any subset, in any order: a row's truth depends on the row alone
    rows = np.random.default_rng(0).permutation(len(log.impressions))[:500]
    p_some, _ = world.truth(log.impressions.iloc[rows])
    np.testing.assert_allclose(p_some, log.impressions["p_true"].to_numpy()[rows], rtol=1e-12)


def test_without_conversions_the_cvr_truth_is_nan() -> None:
    plain, world = synthesize_world(replace(SMALL, n_impressions=3_000, cvr_mean=0.0))
    p_ctr, p_cvr = world.truth(plain.impressions)
    np.testing.assert_allclose(p_ctr, plain.impressions["p_true"], rtol=1e-12)
    assert world.conversion is None and np.isnan(p_cvr).all()


# ---------------------------------------------------------------- what-if: another ad, context


def _last_events(log: ClickLog, user: str, ts: int, n: int) -> pd.DataFrame:
    """The user's last ``n`` events strictly before ``ts`` (read from the log, not the world)."""
    events = log.events
    mine = events[(events["user_id"] == user) & (events["ts"] < ts)]
    return mine.sort_values("ts", kind="stable").tail(n)


def _devoted_row(log: ClickLog) -> tuple[pd.DataFrame, str, pd.Series]:
    """A late impression whose user has one topic many times in the last H events, and the
    counts of those events' topics."""
    imps = log.impressions
    for i in range(len(imps) - 1, 0, -97):
        row = imps.iloc[[i]]
        recent = _last_events(
            log, row["user_id"].iloc[0], int(row["ts"].iloc[0]), SMALL.history_len
        )
        counts = recent["topic"].value_counts()
        if len(counts) and counts.iloc[0] >= 6:
            return row, str(counts.index[0]), counts
    raise AssertionError("no impression with a devoted user")


def test_an_ad_of_a_topic_the_user_reads_gets_more_clicks(log: ClickLog, world: SynthWorld) -> None:
    """The same row, the same ad, only its fine topic moved to one of the same vertical the
    user never touched: the click logit drops by exactly the affinity terms of the counts
    read from the log's events, the conversion logit by its (smaller) topic term."""
    row, loved, counts = _devoted_row(log)
    ads = log.ads
    vertical = ads.loc[ads["topic"] == loved, "category"].iloc[0]
    same_vertical = ads.loc[ads["category"] == vertical, "topic"].unique()
    untouched = [t for t in same_vertical if t not in counts.index]
    ad = int(np.flatnonzero(ads["topic"].to_numpy() == loved)[0])
    row = row.assign(ad_id=ads["ad_id"].iloc[ad])
    k_topic = int(counts[loved])
    k_vert = int(counts[[t for t in counts.index if t in same_vertical and t != loved]].sum())

    moved_topic = world.ads.topic.copy()
    moved_topic[ad] = world.catalog.topics.index(untouched[0])
    moved = replace(world, ads=replace(world.ads, topic=moved_topic))
    (ctr_loved,), (cvr_loved,) = world.truth(row)
    (ctr_moved,), (cvr_moved,) = moved.truth(row)

    a, b = SMALL.topic_weight, SMALL.vertical_weight
    expected = a * np.log1p(k_topic) + b * np.log1p(k_vert) - b * np.log1p(k_vert + k_topic)
    assert ctr_loved > 2 * ctr_moved
    assert logit(ctr_loved) - logit(ctr_moved) == pytest.approx(expected, rel=1e-9)
    assert logit(cvr_loved) - logit(cvr_moved) == pytest.approx(
        AFFINITY_CVR_WEIGHT * np.log1p(k_topic), rel=1e-9
    )


def test_showing_users_the_ads_of_their_topic_raises_the_click_rate(
    log: ClickLog, world: SynthWorld
) -> None:
    """Real ads swapped in: for late impressions of users with a favourite topic, an ad of
    that topic beats an ad of a vertical absent from their recent events in most rows (the
    ads' other effects differ, so not in every row)."""
    imps, ads = log.impressions, log.ads
    better, tried = 0, 0
    for i in range(len(imps) - 1, len(imps) - 4_000, -41):
        row = imps.iloc[[i]]
        recent = _last_events(
            log, row["user_id"].iloc[0], int(row["ts"].iloc[0]), SMALL.history_len
        )
        counts = recent["topic"].value_counts()
        if not len(counts) or counts.iloc[0] < 4:
            continue
        seen_verticals = set(ads.loc[ads["topic"].isin(counts.index), "category"])
        loved = ads[ads["topic"] == counts.index[0]]["ad_id"].iloc[0]
        other = ads[~ads["category"].isin(seen_verticals)]["ad_id"].iloc[0]
        (p_loved, p_other), _ = world.truth(
            pd.concat([row.assign(ad_id=loved), row.assign(ad_id=other)])
        )
        better += p_loved > p_other
        tried += 1
    assert tried >= 30 and better / tried > 0.9


def test_position_moves_the_click_and_not_the_conversion(log: ClickLog, world: SynthWorld) -> None:
    rows = log.impressions.iloc[:200]
    top = rows.assign(ctx_position=1)
    low = rows.assign(ctx_position=8)
    (ctr_top, cvr_top), (ctr_low, cvr_low) = world.truth(top), world.truth(low)
    np.testing.assert_allclose(
        logit(ctr_top) - logit(ctr_low), position_effect(np.array(1)) - position_effect(np.array(8))
    )
    np.testing.assert_allclose(cvr_top, cvr_low, rtol=1e-12)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ad_id": "a99999"}, "ad_id: 1 row"),
        ({"user_id": "nobody"}, "user_id: 1 row"),
        ({"ctx_device": "watch"}, "ctx_device"),
        ({"ctx_position": 0}, "ctx_position"),
        ({"ctx_hour": 99}, "ctx_hour: 1 row"),
        ({"ctx_age_band": "nope"}, "ctx_age_band"),
    ],
)
def test_rows_the_world_does_not_know_are_refused(
    log: ClickLog, world: SynthWorld, change: dict[str, object], message: str
) -> None:
    rows = log.impressions.iloc[:3].copy()
    for column, value in change.items():
        rows[column] = rows[column].astype(object)
        rows.iloc[1, rows.columns.get_loc(column)] = value
    with pytest.raises(ValueError, match=message):
        world.truth(rows)
    with pytest.raises(ValueError, match="ctx_slot"):
        world.truth(rows.drop(columns="ctx_slot"))


# ---------------------------------------------------------------- the world on disk


def test_load_world_regenerates_the_world_of_adrank_synth(tmp_path: Path) -> None:
    out = tmp_path / "synth"
    main(["synth", "--out", str(out), *CLI_SMALL])
    saved = json.loads((out / CONFIG_FILE).read_text())
    assert saved["seed"] == 7 and saved["n_impressions"] == 40_000 and saved["cvr_mean"] == 0.1
    world = load_world(out, progress=False)
    assert replace(world.config, progress=True) == replace(SMALL, progress=True)
    back, _ = read_clicklog(out)  # context columns as read from disk
    p_ctr, p_cvr = world.truth(back.impressions)
    np.testing.assert_allclose(p_ctr, back.impressions["p_true"], rtol=1e-12)
    np.testing.assert_allclose(p_cvr, back.impressions["p_cvr_true"], rtol=1e-12)


def test_load_world_refuses_a_log_its_config_does_not_make(tmp_path: Path) -> None:
    config = replace(SMALL, n_impressions=2_000)
    write_clicklog(synthesize(config), tmp_path)
    with pytest.raises(ValueError, match=CONFIG_FILE):
        load_world(tmp_path)
    write_config(replace(config, seed=8), tmp_path)  # same size, another truth
    with pytest.raises(ValueError, match=r"not the one synth_config\.json makes"):
        load_world(tmp_path)
    write_config(replace(config, n_impressions=2_001), tmp_path)
    with pytest.raises(ValueError, match="2,000 impressions"):
        load_world(tmp_path)
    write_config(config, tmp_path)
    assert load_world(tmp_path).config.n_impressions == 2_000
    (tmp_path / CONFIG_FILE).write_text(json.dumps({"seed": 7, "colour": "red"}))
    with pytest.raises(ValueError, match="unknown field"):
        load_world(tmp_path)


# ---------------------------------------------------------------- auctions of unshown ads


def test_auction_requests_hold_live_ads_with_their_truth_and_bids(
    log: ClickLog, world: SynthWorld
) -> None:
    imps = log.impressions
    rows = np.arange(len(imps) - 3_000, len(imps))
    auctions = auction_requests(log, world, rows, n_candidates=8, seed=1)
    assert auctions.equals(auction_requests(log, world, rows, n_candidates=8, seed=1))
    context = [c for c in imps.columns if c.startswith("ctx_")]
    head, tail = ["auction", "user_id", "ad_id", "ts", "label", "p_true"], ["p_cvr_true"]
    assert list(auctions.columns) == [*head, *context, *tail, "bid_type", "bid", "logged"]
    assert (auctions.groupby("auction").size() == 8).all()
    assert (auctions["label"] == 0).all()
    assert auctions.groupby("auction")["ad_id"].nunique().eq(8).all()
    # the logged ad first, in the impression's own user, time and context
    own = auctions[auctions["logged"]]
    pd.testing.assert_frame_equal(
        own[["user_id", "ad_id", "ts", *context]].reset_index(drop=True),
        imps.iloc[rows][["user_id", "ad_id", "ts", *context]].reset_index(drop=True),
    )
    np.testing.assert_allclose(own["p_true"], imps["p_true"].to_numpy()[rows], rtol=1e-12)
    np.testing.assert_allclose(own["p_cvr_true"], imps["p_cvr_true"].to_numpy()[rows], rtol=1e-12)
    launch = log.ads.set_index("ad_id")["launch_ts"].reindex(auctions["ad_id"]).to_numpy()
    assert (launch <= auctions["ts"].to_numpy()).all()
    # one bid and one type per ad, a third of the ads each
    per_ad = auctions.groupby("ad_id")[["bid_type", "bid"]].nunique()
    assert (per_ad == 1).all().all()
    types = auctions.drop_duplicates("ad_id")["bid_type"].value_counts(normalize=True)
    assert set(types.index) == {0, 1, 2} and (abs(types - 1 / 3) < 0.1).all()
    # the three types compete: similar median true eCPM (equal as if every ad bid each way,
    # test_revenue; here ~100 ads per type of very different values: seeds give up to 1.5x)
    median = pd.Series(true_value(auctions)).groupby(auctions["bid_type"].to_numpy()).median()
    assert median.max() < 1.6 * median.min(), {BID_TYPES[t]: v for t, v in median.items()}


def test_the_conversion_ceiling_without_the_latents_sits_below_the_oracle(
    log: ClickLog, world: SynthWorld
) -> None:
    split = split_for(log, "standard")
    result = ceilings(log, split, world)
    test = log.impressions[split == "test"]
    whole = result["oracle (whole truth)"]
    assert whole["ctcvr_auc"] == pytest.approx(
        auc(test["converted"].fillna(0), test["p_ctcvr_true"]), abs=1e-9
    )
    assert whole["cvr_expected_auc"] == pytest.approx(
        expected_auc(test["p_cvr_true"], test["p_cvr_true"]), abs=1e-9
    )
    # each latent carries part of the truth: not knowing it costs the CVR ranking
    both = result["without intent and landing"]["cvr_expected_auc"]
    for name in ("without intent", "without landing"):
        assert both < result[name]["cvr_expected_auc"] < whole["cvr_expected_auc"]
    # and so does the price, though a log shows it
    unpriced = result["without intent, landing and price"]["cvr_expected_auc"]
    assert unpriced < both
    assert result["without price"]["cvr_expected_auc"] < whole["cvr_expected_auc"]
    # a model of the visible terms fitted on the log's few conversions learns some of them
    fitted = logistic_row(log, split, world)["cvr_expected_auc"]
    assert 0.55 < fitted < whole["cvr_expected_auc"]


def test_marginal_sigmoid_averages_over_the_unknown_latent() -> None:
    z = np.array([-3.0, 0.0, 2.0])
    assert marginal_sigmoid(z, 0.0) == pytest.approx(expit(z))
    rng = np.random.default_rng(0)
    draws = expit(z[:, None] + 0.8 * rng.standard_normal((1, 400_000))).mean(1)
    assert marginal_sigmoid(z, 0.8) == pytest.approx(draws, abs=2e-3)
    assert marginal_sigmoid(z, 0.8)[1] == pytest.approx(0.5)  # symmetric about 0
