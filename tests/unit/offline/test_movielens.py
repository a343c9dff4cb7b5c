"""MovieLens 100k from the recbole wheel, and the evaluation protocols on it.

Uses the wheel at /tmp/dl when present, otherwise downloads it once into ~/.cache/adrank.
"""

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model_export.data.clicklog import ClickLog
from model_export.data.io import read_clicklog, write_clicklog
from model_export.data.movielens import (
    DEFAULT_CACHE_DIR,
    RECBOLE_WHEEL,
    age_band,
    cold_item_mask,
    fetch_wheel,
    load_movielens,
)
from model_export.data.protocols import (
    cold_item_split,
    cold_start_mask,
    standard_split,
    withheld_ads,
)
from service.features.context import time_context
from service.features.text import ad_text

PRESENT_WHEEL_DIR = Path("/tmp/dl")


@pytest.fixture(scope="module")
def movielens() -> ClickLog:
    have_copy = (PRESENT_WHEEL_DIR / RECBOLE_WHEEL).is_file()
    return load_movielens(PRESENT_WHEEL_DIR if have_copy else DEFAULT_CACHE_DIR)


# ---------------------------------------------------------------- the data set


def test_sizes_and_label_rate(movielens: ClickLog) -> None:
    summary = movielens.summary()
    assert summary["impressions"] == 100_000
    assert summary["users"] == 943
    assert summary["ads"] == 1_682
    assert movielens.impressions["ad_id"].nunique() == 1_682
    assert summary["ctr"] == pytest.approx(0.55375)
    assert movielens.context_fields == ["age", "gender", "hour", "occupation", "weekday"]


def test_movie_ads_carry_title_year_and_genres(movielens: ClickLog) -> None:
    ads = movielens.ads.set_index("ad_id")
    assert ads.loc["1"].tolist() == ["Toy Story (1995)", "Animation, Children's, Comedy", ""]
    assert ads.loc["1373"].tolist() == ["Good Morning (1971)", "", ""]  # genre "unknown"
    assert (ads["category"] == "").all()


def test_events_are_the_liked_ratings_with_the_ad_text(movielens: ClickLog) -> None:
    imps, events = movielens.impressions, movielens.events
    liked = imps[imps["label"] == 1]
    assert len(events) == len(liked) == 55_375
    assert events["user_id"].tolist() == liked["user_id"].tolist()
    assert events["ts"].tolist() == liked["ts"].tolist()
    assert set(events["type"]) == {"like"}
    first = events.iloc[0]
    ad = movielens.ads.set_index("ad_id").loc[first["item_id"]]
    assert first["text"] == ad_text(ad["title"], ad["description"], ad["category"])
    assert first["text"] == (
        "Dr. Strangelove or: How I Learned to Stop Worrying and Love the Bomb (1963). Sci-Fi, War"
    )


def test_context_holds_user_attributes_and_time(movielens: ClickLog) -> None:
    imps = movielens.impressions
    first_of_user_1 = imps[imps["user_id"] == "1"].iloc[0]  # age 24, M, technician
    assert first_of_user_1[["ctx_age", "ctx_gender", "ctx_occupation"]].tolist() == [
        "18-24",
        "M",
        "technician",
    ]
    expected = time_context(int(first_of_user_1["ts"]))
    assert first_of_user_1["ctx_hour"] == expected["hour"]
    assert first_of_user_1["ctx_weekday"] == expected["weekday"]
    assert imps["p_true"].isna().all()


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (7, "under 18"),
        (17, "under 18"),
        (18, "18-24"),
        (24, "18-24"),
        (25, "25-34"),
        (49, "45-49"),
        (50, "50-55"),
        (55, "50-55"),
        (56, "56+"),
        (73, "56+"),
    ],
)
def test_age_bands(age: int, band: str) -> None:
    assert age_band(age) == band


def test_round_trips_through_the_documented_format(movielens: ClickLog, tmp_path: Path) -> None:
    write_clicklog(movielens, tmp_path)
    back, report = read_clicklog(tmp_path)
    pd.testing.assert_frame_equal(back.impressions, movielens.impressions)
    pd.testing.assert_frame_equal(back.events, movielens.events)
    pd.testing.assert_frame_equal(back.ads, movielens.ads)
    assert report.total_skipped == 0


