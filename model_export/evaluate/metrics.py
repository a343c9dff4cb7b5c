"""Quality metrics of click predictions, in plain numpy (a million rows take well under a second).

- ``auc``: rank-based ROC AUC (Mann-Whitney U), tied predictions get their average rank, so it
  equals ``sklearn.metrics.roc_auc_score``. NaN when only one class is present.
- ``gauc``: group (per-user) AUC, the standard definition of Zhou et al. (DIN, KDD 2018): the
  AUC of each user weighted by the user's impressions, over users with both a click and a
  non-click (the rest have no AUC and are skipped). Computed for all users at once by sorting
  on (user, prediction), not by a Python loop.
- ``logloss``: mean binary cross-entropy with predictions clipped to ``[EPS, 1 - EPS]``.
- ``ece``: expected calibration error, ``sum_b n_b / n * |mean label_b - mean prediction_b|``.
  Default bins are **equal-width** on [0, 1] (``strategy="uniform"``, as in Guo et al. 2017 and
  sklearn's ``calibration_curve``); ``strategy="quantile"`` gives equal-mass bins, more
  informative when predictions crowd into a small range (low-CTR ad logs).
- ``expected_auc``: where the true click probability is known (synthetic logs), the AUC with
  the label noise taken out: every pair of rows weighted by the chance that the first is the
  click and the second the non-click, ``sum p_i (1 - p_j) [s_i > s_j] / sum p_i (1 - p_j)``
  over pairs i ≠ j (ties one half). The labels' AUC scatters around it; two models compared
  on it differ by what they learned, not by which rows happened to be clicked.
- ``evaluate_predictions``: all of the above in one dict (the shape ``report.py`` writes).
"""

from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

EPS = 1e-7
BinStrategy = Literal["uniform", "quantile"]


class GroupAuc(NamedTuple):
    """Impression-weighted mean of per-group AUCs and how many groups/rows it counted."""

    value: float
    n_groups: int
    n_rows: int


class CalibrationBins(NamedTuple):
    """Non-empty bins of a reliability diagram: mean prediction, click rate and size of each."""

    mean_p: np.ndarray
    frac_pos: np.ndarray
    counts: np.ndarray


def _as_arrays(y: ArrayLike, p: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"labels and predictions differ in length: {y.shape} vs {p.shape}")
    return y, p


def _tie_block_ranks(new_block: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """1-based ranks of sorted rows, averaged over each block of ties.

    ``new_block[i]`` is True where a new block of equal values starts; ``offset`` is subtracted
    per row (the index where the row's group starts, for ranks within groups).
    """
    n = len(new_block)
    starts = np.flatnonzero(new_block)
    ends = np.append(starts[1:], n)
    mean_rank = (starts + 1 + ends) / 2.0  # mean of the 1-based positions start+1..end
    return np.repeat(mean_rank, ends - starts) - offset


def auc(y: ArrayLike, p: ArrayLike) -> float:
    """ROC AUC from average ranks (ties count one half); NaN with a single class."""
    y, p = _as_arrays(y, p)
    n_pos = float(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    new_block = np.ones(len(ps), dtype=bool)
    new_block[1:] = ps[1:] != ps[:-1]
    ranks = _tie_block_ranks(new_block, np.zeros(len(ps)))
    rank_sum = float(ranks @ y[order])
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def expected_auc(p_true: ArrayLike, p: ArrayLike) -> float:
    """AUC of ``p`` with each row's label replaced by its true click probability (module
    docstring); NaN with fewer than two rows."""
    pos, p = _as_arrays(p_true, p)
    if len(p) < 2:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    ps, pos = p[order], pos[order]
    neg = 1.0 - pos
    starts = np.flatnonzero(np.append(True, ps[1:] != ps[:-1]))  # blocks of tied scores
    block_pos, block_neg = np.add.reduceat(pos, starts), np.add.reduceat(neg, starts)
    below = np.cumsum(block_neg) - block_neg  # negative mass ranked under each block
    own = float(pos @ neg)  # a row paired with itself is no pair
    ranked = float(block_pos @ below) + 0.5 * (float(block_pos @ block_neg) - own)
    return ranked / (pos.sum() * neg.sum() - own)


def _group_codes(groups: ArrayLike) -> np.ndarray:
    groups = np.asarray(groups).ravel()
    if groups.dtype.kind in "iu":
        return groups.astype(np.int64)
    if groups.dtype.kind == "O":
        groups = groups.astype(str)  # fixed-width strings sort much faster than objects
    return np.unique(groups, return_inverse=True)[1].astype(np.int64).ravel()


def gauc(y: ArrayLike, p: ArrayLike, groups: ArrayLike) -> GroupAuc:
    """Per-group AUC weighted by group size, over groups with both labels (NaN if none)."""
    y, p = _as_arrays(y, p)
    g = _group_codes(groups)
    order = np.lexsort((p, g))  # by group, then prediction
    gs, ps, ys = g[order], p[order], y[order]
    new_group = np.ones(len(gs), dtype=bool)
    new_group[1:] = gs[1:] != gs[:-1]
    new_block = new_group.copy()
    new_block[1:] |= ps[1:] != ps[:-1]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(gs)), 0))
    ranks = _tie_block_ranks(new_block, group_start)
    gid = np.cumsum(new_group) - 1
    size = np.bincount(gid).astype(np.float64)
    n_pos = np.bincount(gid, weights=ys)
    rank_pos = np.bincount(gid, weights=ranks * ys)
    n_neg = size - n_pos
    ok = (n_pos > 0) & (n_neg > 0)
    if not ok.any():
        return GroupAuc(float("nan"), 0, 0)
    aucs = (rank_pos[ok] - n_pos[ok] * (n_pos[ok] + 1) / 2) / (n_pos[ok] * n_neg[ok])
    value = float(np.sum(aucs * size[ok]) / np.sum(size[ok]))
    return GroupAuc(value, int(ok.sum()), int(size[ok].sum()))


