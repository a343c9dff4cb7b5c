"""`adrank evaluate` on a log with conversions: per task, the run beside its baselines.

Rankings of conversions compared on the same rows:

- the run (its pCTR × its pCVR);
- ``ctr_only``: the run's pCTR with one constant pCVR (the training clicks' conversion rate) —
  what a click model ranks cpa bids with;
- other runs given with ``--baseline NAME=RUN_DIR``, scored on the same split: e.g. the
  classic conversion model trained on clicked rows alone (``adrank train --cvr-objective
  click_space``; it predicts no clicks, so its pCTCVR takes the run's pCTR), the conversion
  loss on clicked rows beside the click task (``--cvr-objective clicked_only``), or a run
  without delay correction;
- library baselines' pCTR and pCVR of the same rows (``--library-baselines``: DeepCTR-Torch's
  ESMM and MMoE, ``deepctr_multitask``), given as scores;
- ``oracle``: the true probabilities (synthetic logs).
"""

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from model_export.data.clicklog import ClickLog
from model_export.evaluate.conversions import ConversionTruth, task_metrics
from model_export.evaluate.plots import plot_reliability
from model_export.train.arrays import Featurised, featurise, subset
from model_export.train.run import DEFAULT_CACHE, Run
from model_export.train.trainer import Predictions, predict_all

TaskScores = dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (p_ctr, p_cvr)
Scored = tuple[Featurised, Predictions]  # rows featurised by a run, and its predictions
COLUMNS = (
    ("ctr", "auc", "CTR AUC"),
    ("cvr", "expected_auc", "CVR E[AUC]"),
    ("cvr", "auc_clicked", "CVR AUC (clicks)"),
    ("cvr", "ece", "CVR ECE"),
    ("cvr", "ece_unclicked", "CVR ECE (non-clicked)"),
    ("cvr", "calibration", "CVR pred/true"),
    ("ctcvr", "auc", "CTCVR AUC"),
    ("ctcvr", "expected_auc", "CTCVR E[AUC]"),
    ("ctcvr", "calibration", "CTCVR pred/true"),
)


def conversion_truth(rows: Featurised) -> ConversionTruth:
    """Labels and (where the log knows them) true probabilities of the evaluated rows."""
    conv = rows.conversions
    known = not np.isnan(rows.p_true).any() and not np.isnan(conv.p_cvr_true).any()
    return ConversionTruth(
        click=rows.label,
        converted=conv.converted,
        eventually=None if np.isnan(conv.eventually).any() else conv.eventually,
        p_ctr=rows.p_true if known else None,
        p_cvr=rows.conversions.p_cvr_true if known else None,
    )


def predict_rows(
    run: Run, log: ClickLog, split: np.ndarray, rows: np.ndarray, cache_dir: Path
) -> Scored:
    """The rows (positions among the featurised train/valid/test rows) featurised with the
    run's own spec, and its predictions of them."""
    feats, _ = featurise(log, split, run.cfg.history_len, run.spec.prior_alpha, run.spec)
    target = subset(feats, rows)
    return target, predict_all(run.model, run.text_source(feats, cache_dir), target)


def score_runs(
    run: Run,
    scored: Scored,
    log: ClickLog,
    split: np.ndarray,
    rows: np.ndarray,
    baselines: Mapping[str, Run],
    cache_dir: Path = DEFAULT_CACHE,
    library: TaskScores | None = None,
) -> tuple[ConversionTruth, TaskScores]:
    """The rows' truth, and their pCTR and pCVR by the run (``scored``: ``predict_rows`` of
    it), ``ctr_only``, each baseline run, the ``library`` baselines' scores of the same rows
    and (where the truth is known) the oracle."""
    target, own = scored
    assert own.p_cvr is not None, "the run has no conversion tower"
    global_cvr = run.spec.global_cvr or float(own.p_cvr.mean())
    scores: TaskScores = {"adrank": (own.p_ctr, own.p_cvr),
                          "ctr_only": (own.p_ctr, np.full(len(rows), global_cvr))}  # fmt: skip
    for name, other in baselines.items():
        _, pred = predict_rows(other, log, split, rows, cache_dir)
        if pred.p_cvr is None:
            raise ValueError(f"baseline {name} ({other.dir}) has no conversion tower")
        # the classic conversion model predicts no clicks: its pCTCVR takes the run's pCTR
        p_ctr = own.p_ctr if other.cfg.cvr_objective == "click_space" else pred.p_ctr
        scores[name] = (p_ctr, pred.p_cvr)
    scores |= library or {}
    truth = conversion_truth(target)
    if truth.p_ctr is not None and truth.p_cvr is not None:
        scores["oracle"] = (truth.p_ctr, truth.p_cvr)
    return truth, scores


def conversion_results(truth: ConversionTruth, scores: TaskScores) -> dict[str, dict]:
    return {name: task_metrics(truth, p_ctr, p_cvr) for name, (p_ctr, p_cvr) in scores.items()}


def markdown_table(results: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    head = "| model | " + " | ".join(title for *_, title in COLUMNS) + " |"
    rule = "|---|" + "---:|" * len(COLUMNS)
    rows = [
        f"| {name} | "
        + " | ".join(_fmt(m.get(task, {}).get(key)) for task, key, _ in COLUMNS)
        + " |"
        for name, m in results.items()
    ]
    return "\n".join([head, rule, *rows])


def _fmt(value: float | None) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.4f}"


def plot_cvr_reliability(truth: ConversionTruth, scores: TaskScores, path: Path) -> None:
    """pCVR against the true pCVR over every impression (synthetic logs; the "observed
    conversion rate" of a bin is its mean true pCVR)."""
    if truth.p_cvr is None:
        return
    curves = {name: (truth.p_cvr, p_cvr) for name, (_, p_cvr) in scores.items()
              if name != "oracle"}  # fmt: skip
    top = max(float(np.quantile(p, 0.999)) for _, p in curves.values())
    upper = min(1.0, max(float(np.max(truth.p_cvr)), top) * 1.1)
    plot_reliability(curves, path, strategy="quantile", quantity="conversion",
                     upper=upper)  # fmt: skip
