"""Evaluation metrics against sklearn and hand-computed answers; plots and report files."""

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from model_export.evaluate.metrics import (
    auc,
    calibration_bins,
    ece,
    evaluate_predictions,
    expected_auc,
    gauc,
    logloss,
    roc_curve,
)
from model_export.evaluate.plots import plot_reliability, plot_roc, plot_training_curves
from model_export.evaluate.report import build_report, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _random_scores(seed: int, n: int, decimals: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels that depend on a score, rounded so many predictions tie."""
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    y = (rng.random(n) < p).astype(int)
    return y, np.round(p, decimals)


@pytest.mark.parametrize(("seed", "decimals"), [(0, 8), (1, 2), (2, 1), (3, 0)])
def test_auc_matches_sklearn_with_ties(seed: int, decimals: int) -> None:
    y, p = _random_scores(seed, 5000, decimals)
    assert auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)


def test_expected_auc_weighs_every_pair_by_its_chance_of_being_a_click_over_a_non_click() -> None:
    rng = np.random.default_rng(4)
    p_true, score = rng.random(40), np.round(rng.random(40), 1)  # with ties
    pairs = [(i, j) for i in range(40) for j in range(40) if i != j]
    weight = np.array([p_true[i] * (1 - p_true[j]) for i, j in pairs])
    won = np.array([1.0 if score[i] > score[j] else 0.5 if score[i] == score[j] else 0.0
                    for i, j in pairs])  # fmt: skip
    assert expected_auc(p_true, score) == pytest.approx(weight @ won / weight.sum(), abs=1e-12)


@pytest.mark.parametrize("decimals", [8, 1])
def test_expected_auc_with_certain_labels_is_the_labels_auc(decimals: int) -> None:
    y, p = _random_scores(5, 3000, decimals)
    assert expected_auc(y, p) == pytest.approx(auc(y, p), abs=1e-12)


def test_expected_auc_is_where_the_labels_auc_scatters_around() -> None:
    rng = np.random.default_rng(6)
    p_true = rng.beta(1, 20, 5000)  # a low click rate
    score = np.log(p_true) + rng.normal(scale=1.0, size=5000)  # a noisy model
    draws = [auc(rng.random(5000) < p_true, score) for _ in range(300)]
    assert np.std(draws) > 0.005  # the label noise it removes
    assert expected_auc(p_true, score) == pytest.approx(np.mean(draws), abs=0.003)
    assert expected_auc(p_true, p_true) > expected_auc(p_true, score)


def test_auc_edge_cases() -> None:
    assert auc([0, 1], [0.1, 0.9]) == 1.0
    assert auc([0, 1], [0.9, 0.1]) == 0.0
    assert auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert np.isnan(auc([1, 1, 1], [0.1, 0.2, 0.3]))


def test_logloss_matches_sklearn() -> None:
    y, p = _random_scores(4, 5000, 6)
    p = np.clip(p, 0.001, 0.999)
    assert logloss(y, p) == pytest.approx(log_loss(y, p), rel=1e-12)


def test_logloss_clips_certain_wrong_predictions() -> None:
    value = logloss([1, 0], [0.0, 1.0])
    assert np.isfinite(value)
    assert value == pytest.approx(-np.log(1e-7), rel=1e-6)


def test_gauc_hand_made_example() -> None:
    # user a: pairs (pos 0.9 vs negs 0.2, 0.5) both right, (pos 0.4 vs 0.2) right, vs 0.5 wrong
    #   -> 3/4; weight 4 rows.  user b: one tie -> 0.5; weight 2 rows.
    # user c: all clicks, user d: no clicks -> skipped.
    groups = np.array(["a", "a", "a", "a", "b", "b", "c", "c", "d"])
    y = np.array([1, 0, 1, 0, 1, 0, 1, 1, 0])
    p = np.array([0.9, 0.2, 0.4, 0.5, 0.3, 0.3, 0.1, 0.7, 0.6])
    result = gauc(y, p, groups)
    assert result.value == pytest.approx((0.75 * 4 + 0.5 * 2) / 6)
    assert result.n_groups == 2
    assert result.n_rows == 6


def test_gauc_matches_a_loop_over_users() -> None:
    rng = np.random.default_rng(5)
    n = 20000
    groups = rng.integers(0, 300, n)
    y, p = _random_scores(6, n, 2)
    total = weight = 0.0
    for g in np.unique(groups):
        m = groups == g
        if 0 < y[m].sum() < m.sum():
            total += roc_auc_score(y[m], p[m]) * m.sum()
            weight += m.sum()
    result = gauc(y, p, groups)
    assert result.value == pytest.approx(total / weight, abs=1e-12)
    assert gauc(y, p, groups.astype(str).astype(object)).value == pytest.approx(result.value)


def test_gauc_without_any_mixed_group_is_nan() -> None:
    result = gauc([1, 0], [0.3, 0.6], ["a", "b"])
    assert np.isnan(result.value)
    assert result.n_groups == 0


def _calibrated(seed: int, n: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 5, n)
    return (rng.random(n) < p).astype(int), p


def test_ece_near_zero_when_calibrated_and_large_when_shifted() -> None:
    y, p = _calibrated(7)
    assert ece(y, p) < 0.01
    assert ece(y, p, strategy="quantile") < 0.01
    shifted = np.clip(p + 0.2, 0, 1)
    assert ece(y, shifted) == pytest.approx(0.2, abs=0.02)
    assert ece(y, shifted, strategy="quantile") == pytest.approx(0.2, abs=0.02)


def test_calibration_bins_are_equal_width_and_count_every_row() -> None:
    y = np.array([0, 1, 0, 1, 1])
    p = np.array([0.05, 0.05, 0.95, 0.95, 1.0])
    bins = calibration_bins(y, p, n_bins=10)
    assert bins.counts.tolist() == [2, 3]
    assert bins.frac_pos.tolist() == pytest.approx([0.5, 2 / 3])
    assert bins.mean_p.tolist() == pytest.approx([0.05, (0.95 + 0.95 + 1.0) / 3])
    with pytest.raises(ValueError, match="strategy"):
        calibration_bins(y, p, strategy="bogus")  # type: ignore[arg-type]


def test_roc_curve_area_equals_auc() -> None:
    y, p = _random_scores(8, 3000, 2)
    fpr, tpr = roc_curve(y, p)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auc(y, p), abs=1e-12)


def test_evaluate_predictions_keys_and_values() -> None:
    y, p = _random_scores(9, 4000, 3)
    groups = np.arange(4000) % 50
    out = evaluate_predictions(y, p, groups)
    assert {"auc", "gauc", "logloss", "ece", "n", "ctr", "mean_p"} <= set(out)
    assert out["n"] == 4000
    assert out["ctr"] == pytest.approx(y.mean())
    assert out["mean_p"] == pytest.approx(p.mean())
    assert out["auc"] == pytest.approx(roc_auc_score(y, p))
    assert out["gauc_groups"] == 50


def test_plots_write_png_files(tmp_path: Path) -> None:
    y, p = _calibrated(10, 5000)
    curves = {"model": (y, p), "shifted": (y, np.clip(p + 0.2, 0, 1))}
    history: list[dict[str, float | None]] = [
        {"epoch": 1, "train_loss": 0.6, "valid_auc": 0.70, "valid_logloss": 0.58},
        {"epoch": 2, "train_loss": 0.5, "valid_auc": 0.72, "valid_logloss": 0.57},
        {"epoch": 3, "train_loss": 0.4, "valid_auc": 0.71, "valid_logloss": None},
    ]
    paths = [
        plot_roc(curves, tmp_path / "roc.png"),
        plot_reliability(curves, tmp_path / "reliability.png"),
        plot_training_curves(history, tmp_path / "sub" / "training.png"),
    ]
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC)
        assert len(data) > 10_000  # axes, curves and text, not an empty canvas


def _results() -> dict[str, dict[str, dict[str, float | int]]]:
    metrics = {"auc": 0.7, "gauc": 0.6, "logloss": 0.5, "ece": 0.01, "n": 100}
    return {
        "adrank": {"test": metrics, "test_cold": {**metrics, "auc": float("nan"), "n": 3}},
        "oracle": {"test": {**metrics, "auc": 0.8}},
    }


def test_report_json_layout(tmp_path: Path) -> None:
    write_report(tmp_path, _results(), {"data": {"name": "synthetic"}, "seed": 1})
    doc = json.loads((tmp_path / "report.json").read_text())
    adrank = doc["models"]["adrank"]
    assert adrank["auc"] == 0.7 and adrank["oracle_auc"] == 0.8
    assert {"auc", "gauc", "logloss", "ece", "n"} <= set(adrank["test"])
    assert adrank["test"]["oracle_auc"] == 0.8
    assert adrank["test_cold"]["auc"] is None  # NaN → null, valid JSON
    assert "oracle_auc" not in adrank["test_cold"]
    assert doc["oracle_auc"] == 0.8 and doc["seed"] == 1 and doc["main_subset"] == "test"


def test_report_markdown_table(tmp_path: Path) -> None:
    plot_roc({"m": _calibrated(11, 500)}, tmp_path / "roc.png")
    write_report(tmp_path, _results(), {"seed": 1})
    text = (tmp_path / "report.md").read_text()
    assert "| model | subset | AUC | gAUC | log loss | ECE | n |" in text
    assert "| adrank | test | 0.7000 | 0.6000 | 0.5000 | 0.0100 | 100 |" in text
    assert "| adrank | test_cold | – |" in text
    assert "![roc](roc.png)" in text


def test_report_has_an_expected_auc_column_where_the_truth_is_known(tmp_path: Path) -> None:
    results = _results()
    results["adrank"]["test"]["expected_auc"] = 0.71
    write_report(tmp_path, results, {})
    text = (tmp_path / "report.md").read_text()
    assert "| model | subset | AUC | E[AUC] | gAUC | log loss | ECE | n |" in text
    assert "| adrank | test | 0.7000 | 0.7100 | 0.6000 |" in text
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["models"]["adrank"]["expected_auc"] == 0.71


def test_report_refuses_reserved_extra_keys() -> None:
    with pytest.raises(ValueError, match="reserved"):
        build_report(_results(), {"models": 1})
