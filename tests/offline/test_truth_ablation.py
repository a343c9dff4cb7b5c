"""The truth ablation scores the true logit with a trained run's gate mass."""

from pathlib import Path

import numpy as np

from model_export.data.sources import load_source, split_for
from model_export.data.synth import SynthConfig
from model_export.evaluate.truth_ablation import ablation, run_gate_mass

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
