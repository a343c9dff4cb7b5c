"""The shared featurisation (service.features): pure functions, used offline and online."""

from pathlib import Path

import numpy as np
import pandas as pd

from model_export.data.clicklog import ClickLog
from model_export.data.sources import load_source, split_for
from model_export.train.arrays import context_frame, featurise
from service.features.context import ContextSpec, build_vocab, canonical, time_context
from service.features.prior import ad_bucket, prior_features, unknown_prior
from service.features.text import ad_text, item_text
from service.features.tokens import bucket_length, length_sorted_batches, pad_batch


def test_ad_text_joins_the_present_fields() -> None:
    assert ad_text("Trail shoes", "30% off", "Sports") == "Sports: Trail shoes. 30% off"
    assert ad_text("Trail shoes!", "30% off") == "Trail shoes! 30% off"
    assert ad_text("  Trail \n shoes ") == "Trail shoes"
    assert item_text("a\tb  c") == "a b c"


def test_context_ids_unknown_and_canonical_values() -> None:
    spec = ContextSpec(("device", "hour"), {"device": ["desktop", "mobile"], "hour": ["0", "13"]})
    assert spec.sizes() == [3, 3]
    assert spec.encode({"device": " Mobile", "hour": 13}).tolist() == [2, 2]
    assert spec.encode({"device": "fridge"}).tolist() == [0, 0]
    assert spec.encode({"hour": 13.0}).tolist() == [0, 2]
    # hour comes from the timestamp when the request does not say it
    assert spec.encode({}, ts=13 * 3600).tolist() == [0, 2]
    assert canonical(3.0) == "3"


def test_build_vocab_counts_and_caps() -> None:
    values = ["a", "b", "b", "c", "c", "c", None, ""]
    assert build_vocab(values) == ["a", "b", "c"]
    assert build_vocab(values, min_count=2) == ["b", "c"]
    assert build_vocab(values, max_size=1) == ["c"]


def test_vectorised_time_context_matches_the_online_one() -> None:
    ts = np.random.default_rng(0).integers(1_600_000_000, 1_800_000_000, 500)
    log = ClickLog(
        "t",
        pd.DataFrame(),
        pd.DataFrame(),
        pd.DataFrame({"ts": ts, "user_id": "u", "ad_id": "a", "label": 0}),
        [],
    )
    frame = context_frame(log)
    expected = [time_context(float(t)) for t in ts]
    assert frame["hour"].tolist() == [e["hour"] for e in expected]
    assert frame["weekday"].tolist() == [e["weekday"] for e in expected]


def test_prior_shrinks_to_the_global_rate() -> None:
    f = prior_features(np.array([0.0, 50.0, 5.0]), np.array([0.0, 100.0, 100.0]), 0.05, 20.0)
    p = 1 / (1 + np.exp(-f[:, 0]))
    assert np.isclose(p[0], 0.05)
    assert np.isclose(p[1], (50 + 1) / 120)
    assert np.allclose(unknown_prior(0.05, 20.0), f[0])
    assert f[1, 1] == np.float32(np.log1p(100))


def test_ad_bucket_is_stable_and_never_the_unknown_bucket() -> None:
    buckets = [ad_bucket(f"ad{i}", 64) for i in range(1000)]
    assert min(buckets) == 1 and max(buckets) == 63
    assert ad_bucket("ad7", 64) == buckets[7]


def test_length_sorted_batches_keep_the_token_budget() -> None:
    rng = np.random.default_rng(1)
    ids = [np.ones(n, dtype=np.int64) for n in rng.integers(3, 60, 200)]
    buckets = (16, 32, 64)
    batches = length_sorted_batches(ids, 512, buckets)
    assert sorted(np.concatenate(batches).tolist()) == list(range(200))
    for rows in batches:
        width = bucket_length(max(len(ids[r]) for r in rows), buckets)
        assert width * len(rows) <= 512 or len(rows) == 1
    input_ids, mask = pad_batch([np.array([5, 6, 7]), np.array([8])], 4)
    assert input_ids.tolist() == [[5, 6, 7, 0], [8, 0, 0, 0]]
    assert mask.sum(1).tolist() == [3, 1]


def test_without_the_ad_prior_every_ad_is_featurised_as_a_new_one(
    tiny_data: Path, cache_dir: Path
) -> None:
    log = load_source(str(tiny_data), cache_dir, False)
    split = split_for(log, "standard", 0)
    with_prior, spec = featurise(log, split, 8, 20.0)
    assert len(spec.ad_stats) > 0 and (with_prior.bucket[with_prior.rows("train")] > 0).all()
    feats, blind = featurise(log, split, 8, 20.0, ad_prior=False)
    assert blind.ad_stats.empty and blind.global_ctr == spec.global_ctr
    assert (feats.bucket == 0).all()
    np.testing.assert_array_equal(
        feats.prior, np.tile(unknown_prior(spec.global_ctr, 20.0), (len(feats.label), 1))
    )
    again, _ = featurise(log, split, 8, 20.0, blind)  # as evaluation and export read it back
    np.testing.assert_array_equal(again.prior, feats.prior)
