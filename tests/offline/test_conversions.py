"""Conversions on the synthetic platform and in the log format: a known conversion truth that
differs from the click truth, delays per advertiser, a log cut before every click matured, and
logs without conversions that still load and say so."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from model_export.data.clicklog import CONVERSION_COLUMNS, IMPRESSION_COLUMNS, ClickLog
from model_export.data.io import DataError, parse_conversion, read_clicklog, write_clicklog
from model_export.data.mind import convert_mind
from model_export.data.movielens import movie_ads, rating_impressions
from model_export.data.synth import CONTEXT_FIELDS, SynthConfig, synthesize
from model_export.data.synth_conversion import (
    DAY_S,
    DEVICE_CVR,
    HOUR_S,
    OFFER_CVR_EFFECT,
    SLOT_CVR,
    delay_cdf,
    hour_cvr_effect,
    make_delays,
    pooled_share,
    price_effect,
    sample_delays,
)
from model_export.data.synth_text import OFFERS

SMALL = replace(SynthConfig.small(), cvr_mean=0.05)
# many conversions for the realised rates: 12k clicks, ~2.4k conversions
RICH = replace(SynthConfig.small(), n_impressions=120_000, target_ctr=0.1, cvr_mean=0.2)
MATURE = replace(RICH, cut_lag_days=RICH.attribution_days)  # every click has had its window
TRUTH_COLUMNS = ["p_cvr_true", "p_ctcvr_true", "converted_eventually"]
TS = 1_700_000_000


@pytest.fixture(scope="module")
def log() -> ClickLog:
    return synthesize(SMALL)


@pytest.fixture(scope="module")
def rich() -> ClickLog:
    return synthesize(RICH)


def _ad_column(log: ClickLog, name: str) -> np.ndarray:
    return log.ads.set_index("ad_id")[name].reindex(log.impressions["ad_id"]).to_numpy()


def _clicks(log: ClickLog) -> pd.DataFrame:
    return log.impressions[log.impressions["label"] == 1]


# ---------------------------------------------------------------- the click log is untouched


def test_the_default_click_log_is_the_same_with_conversions() -> None:
    """The conversion step draws from streams of its own: every column of the default log
    (300k impressions), the click labels included, is the same with or without it; only the
    ads' descriptions gain their price."""
    plain = synthesize(SynthConfig(progress=False, cvr_mean=0.0))
    with_conversions = synthesize(SynthConfig(progress=False))
    for name in ("ads", "events", "impressions"):
        before, after = getattr(plain, name), getattr(with_conversions, name)
        assert list(after.columns[: len(before.columns)]) == list(before.columns)
        same = [c for c in before.columns if not (name == "ads" and c == "description")]
        pd.testing.assert_frame_equal(after[same], before[same])
    priced = plain.ads["description"] + with_conversions.ads["price"].map(" From ${:,.2f}.".format)
    assert (with_conversions.ads["description"] == priced).all()
    added = list(with_conversions.impressions.columns[len(plain.impressions.columns) :])
    assert added == CONVERSION_COLUMNS + TRUTH_COLUMNS


def test_without_cvr_mean_there_are_no_conversions() -> None:
    plain = synthesize(replace(SynthConfig.small(), cvr_mean=0.0))
    ctx = [plain.context_column(f) for f in CONTEXT_FIELDS]
    assert list(plain.impressions.columns) == IMPRESSION_COLUMNS + ctx
    assert not plain.has_conversions
    assert "conversions" not in plain.summary()


def test_same_seed_same_conversions(log: ClickLog) -> None:
    again = synthesize(SMALL)
    pd.testing.assert_frame_equal(again.impressions, log.impressions)
    pd.testing.assert_frame_equal(again.ads, log.ads)
    other = synthesize(replace(SMALL, seed=SMALL.seed + 1))
    assert not np.allclose(other.impressions["p_cvr_true"], log.impressions["p_cvr_true"])


# ---------------------------------------------------------------- the conversion truth