def test_a_wheel_with_the_wrong_checksum_is_refused(tmp_path: Path) -> None:
    (tmp_path / RECBOLE_WHEEL).write_bytes(b"not the wheel")
    with pytest.raises(ValueError, match="sha256"):
        fetch_wheel(tmp_path)


# ---------------------------------------------------------------- the protocols on MovieLens


def test_standard_split_is_80_10_10_by_time(movielens: ClickLog) -> None:
    split = standard_split(movielens)
    assert Counter(split) == {"train": 80_000, "valid": 10_000, "test": 10_000}
    ts = movielens.impressions["ts"].to_numpy()
    assert ts[split == "train"].max() <= ts[split == "valid"].min()
    assert ts[split == "valid"].max() <= ts[split == "test"].min()


def test_cold_start_subset_is_small_and_unseen_in_training(movielens: ClickLog) -> None:
    imps = movielens.impressions
    split = standard_split(movielens)
    cold = cold_item_mask(imps, split)
    assert cold.sum() == 149  # the DESIGN's "about 150 test rows"
    assert set(split[cold]) == {"test"}
    assert not set(imps["ad_id"][cold]) & set(imps["ad_id"][split == "train"])
    warm_test = (split == "test") & ~cold
    assert set(imps["ad_id"][warm_test]) <= set(imps["ad_id"][split == "train"])


def test_cold_item_protocol_on_movielens(movielens: ClickLog) -> None:
    imps = movielens.impressions
    labels = cold_item_split(movielens, seed=0)
    counts = Counter(labels)
    assert counts == {"train": 55_779, "valid": 6_198, "test": 4_438, "unused": 33_585}
    withheld = set(withheld_ads(imps["ad_id"], 0, 0.2))
    assert len(withheld) == round(1_682 * 0.2)
    ads = imps["ad_id"].to_numpy()
    assert not withheld & set(ads[(labels == "train") | (labels == "valid")])
    assert set(ads[labels == "test"]) <= withheld
    ts = imps["ts"].to_numpy()
    assert ts[labels == "valid"].max() <= ts[labels == "test"].min()
    assert ts[labels == "train"].max() <= ts[labels == "valid"].min()


def test_cold_item_protocol_depends_on_the_seed_only(movielens: ClickLog) -> None:
    again = cold_item_split(movielens, seed=0)
    assert (again == cold_item_split(movielens, seed=0)).all()
    assert (again != cold_item_split(movielens, seed=1)).any()


# ---------------------------------------------------------------- the protocols, pure


def _toy_log(ad_ids: list[str]) -> ClickLog:
    n = len(ad_ids)
    impressions = pd.DataFrame(
        {
            "user_id": ["u"] * n,
            "ad_id": ad_ids,
            "ts": np.arange(n, dtype=np.int64),
            "label": np.zeros(n, dtype=np.int64),
            "p_true": np.full(n, np.nan),
        }
    )
    ads = pd.DataFrame(
        {"ad_id": sorted(set(ad_ids)), "title": "t", "description": "", "category": ""}
    )
    return ClickLog("toy", ads, pd.DataFrame(), impressions)


def test_cold_start_mask_marks_test_rows_of_ads_unseen_in_train() -> None:
    log = _toy_log(["a", "b", "a", "c", "b", "c", "d", "a", "c", "e"])
    split = np.array(["train"] * 4 + ["valid"] * 2 + ["test"] * 4, dtype=object)
    assert cold_start_mask(log.impressions, split).tolist() == [False] * 6 + [
        True,  # d: never in train
        False,  # a: in train
        False,  # c: in train
        True,  # e: never anywhere before
    ]


def test_cold_item_split_on_a_toy_log() -> None:
    ads = [f"a{i % 10}" for i in range(100)]  # 10 ads, each every 10th row, in time order
    labels = cold_item_split(_toy_log(ads), seed=3, withheld_frac=0.2)
    withheld = set(withheld_ads(pd.Series(ads), 3, 0.2))
    assert len(withheld) == 2
    for row, (ad, label) in enumerate(zip(ads, labels, strict=True)):
        late = row >= 80
        if ad in withheld:
            assert label == ("test" if late else "unused")
        elif late:
            assert label == "unused"
        else:  # 64 warm rows early: the last 10% of them (6 rows) validate
            assert label in ("train", "valid")
    assert Counter(labels) == {"train": 58, "valid": 6, "test": 4, "unused": 32}
    assert all(labels[75:80] != "train")
