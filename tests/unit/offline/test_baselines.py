"""Popularity and oracle baselines on hand-made logs; DIN learns a history-match signal."""

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import torch

from model_export.evaluate.baselines import PopularityBaseline, oracle_predictions
from model_export.evaluate.din import DinConfig, DinSplit, din_splits, train_din
from model_export.evaluate.metrics import auc
from model_export.train.history import PAD


def _log(ctr_by_ad: dict[str, float], shows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [
        {"user_id": f"u{rng.integers(50)}", "ad_id": ad, "label": int(rng.random() < ctr)}
        for ad, ctr in ctr_by_ad.items()
        for _ in range(shows)
    ]
    return pd.DataFrame(rows)


CTRS = {"great": 0.8, "good": 0.5, "meh": 0.3, "bad": 0.05}


def test_popularity_ranks_better_ads_higher() -> None:
    train, valid, test = (_log(CTRS, 60, seed) for seed in (0, 1, 2))
    model = PopularityBaseline.fit(train, valid)
    p = model.predict(test)
    assert auc(test["label"].to_numpy(), p) > 0.6
    by_ad = dict(zip(test["ad_id"], p, strict=True))
    assert by_ad["great"] > by_ad["good"] > by_ad["meh"] > by_ad["bad"]
    assert model.alpha in (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0)


def test_popularity_smooths_towards_global_ctr_and_handles_unseen_ads() -> None:
    train = pd.DataFrame({"ad_id": ["a", "a", "b", "b"], "label": [1, 1, 0, 0]})
    model = PopularityBaseline.fit(train, alpha=2.0)  # no validation: alpha as given
    p = model.predict(pd.DataFrame({"ad_id": ["a", "b", "never-seen"]}))
    assert p.tolist() == pytest.approx([(2 + 2 * 0.5) / 4, (0 + 2 * 0.5) / 4, 0.5])


def test_oracle_only_when_every_row_knows_p_true() -> None:
    frame = pd.DataFrame({"p_true": [0.1, 0.7]})
    assert oracle_predictions(frame).tolist() == [0.1, 0.7]  # type: ignore[union-attr]
    assert oracle_predictions(pd.DataFrame({"p_true": [0.1, np.nan]})) is None
    assert oracle_predictions(pd.DataFrame({"ad_id": ["a"]})) is None


N_ITEMS, N_USERS, LIKED, SHOWN = 20, 1000, 3, 6
P_MATCH, P_OTHER = 0.85, 0.1


def _history_world(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user liked a few items (events); an ad is clicked mostly when the user liked it.

    Ads are equally often liked and not, so neither the ad id nor the user id alone predicts
    a click: only matching the ad against the behaviour sequence does.
    """
    rng = np.random.default_rng(seed)
    events, imps = [], []
    for u in range(N_USERS):
        liked = rng.choice(N_ITEMS, LIKED, replace=False)
        events += [{"user_id": f"u{u}", "item_id": f"i{i}", "ts": t} for t, i in enumerate(liked)]
        others = np.setdiff1d(np.arange(N_ITEMS), liked)
        for k in range(SHOWN):
            match = k % 2 == 0
            ad = rng.choice(liked) if match else rng.choice(others)
            label = int(rng.random() < (P_MATCH if match else P_OTHER))
            imps.append({"user_id": f"u{u}", "ad_id": f"i{ad}", "ts": 100 + k, "label": label})
    impressions = pd.DataFrame(imps)
    impressions["ctx_device"] = rng.choice(["mobile", "desktop"], len(impressions))
    return pd.DataFrame(events), impressions


def _history(events: pd.DataFrame, imps: pd.DataFrame) -> np.ndarray:
    """Each impression's events, newest first (the layout of ``history_index``); every event
    here precedes every impression."""
    hist = np.full((len(imps), 32), PAD, dtype=np.int64)
    rows = events.groupby("user_id").indices
    for i, user in enumerate(imps["user_id"]):
        mine = rows[user][::-1][:32]
        hist[i, : len(mine)] = mine
    return hist


def _splits(events: pd.DataFrame, imps: pd.DataFrame, seed: int) -> list[DinSplit]:
    hist = _history(events, imps)
    part = np.random.default_rng(seed).choice(3, len(imps), p=[0.7, 0.15, 0.15])
    return [DinSplit(imps[part == k].reset_index(drop=True), hist[part == k]) for k in range(3)]


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny batches run faster on one thread, and much faster on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SMALL = DinConfig(
    embedding_dim=8,
    dnn_hidden_units=(32, 16),
    att_hidden_units=(32, 16),
    batch_size=64,
    lr=3e-3,
    init_std=0.05,  # DeepCTR's 1e-4 needs far more data than a unit test to take off
    max_epochs=8,
    patience=2,
    verbose=False,
)


def test_din_learns_whether_the_ad_is_in_the_history() -> None:
    events, imps = _history_world(0)
    train, valid, test = _splits(events, imps, 1)
    din = train_din(train, valid, events=events, context_fields=["device"], config=SMALL, seed=3)
    p = din.predict(test)
    assert p.shape == (len(test.impressions),)
    assert ((p > 0) & (p < 1)).all()
    assert auc(test.impressions["label"].to_numpy(), p) > 0.7  # oracle ≈ 0.88
    assert 1 <= din.best_epoch <= len(din.history) <= SMALL.max_epochs
    assert {"epoch", "train_loss", "valid_auc", "valid_logloss"} <= set(din.history[0])


def test_din_is_deterministic_and_maps_unseen_ids_to_unknown() -> None:
    events, imps = _history_world(1)
    train, valid, test = _splits(events, imps, 2)
    config = DinConfig(**{**SMALL.__dict__, "max_epochs": 1})
    first, second = (
        train_din(train, valid, events=events, context_fields=["device", "hour"], config=config)
        for _ in range(2)
    )
    np.testing.assert_array_equal(first.predict(test), second.predict(test))
    stranger = test.impressions.head(3).assign(user_id="new-user", ad_id="new-ad", ctx_device="tv")
    empty = np.full((3, 32), PAD)
    features = first.featurizer.features(DinSplit(stranger, empty))
    for name in ("user_id", "item_id", "ctx_device", "hist_item_id", "seq_length"):
        assert not features[name].any(), name
    assert np.isfinite(first.predict(DinSplit(stranger, empty))).all()


def test_din_splits_cut_the_rows_with_their_own_histories() -> None:
    events, imps = _history_world(2)
    rows = {"train": np.array([0, 2, 5]), "target": np.array([7, 1])}
    parts = din_splits(events, imps, 32, rows)
    assert set(parts) == {"train", "target"}
    expected = _history(events, imps)
    for name, idx in rows.items():
        pd.testing.assert_frame_equal(
            parts[name].impressions, imps.iloc[idx].reset_index(drop=True)
        )
        assert np.array_equal(parts[name].history, expected[idx])
