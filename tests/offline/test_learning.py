"""The model learns: on a small synthetic log (known click probability) the real MiniLM
model, trained in fast mode, gets well above chance and close to the oracle, and above a
model that cannot read the ad's topic from text (the popularity prior)."""

from pathlib import Path

import numpy as np
import pytest

from model_export.data.clicklog import split_by_time
from model_export.data.synth import SynthConfig, synthesize
from model_export.evaluate.baselines import PopularityBaseline
from model_export.evaluate.metrics import auc
from model_export.train.arrays import featurise, subset
from model_export.train.config import TrainConfig
from model_export.train.run import load_run, train_run
from model_export.train.trainer import predict

pytestmark = pytest.mark.slow


def test_trained_model_approaches_the_oracle(tmp_path: Path, cache_dir: Path) -> None:
    log = synthesize(
        SynthConfig(seed=11, n_users=2_500, n_ads=400, n_impressions=80_000, progress=False)
    )
    split = split_by_time(log.impressions, 0.1, 0.1)
    train_run(log, split, TrainConfig(epochs=4, seed=0), tmp_path / "run", cache_dir)

    run = load_run(tmp_path / "run")
    feats, _ = featurise(log, split, run.cfg.history_len, run.spec.prior_alpha, run.spec)
    test = subset(feats, feats.rows("test"))
    model_auc = auc(test.label, predict(run.model, run.text_source(feats, cache_dir), test))
    oracle_auc = auc(test.label, test.p_true)
    imps = log.impressions
    popularity = PopularityBaseline.fit(imps[split == "train"], imps[split == "valid"])
    popularity_auc = auc(test.label, popularity.predict(imps[split == "test"]))
    print(f"adrank {model_auc:.4f}  oracle {oracle_auc:.4f}  popularity {popularity_auc:.4f}")
    assert model_auc > 0.75
    assert model_auc > popularity_auc + 0.1
    assert model_auc > oracle_auc - 0.06
    assert np.isfinite(model_auc)