def test_columns_and_dtypes(log: ClickLog) -> None:
    imps = log.impressions
    assert log.has_conversions
    assert imps["converted"].dtype == "Int8" and imps["conversion_ts"].dtype == "Int64"
    assert ((imps["p_cvr_true"] > 0) & (imps["p_cvr_true"] < 1)).all()
    np.testing.assert_allclose(imps["p_ctcvr_true"], imps["p_true"] * imps["p_cvr_true"])
    ads = log.ads
    assert [ad for ad, title in zip(ads["advertiser"], ads["title"], strict=True)
            if ad not in title] == []  # fmt: skip
    assert ads.groupby("advertiser")["category"].nunique().max() == 1
    assert (ads["price"] > 0).all()
    # one delay distribution per advertiser
    assert (
        (ads.groupby("advertiser")[["delay_fast_share", "delay_slow_median_s"]].nunique() == 1)
        .all()
        .all()
    )


def test_cvr_of_clicks_is_the_configured_mean(rich: ClickLog) -> None:
    imps = rich.impressions
    expected = (imps["p_true"] * imps["p_cvr_true"]).sum() / imps["p_true"].sum()
    assert expected == pytest.approx(RICH.cvr_mean, rel=1e-3)
    clicks = _clicks(rich)
    p = clicks["p_cvr_true"].to_numpy()
    se = np.sqrt((p * (1 - p)).sum()) / len(p)
    assert abs(clicks["converted_eventually"].mean() - p.mean()) < 4 * se
    assert abs(p.mean() - RICH.cvr_mean) < 0.01  # the clicks drawn, not only their expectation


def test_conversions_follow_p_cvr_in_every_quintile(rich: ClickLog) -> None:
    clicks = _clicks(rich)
    bucket = pd.qcut(clicks["p_cvr_true"], 5, labels=False)
    for _, rows in clicks.groupby(bucket):
        p, y = rows["p_cvr_true"].to_numpy(), rows["converted_eventually"].to_numpy()
        assert abs(y.mean() - p.mean()) < 4 * np.sqrt((p * (1 - p)).sum()) / len(p)


def test_effect_tables_go_the_documented_way() -> None:
    assert DEVICE_CVR["desktop"] > DEVICE_CVR["tablet"] > DEVICE_CVR["mobile"]
    assert max(SLOT_CVR, key=SLOT_CVR.__getitem__) == "search"
    assert min(SLOT_CVR, key=SLOT_CVR.__getitem__) == "in_article"
    hours = np.arange(24)
    assert hours[np.argmax(hour_cvr_effect(hours))] == 14
    assert hours[np.argmin(hour_cvr_effect(hours))] == 2
    level = np.linspace(-2, 2, 9)
    assert (np.diff(price_effect(level, np.zeros(9))) < 0).all()
    assert price_effect(np.zeros(1), np.ones(1))[0] < price_effect(np.zeros(1), -np.ones(1))[0]
    assert set(OFFER_CVR_EFFECT) == {o.phrase for o in OFFERS}
    click = {o.phrase: o.effect for o in OFFERS}
    trial, half_off = "Try it free for 30 days", "Limited-time deal: 50% off"
    assert click[half_off] > click[trial] and OFFER_CVR_EFFECT[half_off] < OFFER_CVR_EFFECT[trial]
    phrases = list(click)
    order = spearmanr([click[p] for p in phrases], [OFFER_CVR_EFFECT[p] for p in phrases])
    assert order.statistic < 0.8


