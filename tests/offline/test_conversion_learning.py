"""The conversion tower learns: on a small synthetic log with a known conversion truth, the
ESMM model ranks every impression's pCVR better than the classic model trained on clicked rows
alone, and is better calibrated on the impressions nobody clicked."""

from dataclasses import replace
from pathlib import Path

import pytest

from model_export.data.clicklog import split_by_time
from model_export.data.synth import SynthConfig, synthesize
from model_export.evaluate.conversion_report import conversion_truth
from model_export.evaluate.conversions import cvr_metrics
from model_export.train.arrays import featurise, subset
from model_export.train.config import TrainConfig
from model_export.train.run import load_run, train_run
from model_export.train.trainer import predict_all

pytestmark = pytest.mark.slow

# many clicks and conversions for the size, so a short training run has something to learn
CONFIG = replace(SynthConfig.small(seed=5), n_impressions=60_000, target_ctr=0.08, cvr_mean=0.2)


def entire_space_cvr(log, split, run_dir: Path, cache_dir: Path) -> dict[str, float]:
    run = load_run(run_dir)
    feats, _ = featurise(log, split, run.cfg.history_len, run.spec.prior_alpha, run.spec)
    test = subset(feats, feats.rows("test"))
    pred = predict_all(run.model, run.text_source(feats, cache_dir), test)
    assert pred.p_cvr is not None
    return cvr_metrics(conversion_truth(test), pred.p_cvr)


def test_esmm_beats_the_classic_clicked_rows_model(tmp_path: Path, cache_dir: Path) -> None:
    log = synthesize(CONFIG)
    split = split_by_time(log.impressions, 0.1, 0.2)
    found = {}
    for objective in ("esmm", "click_space"):
        cfg = TrainConfig(epochs=3, seed=0, pretrain_steps=100, cvr_objective=objective)
        train_run(log, split, cfg, tmp_path / objective, cache_dir)
        found[objective] = entire_space_cvr(log, split, tmp_path / objective, cache_dir)
    print(found)
    esmm, classic = found["esmm"], found["click_space"]
    assert esmm["expected_auc"] > 0.6
    assert esmm["expected_auc"] > classic["expected_auc"] + 0.01
    assert esmm["ece_unclicked"] < classic["ece_unclicked"]
