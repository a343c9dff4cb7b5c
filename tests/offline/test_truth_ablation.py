"""The truth ablation and the label ceiling read a trained run's gate masses."""

from pathlib import Path

import numpy as np
import torch

from model_export.data.sources import load_source, split_for
from model_export.data.synth import SynthConfig
from model_export.evaluate.label_ceiling import ceiling, run_outputs
from model_export.evaluate.truth_ablation import ablation, run_gate_mass
from model_export.train.arrays import featurise, subset
from model_export.train.run import load_run

GATES = "the model's gate mass as the fine-topic count"


def test_a_runs_gate_mass_stands_in_for_the_fine_topic_count(
    tiny_data: Path, tiny_run: Path, cache_dir: Path
) -> None:
    log = load_source(str(tiny_data), cache_dir, False)
    split = split_for(log, "standard", 0)
    mass = run_gate_mass(tiny_run, log, split)
    assert mass.shape == (int((split == "test").sum()),)
    assert (mass >= 0).all() and (mass <= SynthConfig().history_len + 1e-4).all()
    assert np.ptp(mass) > 0  # the gates tell the rows apart
    result = ablation(log, split, SynthConfig(), mass)
    assert 0.5 < result[GATES] < 1.0
    assert GATES not in ablation(log, split, SynthConfig())


def test_gate_weights_are_the_attention_per_gate(
    tiny_data: Path, tiny_run: Path, cache_dir: Path
) -> None:
    log = load_source(str(tiny_data), cache_dir, False)
    run = load_run(tiny_run)
    feats, _ = featurise(
        log, split_for(log, "standard", 0), run.cfg.history_len, run.cfg.prior_alpha
    )
    f = subset(feats, feats.rows("test"))
    vectors = run.text_source(feats).all_vectors(run.model)
    args = [
        torch.from_numpy(a) for a in (f.ad_text, f.history, f.context, f.bucket, f.prior, f.price)
    ]
    with torch.no_grad():
        attention = run.model(vectors, *args).weights
        gates = run.model.gate_weights(vectors, args[0], args[1])
    assert gates.shape == (len(f.label), run.cfg.head.attention_heads, run.cfg.history_len)
    torch.testing.assert_close(gates.mean(1), attention)


def test_the_label_ceiling_uses_a_runs_gate_masses(
    tiny_data: Path, tiny_run: Path, cache_dir: Path
) -> None:
    log = load_source(str(tiny_data), cache_dir, False)
    split = split_for(log, "standard", 0)
    p_ctr, mass = run_outputs(tiny_run, log, split)
    used = np.isin(split, ["train", "test"])
    assert ((p_ctr[used] > 0) & (p_ctr[used] < 1)).all() and (p_ctr[~used] == 0).all()
    assert (mass >= 0).all() and np.ptp(mass[split == "test"]) > 0
    result = ceiling(log, split, SynthConfig(), tiny_run)
    assert {"the run", "regression: the run's gate masses, context",
            "regression: the run's logit + vertical count"} <= set(result)  # fmt: skip
    assert all(0.0 <= v <= 1.0 for v in result.values())