def test_the_log_shows_the_documented_directions(log: ClickLog) -> None:
    imps = log.impressions
    p = imps["p_cvr_true"]
    by_device = p.groupby(imps["ctx_device"]).mean()
    assert by_device["desktop"] > by_device["tablet"] > by_device["mobile"]
    by_slot = p.groupby(imps["ctx_slot"]).mean()
    assert by_slot.idxmax() == "search" and by_slot.idxmin() == "in_article"
    hour = imps["ctx_hour"].to_numpy()
    assert p[(hour >= 12) & (hour <= 16)].mean() > 1.3 * p[(hour >= 0) & (hour <= 4)].mean()
    level = _ad_column(log, "price_level")
    assert p[level > 0.7].mean() < 0.8 * p[level < -0.7].mean()
    phrase = pd.Series(_ad_column(log, "description")).str.split(".").str[0]
    by_offer = p.groupby(phrase.to_numpy()).mean()
    assert by_offer["Try it free for 30 days"] > by_offer["Learn more on our website"]
    # position moves the click, not the conversion
    by_position = p.groupby(imps["ctx_position"]).mean()
    assert by_position.max() < 1.15 * by_position.min()
    assert imps["p_true"].groupby(imps["ctx_position"]).mean().pipe(lambda s: s[1] > 1.5 * s[8])


def test_cvr_is_not_a_function_of_ctr(rich: ClickLog) -> None:
    """A click model used as a conversion model is measurably wrong."""
    imps = rich.impressions
    assert spearmanr(imps["p_true"], imps["p_cvr_true"]).statistic < 0.5
    clicks = _clicks(rich)
    y = clicks["converted_eventually"]
    oracle, ctr_as_cvr = roc_auc_score(y, clicks["p_cvr_true"]), roc_auc_score(y, clicks["p_true"])
    assert oracle > ctr_as_cvr + 0.1
    decile = pd.qcut(imps["p_true"], 10, labels=False)
    spread = imps["p_cvr_true"].groupby(decile).quantile(0.9) / imps["p_cvr_true"].groupby(
        decile
    ).quantile(0.1)
    assert (spread > 3).all()  # one click rate, very different conversion rates


# ---------------------------------------------------------------- labels, delays and the cut


def test_conversions_only_on_clicks_and_before_the_cut(log: ClickLog) -> None:
    imps = log.impressions
    converted = imps["converted"].to_numpy(dtype=np.int64)
    eventually = imps["converted_eventually"].to_numpy()
    assert (converted <= eventually).all() and (eventually <= imps["label"]).all()
    assert converted.sum() > 0
    when = imps["conversion_ts"]
    assert (when.isna().to_numpy() == (converted == 0)).all()
    done = converted == 1
    delay = when[done].to_numpy(dtype=np.int64) - imps["ts"][done].to_numpy()
    assert (delay >= 0).all() and (delay <= SMALL.attribution_days * DAY_S).all()
    assert (when[done] <= SMALL.cut_ts).all()


def test_recent_clicks_have_not_converted_yet(rich: ClickLog) -> None:
    clicks = _clicks(rich)
    age = RICH.cut_ts - clicks["ts"]
    logged, eventually = clicks["converted"].astype(int), clicks["converted_eventually"]
    last_day, old = age < DAY_S, age > 20 * DAY_S
    assert logged[last_day].sum() < 0.7 * eventually[last_day].sum()
    assert logged[old].sum() > 0.9 * eventually[old].sum()
    assert logged[last_day].mean() < 0.7 * clicks["p_cvr_true"][last_day].mean()
    mature = synthesize(MATURE)
    pd.testing.assert_series_equal(
        mature.impressions["converted"].astype(np.int8),
        mature.impressions["converted_eventually"],
        check_names=False,
    )


def test_delays_arrive_as_configured_once_every_click_matured() -> None:
    clicks = _clicks(synthesize(MATURE))
    done = clicks["converted"] == 1
    delay = (clicks["conversion_ts"][done] - clicks["ts"][done]).to_numpy(dtype=np.int64)
    assert len(delay) > 1_500
    assert (delay <= HOUR_S).mean() == pytest.approx(MATURE.delay_within_hour, abs=0.05)
    assert (delay <= DAY_S).mean() == pytest.approx(MATURE.delay_within_day, abs=0.05)
    assert (delay > 14 * DAY_S).mean() > 0.02  # a long tail


