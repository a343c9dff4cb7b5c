"""DeepCTR-Torch's ESMM and MMoE on a planted world: the click depends on the ad, the
conversion of a click on the device only, so a model whose pCVR ranks conversions has learnt
the conversion task itself and not copied its pCTR."""

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import torch

from model_export.evaluate.deepctr_multitask import (
    KINDS,
    Kind,
    MultitaskConfig,
    TaskSplit,
    train_multitask,
)
from model_export.evaluate.metrics import auc, expected_auc

N_ADS, N_USERS, N = 20, 500, 24_000
CVR_BY_DEVICE = {"desktop": 0.6, "mobile": 0.15, "tablet": 0.3}


def _world(seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Impressions, their click and clicked-and-converted labels, and the true pCVR."""
    rng = np.random.default_rng(seed)
    ctr_by_ad = np.linspace(0.05, 0.6, N_ADS)
    ad = rng.integers(N_ADS, size=N)
    device = rng.choice(list(CVR_BY_DEVICE), size=N)
    imps = pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in rng.integers(N_USERS, size=N)],
            "ad_id": [f"a{a}" for a in ad],
            "ts": 1_700_000_000 + np.arange(N) * 60,
            "ctx_device": device,
        }
    )
    p_cvr = pd.Series(device).map(CVR_BY_DEVICE).to_numpy(np.float64)
    click = (rng.random(N) < ctr_by_ad[ad]).astype(np.float64)
    converted = click * (rng.random(N) < p_cvr)
    return imps, click, converted, p_cvr


def _splits(seed: int) -> tuple[list[TaskSplit], np.ndarray]:
    imps, click, converted, p_cvr = _world(seed)
    part = np.random.default_rng(seed + 1).choice(3, N, p=[0.7, 0.15, 0.15])
    splits = [
        TaskSplit(imps[part == k].reset_index(drop=True), click[part == k], converted[part == k])
        for k in range(3)
    ]
    return splits, p_cvr[part == 2]


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SMALL = MultitaskConfig(
    embedding_dim=8,
    esmm_tower_units=(32, 16),
    expert_units=(32, 16),
    gate_units=(16,),
    mmoe_tower_units=(16,),
    init_std=0.05,  # DeepCTR's 1e-4 needs far more data than a unit test to take off
    lr=3e-3,
    batch_size=256,
    max_epochs=4,
    patience=2,
    verbose=False,
)


@pytest.mark.parametrize("kind", KINDS)
def test_multitask_learns_the_click_and_the_conversion_of_a_click(kind: Kind) -> None:
    (train, valid, test), p_cvr_true = _splits(0)
    model = train_multitask(kind, train, valid, context_fields=["device"], config=SMALL, seed=1)
    pred = model.predict(test.impressions)
    n = len(test.impressions)
    for p in (pred.p_ctr, pred.p_cvr, pred.p_ctcvr):
        assert p.shape == (n,)
        assert ((p > 0) & (p < 1)).all()
    assert auc(test.click, pred.p_ctr) > 0.68  # the true pCTR: 0.71
    # pCVR over every impression ranks by the device: a constant scores 0.5, and so does pCTR
    # (the device is independent of the click); the true pCVR 0.72 (ESMM 0.72, MMoE 0.68)
    assert expected_auc(p_cvr_true, pred.p_cvr) > 0.64
    assert expected_auc(p_cvr_true, pred.p_ctr) < 0.56
    clicked = test.click > 0  # the true pCVR: 0.71 (ESMM 0.71, MMoE 0.67)
    assert auc(test.converted[clicked], pred.p_cvr[clicked]) > 0.62
    by_device = pd.Series(pred.p_cvr).groupby(test.impressions["ctx_device"].to_numpy()).mean()
    assert by_device["desktop"] > by_device["tablet"] > by_device["mobile"]
    if kind == "esmm":  # the output the library trains is the product of the two towers
        np.testing.assert_allclose(pred.p_ctcvr, pred.p_ctr * pred.p_cvr, rtol=1e-5)
    assert 1 <= model.best_epoch <= len(model.history) <= SMALL.max_epochs
    assert {"valid_ctr_auc", "valid_ctcvr_auc", "valid_auc_mean"} <= set(model.history[0])


def test_multitask_is_deterministic_and_maps_unseen_ids_to_unknown() -> None:
    (train, valid, test), _ = _splits(2)
    config = MultitaskConfig(**{**SMALL.__dict__, "max_epochs": 1})
    first, second = (
        train_multitask("mmoe", train, valid, context_fields=["device", "hour"], config=config)
        for _ in range(2)
    )
    np.testing.assert_array_equal(
        first.predict(test.impressions).p_cvr, second.predict(test.impressions).p_cvr
    )
    stranger = test.impressions.head(3).assign(user_id="new-user", ad_id="new-ad", ctx_device="tv")
    features = first.featurizer.features(stranger)
    for name in ("user_id", "item_id", "ctx_device"):
        assert not features[name].any(), name
    assert np.isfinite(first.predict(stranger).p_cvr).all()
