"""The conversion tower learns: on a small synthetic log with a known conversion truth, the
ESMM model's pCVR ranks every impression's true conversion probability well above chance, and
far better than a click model's pCTR used as a conversion model would."""

from dataclasses import replace
from pathlib import Path

import pytest

from model_export.data.clicklog import split_by_time
from model_export.data.synth import SynthConfig, synthesize
from model_export.evaluate.conversion_report import conversion_truth
from model_export.evaluate.conversions import cvr_metrics
from model_export.evaluate.metrics import expected_auc
from model_export.train.arrays import featurise, subset
from model_export.train.config import TrainConfig
from model_export.train.run import load_run, train_run
from model_export.train.trainer import predict_all

pytestmark = pytest.mark.slow

# many clicks and conversions for the size, and no latent user intent or landing quality, so
# a short training run has something it can learn
CONFIG = replace(SynthConfig.small(seed=5), n_impressions=80_000, target_ctr=0.1, cvr_mean=0.3,
                 intent_std=0.0, landing_std=0.0)  # fmt: skip


def test_the_conversion_tower_learns_what_the_click_tower_does_not(
    tmp_path: Path, cache_dir: Path
) -> None:
    log = synthesize(CONFIG)
    split = split_by_time(log.impressions, 0.1, 0.2)
    cfg = TrainConfig(epochs=5, seed=0, pretrain_steps=100)
    train_run(log, split, cfg, tmp_path / "run", cache_dir)
    run = load_run(tmp_path / "run")
    feats, _ = featurise(log, split, run.cfg.history_len, run.spec.prior_alpha, run.spec)
    test = subset(feats, feats.rows("test"))
    pred = predict_all(run.model, run.text_source(feats, cache_dir), test)
    assert pred.p_cvr is not None
    truth = conversion_truth(test)
    assert truth.p_cvr is not None
    cvr = cvr_metrics(truth, pred.p_cvr)
    ctr_as_cvr = expected_auc(truth.p_cvr, pred.p_ctr)
    print(f"entire-space CVR E[AUC] {cvr['expected_auc']:.4f}, pCTR as pCVR {ctr_as_cvr:.4f}")
    assert cvr["expected_auc"] > 0.6
    assert cvr["expected_auc"] > ctr_as_cvr + 0.05
    assert 0.5 < cvr["calibration"] < 1.5