@pytest.mark.parametrize(("hour", "day"), [(0.35, 0.5), (0.2, 0.6)])
def test_delay_mixture_is_calibrated_to_the_pooled_shares(hour: float, day: float) -> None:
    config = replace(SynthConfig(), delay_within_hour=hour, delay_within_day=day)
    rng = np.random.default_rng(0)
    n_advertisers = 100
    weight = rng.lognormal(0.0, 1.0, n_advertisers)
    delays = make_delays(rng, config, rng.normal(0.0, 1.0, n_advertisers), weight)
    window = config.attribution_days * DAY_S
    assert pooled_share(HOUR_S, delays, weight, window) == pytest.approx(hour, abs=1e-3)
    assert pooled_share(DAY_S, delays, weight, window) == pytest.approx(day, abs=1e-3)
    assert np.ptp(delays.fast_share) > 0.3  # advertisers differ
    # draws: advertisers in proportion to their expected conversions (among those within
    # the window: weight times the mixture's mass inside it)
    mass = weight * delay_cdf(window, delays)
    advertiser = rng.choice(n_advertisers, 400_000, p=mass / mass.sum())
    drawn = sample_delays(rng, delays, advertiser, window)
    assert (drawn >= 0).all() and (drawn <= window).all()
    assert (drawn <= HOUR_S).mean() == pytest.approx(hour, abs=0.005)
    assert (drawn <= DAY_S).mean() == pytest.approx(day, abs=0.005)


def test_unreachable_delay_shares_are_refused() -> None:
    config = replace(SynthConfig(), delay_within_hour=0.999, delay_within_day=0.9995)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="delay_within_hour"):
        make_delays(rng, config, np.zeros(3), np.ones(3))


# ---------------------------------------------------------------- the log format


def test_round_trip_keeps_the_conversions(log: ClickLog, tmp_path: Path) -> None:
    write_clicklog(log, tmp_path)
    back, report = read_clicklog(tmp_path)
    assert report.total_skipped == 0 and back.has_conversions
    for column in CONVERSION_COLUMNS:
        pd.testing.assert_series_equal(back.impressions[column], log.impressions[column])
    for column in [*TRUTH_COLUMNS, "p_true", "label", "ts"]:
        np.testing.assert_array_equal(back.impressions[column], log.impressions[column])
    np.testing.assert_array_equal(back.ads["price"], log.ads["price"])
    assert back.summary()["conversions"] == int(log.impressions["converted"].sum())
    lines = (tmp_path / "impressions.jsonl").read_bytes().splitlines()
    first = orjson.loads(lines[0])
    assert first["converted"] in (0, 1) and ("conversion_ts" in first) == (first["converted"] == 1)


