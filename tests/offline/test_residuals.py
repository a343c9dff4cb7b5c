"""The residual analysis: a run's logit against the truth's terms, and its per-ad part."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model_export.data.sources import load_source, split_for
from model_export.data.synth import SynthConfig
from model_export.evaluate.metrics import expected_auc
from model_export.evaluate.residuals import (
    TERMS,
    Scored,
    context_fit,
    decompose,
    per_ad,
    report,
    training_noise,
    truth_terms,
    weight_costs,
)


def _terms(rng: np.random.Generator, n: int) -> pd.DataFrame:
    terms = pd.DataFrame({t: rng.normal(0, 1, n) for t in TERMS})
    terms[TERMS[-1]] -= 3.5  # the base
    return terms


def test_decompose_recovers_the_weights_and_the_residual() -> None:
    rng = np.random.default_rng(0)
    terms = _terms(rng, 20_000)
    true_logit = terms.sum(axis=1).to_numpy()
    label = (rng.random(len(terms)) < 1 / (1 + np.exp(-true_logit))).astype(int)
    weights = np.array([1.0, 0.5, 0.8, 0.2, 0.6, 0.9, 0.7, 0.1])
    noise = rng.normal(0, 0.7, len(terms))
    dec = decompose(terms.to_numpy() @ weights + 0.3 + noise, terms, label)
    np.testing.assert_allclose(list(dec.weights.values()), weights, atol=0.02)
    assert np.corrcoef(dec.residual, noise)[0, 1] > 0.99
    aucs = list(dec.aucs.values())  # run, oracle, fit without residual, oracle + residual
    assert aucs[0] < aucs[2] < aucs[1] and aucs[3] < aucs[1]


def test_setting_an_under_weighted_term_right_recovers_the_oracle() -> None:
    rng = np.random.default_rng(2)
    terms = _terms(rng, 20_000)
    true_logit = terms.sum(axis=1).to_numpy()
    p_true = 1 / (1 + np.exp(-true_logit))
    weights = dict.fromkeys(TERMS, 1.0) | {"offer": 0.3}
    logit = true_logit - 0.7 * terms["offer"].to_numpy()
    costs = weight_costs(logit, terms, weights, p_true)
    oracle, run = expected_auc(p_true, true_logit), expected_auc(p_true, logit)
    assert costs["offer"] == pytest.approx(oracle) and run < oracle - 0.01
    assert costs["hour"] == pytest.approx(run)  # a term already at its weight: no change


def test_per_ad_finds_the_share_of_training_luck_a_run_keeps() -> None:
    rng = np.random.default_rng(1)
    ads = np.array([f"a{i}" for i in range(400)])
    noise = pd.Series(rng.normal(0, 0.5, len(ads)), index=ads)
    rows = rng.integers(0, len(ads), 40_000)
    keeps = per_ad(0.6 * noise.to_numpy()[rows] + rng.normal(0, 0.3, len(rows)), ads[rows], noise)
    assert keeps.noise_slope == pytest.approx(0.6, abs=0.05) and keeps.noise_corr > 0.9
    assert 0.4 < keeps.share < 0.9
    ignores = per_ad(rng.normal(0, 0.5, len(rows)), ads[rows], noise)
    assert abs(ignores.noise_slope) < 0.05 and abs(ignores.share) < 0.02


def test_truth_terms_add_up_to_the_true_logit_and_noise_is_per_training_ad(
    tiny_data: Path, cache_dir: Path
) -> None:
    log = load_source(str(tiny_data), cache_dir, False)
    split = split_for(log, "standard", 0)
    terms = truth_terms(log, SynthConfig())
    p = log.impressions["p_true"].to_numpy()
    np.testing.assert_allclose(terms.sum(axis=1), np.log(p / (1 - p)))
    assert (terms["fine topic"] >= 0).all() and terms["offer"].nunique() > 1
    noise = training_noise(log, split)
    assert set(noise.index) == set(log.impressions["ad_id"][split == "train"])
    assert abs(noise.mean()) < 0.3  # clicks follow p_true


def test_the_report_of_a_run_covers_it_as_served_and_with_every_ad_unseen(
    tiny_data: Path, tiny_run: Path, cache_dir: Path
) -> None:
    log = load_source(str(tiny_data), cache_dir, False)
    text = report(log, split_for(log, "standard", 0), tiny_run)
    assert "## as served (test" in text and "## every ad unseen (test" in text
    assert text.count("| oracle + the run's residual |") == 2
    assert "- weights of the truth's terms in the run's logit: fine topic" in text
    assert "weight set to the truth's: fine topic 0." in text and "age band × vertical" in text
    assert "(partial dependence) against the truth's: device × slot " in text


def test_partial_dependence_sets_the_context_of_every_row(
    tiny_data: Path, tiny_run: Path, cache_dir: Path
) -> None:
    log = load_source(str(tiny_data), cache_dir, False)
    scored = Scored.load(tiny_run, log, split_for(log, "standard", 0), "test")
    means = scored.partial_dependence([{"slot": "feed"}, {"slot": "sidebar"}, {}])
    assert means[2] == pytest.approx(scored.logit().mean())  # no setting: the rows as they are
    assert means[0] != means[1]
    fit = context_fit(scored)
    assert set(fit) == {"device × slot", "hour"} and all(-1 <= r <= 1 for r in fit.values())
