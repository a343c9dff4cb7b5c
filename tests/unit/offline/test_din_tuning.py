"""DIN tuning's grid and picking: epoch caps read off one run's history, picked on validation."""

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from model_export.evaluate.din import DinConfig, DinSplit, train_din
from model_export.evaluate.din_tuning import Setting, Trial, epoch_trials, grid, pick, search
from model_export.train.history import PAD


def _history(aucs: list[float]) -> list[dict[str, float | int]]:
    return [{"epoch": e, "train_loss": 0.5, "valid_auc": a} for e, a in enumerate(aucs, 1)]


def test_grid_is_every_combination_at_the_largest_cap() -> None:
    settings = grid(dims=(8, 16), lrs=(1e-3,), dropouts=(0.0, 0.5), max_epochs=7)
    assert len(settings) == 4
    assert {s.max_epochs for s in settings} == {7}
    assert {(s.embedding_dim, s.dnn_dropout) for s in settings} == {
        (8, 0.0),
        (8, 0.5),
        (16, 0.0),
        (16, 0.5),
    }
    config = settings[0].config(DinConfig(verbose=False))
    assert (config.embedding_dim, config.lr, config.max_epochs, config.verbose) == (
        8,
        1e-3,
        7,
        False,
    )


def test_epoch_caps_keep_the_best_epoch_within_the_cap() -> None:
    setting = Setting(16, 1e-3, 0.0, 10)
    trials = epoch_trials(setting, _history([0.60, 0.70, 0.65, 0.66, 0.64]), caps=(1, 2, 3, 10))
    assert [(t.setting.max_epochs, t.valid_auc, t.best_epoch) for t in trials] == [
        (1, 0.60, 1),
        (2, 0.70, 2),
        (3, 0.70, 2),
        (10, 0.70, 2),
    ]
    # early stopping after 3 epochs: every cap from 3 on is the same run, listed once
    stopped = epoch_trials(setting, _history([0.6, 0.7, 0.65]), caps=(1, 3, 5, 10))
    assert [t.setting.max_epochs for t in stopped] == [1, 3]
    # caps above the setting's own cap were never trained
    assert [
        t.setting.max_epochs
        for t in epoch_trials(Setting(8, 1e-3, 0.0, 2), _history([0.5, 0.6]), (1, 2, 5))
    ] == [1, 2]


def test_pick_takes_the_best_validation_auc_and_breaks_ties_towards_cheaper() -> None:
    a = Trial(Setting(16, 1e-3, 0.0, 5), 0.70, 3)
    b = Trial(Setting(32, 1e-3, 0.0, 5), 0.71, 4)
    c = Trial(Setting(32, 1e-3, 0.0, 3), 0.71, 3)
    d = Trial(Setting(8, 1e-3, 0.0, 3), 0.71, 3)
    nan = Trial(Setting(8, 3e-3, 0.0, 3), float("nan"), 1)
    assert pick([a, b]) == b
    assert pick([a, b, c]) == c  # same AUC, fewer epochs
    assert pick([b, c, d, nan]) == d  # same AUC and epochs, smaller embeddings
    with pytest.raises(ValueError):
        pick([nan])


def test_search_trains_each_setting_once_and_picks_on_validation() -> None:
    calls: list[tuple[int, float, int]] = []
    curves = {8: [0.60, 0.62, 0.61, 0.60], 16: [0.61, 0.66, 0.67, 0.64]}

    def train(config: DinConfig, seed: int) -> Any:
        calls.append((config.embedding_dim, config.lr, seed))
        return SimpleNamespace(history=_history(curves[config.embedding_dim]))

    settings = grid(dims=(8, 16), lrs=(1e-3,), dropouts=(0.0,), max_epochs=5)
    trials = search(train, settings, DinConfig(), caps=(1, 2, 5), log=lambda _: None)
    assert calls == [(8, 1e-3, 0), (16, 1e-3, 0)]
    best = pick(trials)
    assert (best.setting.embedding_dim, best.setting.max_epochs, best.best_epoch) == (16, 5, 3)
    assert best.valid_auc == pytest.approx(0.67)


def test_search_runs_real_din_on_a_tiny_frame() -> None:
    rng = np.random.default_rng(0)
    n = 300
    imps = pd.DataFrame({
        "user_id": [f"u{u}" for u in rng.integers(20, size=n)],
        "ad_id": [f"a{a}" for a in rng.integers(10, size=n)],
        "ts": np.arange(n),
        "label": rng.integers(2, size=n),
        "ctx_device": rng.choice(["m", "d"], n),
    })  # fmt: skip
    events = pd.DataFrame({"user_id": ["u0"], "item_id": ["a1"], "ts": [0]})
    hist = np.full((n, 4), PAD, dtype=np.int64)
    train, valid = (
        DinSplit(imps[:200], hist[:200]),
        DinSplit(imps[200:].reset_index(drop=True), hist[200:]),
    )
    base = DinConfig(history_len=4, dnn_hidden_units=(8,), att_hidden_units=(8,), batch_size=64,
                     verbose=False)  # fmt: skip

    def fit(config: DinConfig, seed: int) -> Any:
        return train_din(train, valid, events=events, context_fields=["device"], config=config,
                         seed=seed)  # fmt: skip

    trials = search(fit, grid((4,), (1e-2,), (0.0, 0.5), 2), base, caps=(1, 2), log=lambda _: None)
    assert {t.setting.dnn_dropout for t in trials} == {0.0, 0.5}
    assert all(0.0 <= t.valid_auc <= 1.0 for t in trials)
    assert pick(trials) in trials