def _impressions_dir(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    (tmp_path / "ads.jsonl").write_bytes(orjson.dumps({"ad_id": "a1", "title": "Shoes"}) + b"\n")
    lines = [orjson.dumps(row) for row in rows]
    (tmp_path / "impressions.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return tmp_path


def _row(**fields: object) -> dict[str, object]:
    return {"user_id": "u1", "ad_id": "a1", "ts": TS, "label": 1, **fields}


def test_a_log_without_conversions_loads_and_says_so(tmp_path: Path) -> None:
    plain, _ = read_clicklog(_impressions_dir(tmp_path, [_row(), _row(label=0)]))
    assert not plain.has_conversions
    assert not set(CONVERSION_COLUMNS) & set(plain.impressions.columns)
    assert "conversions" not in plain.summary()


def test_missing_labels_are_na_and_times_optional(tmp_path: Path) -> None:
    rows = [_row(converted=1), _row(converted=1, conversion_ts=TS + 60), _row(label=0), _row()]
    log, _ = read_clicklog(_impressions_dir(tmp_path, rows))
    assert log.has_conversions
    assert log.impressions["converted"].tolist() == [1, 1, pd.NA, pd.NA]
    assert log.impressions["conversion_ts"].tolist() == [pd.NA, TS + 60, pd.NA, pd.NA]
    assert log.summary()["cvr"] == 1.0  # 2 conversions of the 2 clicks with a known label


def test_mind_and_movielens_logs_have_no_conversions(tmp_path: Path) -> None:
    mind = tmp_path / "mind"
    mind.mkdir()
    (mind / "news.tsv").write_text("N1\tsports\tnfl\tBig game\tTeams.\thttps://x/1\t[]\t[]\n")
    (mind / "behaviors.tsv").write_text("1\tU1\t11/11/2019 9:05:58 AM\t\tN1-1\n")
    convert_mind(mind, tmp_path / "out")
    log, _ = read_clicklog(tmp_path / "out")
    assert not log.has_conversions
    items = pd.DataFrame(
        {"item_id": ["1"], "movie_title": ["Toy Story"], "release_year": ["1995"],
         "class": ["Animation"]}
    )  # fmt: skip
    ratings = pd.DataFrame(
        {"user_id": ["7"], "item_id": ["1"], "rating": ["5"], "timestamp": [str(TS)]}
    )
    users = pd.DataFrame({"user_id": ["7"], "age": ["30"], "gender": ["F"], "occupation": ["x"]})
    movies = ClickLog("ml", movie_ads(items), pd.DataFrame(), rating_impressions(ratings, users))
    assert not movies.has_conversions


INVALID_CONVERSIONS = [
    ({"converted": 2}, "converted", "field 'converted': must be 0 or 1, got 2"),
    ({"converted": True}, "converted", "field 'converted': must be 0 or 1, got true"),
    (
        {"label": 0, "converted": 1},
        "converted",
        "field 'converted': a conversion needs a click (label 1), got 1",
    ),
    (
        {"converted": 1, "conversion_ts": TS - 1},
        "conversion_ts",
        f"field 'conversion_ts': must not be before ts, got {TS - 1} (ts {TS})",
    ),
    (
        {"converted": 0, "conversion_ts": TS + 5},
        "conversion_ts",
        f"field 'conversion_ts': only with converted 1, got {TS + 5}",
    ),
    (
        {"conversion_ts": TS + 5},
        "conversion_ts",
        f"field 'conversion_ts': only with converted 1, got {TS + 5}",
    ),
    (
        {"converted": 1, "conversion_ts": str(TS + 5)},
        "conversion_ts",
        f"field 'conversion_ts': must be an integer (unix seconds), got \"{TS + 5}\"",
    ),
    (
        {"converted": 1, "conversion_ts": (TS + 5) * 1000},
        "conversion_ts",
        "field 'conversion_ts': must be unix seconds in [0, 1e11) (milliseconds?), "
        f"got {(TS + 5) * 1000}",
    ),
]


@pytest.mark.parametrize(("fields", "field", "message"), INVALID_CONVERSIONS)
def test_invalid_conversion_fields_are_refused_naming_the_field(
    tmp_path: Path, fields: dict[str, object], field: str, message: str
) -> None:
    rows = [_row(converted=0), _row(**fields)]
    with pytest.raises(DataError) as caught:
        read_clicklog(_impressions_dir(tmp_path, rows))
    assert str(caught.value) == f"impressions.jsonl:2: {message}"
    assert (caught.value.field, caught.value.line) == (field, 2)


def test_skip_mode_counts_invalid_conversions(tmp_path: Path) -> None:
    rows = [_row(converted=1), _row(label=0, converted=1), _row(converted=1, conversion_ts=1)]
    log, report = read_clicklog(_impressions_dir(tmp_path, rows), skip_invalid=True)
    assert len(log.impressions) == 1
    assert report.skipped["impressions.jsonl"] == {
        "field 'converted': a conversion needs a click (label 1)": 1,
        "field 'conversion_ts': must not be before ts": 1,
    }


def test_pure_conversion_parser() -> None:
    assert parse_conversion({}, TS, 0) == (None, None)
    assert parse_conversion({"converted": 0}, TS, 0) == (0, None)
    assert parse_conversion({"converted": 1, "conversion_ts": TS}, TS, 1) == (1, TS)
