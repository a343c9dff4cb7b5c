"""Per-task quality of click and conversion predictions, against a known truth where there is one.

Three tasks, each on the evaluated rows:

- ``ctr``: the click, as ``metrics.evaluate_predictions`` measures it.
- ``cvr``: the conversion of a click, over the **entire space** — every impression, clicked or
  not, because the ranker scores every candidate. Real logs label conversions on clicked rows
  only, so a conversion model's error on the rest (sample-selection bias) stays hidden; the
  synthetic truth gives every impression its ``p_cvr_true``, so here it can be measured: E[AUC]
  (pairs weighted by the true probability), ECE and mean predicted over mean true on all rows
  and on the non-clicked ones. On clicked rows, AUC against whether the click converted within
  the window (``converted_eventually``: the label a log shows once every delay has passed).
- ``ctcvr``: clicked and converted, pCTR × pCVR, over every impression: AUC against the log's
  label (``converted``, cut at the log's end) and against the eventual one, E[AUC], log loss
  and calibration against the truth.
"""

from dataclasses import dataclass

import numpy as np

from model_export.evaluate.metrics import auc, ece, expected_auc, logloss

BINS = 15


@dataclass(frozen=True)
class ConversionTruth:
    """The evaluated rows' labels and (synthetic logs) true probabilities."""

    click: np.ndarray  # 0/1
    converted: np.ndarray  # 0/1: clicked and converted by the log's cut
    eventually: np.ndarray | None  # 0/1: ... within the window, cut or not (synthetic only)
    p_ctr: np.ndarray | None  # true click probability
    p_cvr: np.ndarray | None  # true conversion probability of a click


def _calibration(mean_true: float, p: np.ndarray) -> float:
    return float(p.mean() / mean_true) if mean_true > 0 else float("nan")


def cvr_metrics(truth: ConversionTruth, p_cvr: np.ndarray) -> dict[str, float]:
    clicked = truth.click > 0.5
    out: dict[str, float] = {"mean_p": float(p_cvr.mean())}
    if truth.eventually is not None and clicked.any():
        out["auc_clicked"] = auc(truth.eventually[clicked], p_cvr[clicked])
    if truth.p_cvr is not None:
        unclicked = ~clicked
        out |= {
            "expected_auc": expected_auc(truth.p_cvr, p_cvr),
            "ece": ece(truth.p_cvr, p_cvr, BINS, "quantile"),
            "ece_unclicked": ece(truth.p_cvr[unclicked], p_cvr[unclicked], BINS, "quantile"),
            "calibration": _calibration(float(truth.p_cvr.mean()), p_cvr),
            "calibration_unclicked": _calibration(
                float(truth.p_cvr[unclicked].mean()), p_cvr[unclicked]
            ),
        }
    return out


def ctcvr_metrics(truth: ConversionTruth, p_ctcvr: np.ndarray) -> dict[str, float]:
    out = {"auc": auc(truth.converted, p_ctcvr), "mean_p": float(p_ctcvr.mean())}
    if truth.eventually is not None:
        out |= {"auc_eventually": auc(truth.eventually, p_ctcvr),
                "logloss_eventually": logloss(truth.eventually, p_ctcvr)}  # fmt: skip
    if truth.p_ctr is not None and truth.p_cvr is not None:
        p_true = truth.p_ctr * truth.p_cvr
        out |= {
            "expected_auc": expected_auc(p_true, p_ctcvr),
            "ece": ece(p_true, p_ctcvr, BINS, "quantile"),
            "calibration": _calibration(float(p_true.mean()), p_ctcvr),
        }
    return out


def task_metrics(
    truth: ConversionTruth, p_ctr: np.ndarray, p_cvr: np.ndarray
) -> dict[str, dict[str, float]]:
    """``{"ctr": …, "cvr": …, "ctcvr": …}`` of one model's predictions."""
    ctr = {"auc": auc(truth.click, p_ctr), "logloss": logloss(truth.click, p_ctr),
           "ece": ece(truth.click, p_ctr, BINS)}  # fmt: skip
    if truth.p_ctr is not None:
        ctr["expected_auc"] = expected_auc(truth.p_ctr, p_ctr)
    return {"ctr": ctr, "cvr": cvr_metrics(truth, p_cvr),
            "ctcvr": ctcvr_metrics(truth, p_ctr * p_cvr)}  # fmt: skip