def logloss(y: ArrayLike, p: ArrayLike, eps: float = EPS) -> float:
    """Mean binary cross-entropy, predictions clipped to ``[eps, 1 - eps]``."""
    labels, probs = _as_arrays(y, p)
    q = np.clip(probs, eps, 1 - eps)
    return float(-np.mean(labels * np.log(q) + (1 - labels) * np.log1p(-q)))


def _bin_index(p: np.ndarray, n_bins: int, strategy: BinStrategy) -> np.ndarray:
    if strategy == "uniform":
        return np.clip((p * n_bins).astype(np.int64), 0, n_bins - 1)
    if strategy == "quantile":
        inner = np.quantile(p, np.linspace(0, 1, n_bins + 1)[1:-1])
        return np.searchsorted(inner, p, side="right")  # ties stay in one bin
    raise ValueError(f"unknown bin strategy {strategy!r}: use 'uniform' or 'quantile'")


def calibration_bins(
    y: ArrayLike, p: ArrayLike, n_bins: int = 15, strategy: BinStrategy = "uniform"
) -> CalibrationBins:
    """Mean prediction, observed click rate and row count of each non-empty bin."""
    y, p = _as_arrays(y, p)
    idx = _bin_index(p, n_bins, strategy)
    count = np.bincount(idx, minlength=n_bins)
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y, minlength=n_bins)
    keep = count > 0
    return CalibrationBins(sum_p[keep] / count[keep], sum_y[keep] / count[keep], count[keep])


def ece(y: ArrayLike, p: ArrayLike, n_bins: int = 15, strategy: BinStrategy = "uniform") -> float:
    """Expected calibration error over ``n_bins`` bins (equal-width unless told otherwise)."""
    bins = calibration_bins(y, p, n_bins, strategy)
    total = bins.counts.sum()
    if total == 0:
        return float("nan")
    return float(np.sum(bins.counts / total * np.abs(bins.frac_pos - bins.mean_p)))


def roc_curve(y: ArrayLike, p: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct threshold, from (0, 0) to (1, 1)."""
    y, p = _as_arrays(y, p)
    if len(y) == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    order = np.argsort(-p, kind="mergesort")
    ps, ys = p[order], y[order]
    last_of_block = np.append(ps[1:] != ps[:-1], True)
    tps = np.concatenate([[0.0], np.cumsum(ys)[last_of_block]])
    fps = np.concatenate([[0.0], np.cumsum(1 - ys)[last_of_block]])
    return fps / max(fps[-1], 1.0), tps / max(tps[-1], 1.0)


def evaluate_predictions(
    y: ArrayLike,
    p: ArrayLike,
    groups: ArrayLike | None = None,
    n_bins: int = 15,
    p_true: ArrayLike | None = None,
) -> dict[str, float | int]:
    """All metrics of one model on one subset.

    Keys: auc, gauc, gauc_groups (users that counted), gauc_rows, logloss, ece (equal-width,
    ``n_bins``), ece_quantile (equal-mass), n, n_pos, ctr, mean_p; and expected_auc when the
    rows' true click probabilities ``p_true`` are given. ``gauc`` is NaN without ``groups``.
    """
    y, p = _as_arrays(y, p)
    extra = {} if p_true is None else {"expected_auc": expected_auc(p_true, p)}
    group = gauc(y, p, groups) if groups is not None else GroupAuc(float("nan"), 0, 0)
    n = len(y)
    return {
        "auc": auc(y, p),
        "gauc": group.value,
        "gauc_groups": group.n_groups,
        "gauc_rows": group.n_rows,
        "logloss": logloss(y, p) if n else float("nan"),
        "ece": ece(y, p, n_bins, "uniform"),
        "ece_quantile": ece(y, p, n_bins, "quantile") if n else float("nan"),
        "n": n,
        "n_pos": int(y.sum()),
        "ctr": float(y.mean()) if n else float("nan"),
        "mean_p": float(p.mean()) if n else float("nan"),
        **extra,
    }
