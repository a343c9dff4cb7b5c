"""Simple baselines evaluated on the same split as the model.

- ``PopularityBaseline``: each ad's smoothed click rate on the training impressions,
  ``(clicks + alpha * global_ctr) / (impressions + alpha)`` (``service.features.prior``, the
  same prior the model and the service use). ``alpha`` is chosen from ``ALPHA_GRID`` by AUC on
  the validation split when one is given (ties → the smaller log loss), else ``DEFAULT_ALPHA``.
  It is fitted on the training split only, like the model. Ads absent from training get the
  global training click rate.
- ``oracle_predictions``: the true click probability ``p_true`` (synthetic data only).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model_export.evaluate.metrics import auc, logloss
from service.features.prior import smoothed_ctr

ALPHA_GRID = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0)
DEFAULT_ALPHA = 20.0


@dataclass(frozen=True)
class PopularityBaseline:
    """Per-ad smoothed CTR from training impressions."""

    ad_index: pd.Index
    clicks: np.ndarray
    impressions: np.ndarray
    global_ctr: float
    alpha: float

    @classmethod
    def fit(
        cls,
        train: pd.DataFrame,
        valid: pd.DataFrame | None = None,
        alphas: Sequence[float] = ALPHA_GRID,
        alpha: float = DEFAULT_ALPHA,
    ) -> "PopularityBaseline":
        """Count clicks and impressions per ad; pick ``alpha`` on ``valid`` when given."""
        stats = train.groupby("ad_id", sort=True)["label"].agg(["sum", "count"])
        model = cls(
            ad_index=pd.Index(stats.index),
            clicks=stats["sum"].to_numpy(np.float64),
            impressions=stats["count"].to_numpy(np.float64),
            global_ctr=float(train["label"].mean()) if len(train) else 0.0,
            alpha=alpha,
        )
        if valid is None or valid["label"].nunique() < 2:
            return model
        return model.with_alpha(model.select_alpha(valid, alphas))

    def with_alpha(self, alpha: float) -> "PopularityBaseline":
        return PopularityBaseline(
            self.ad_index, self.clicks, self.impressions, self.global_ctr, alpha
        )

    def select_alpha(self, valid: pd.DataFrame, alphas: Sequence[float]) -> float:
        """The alpha of the best validation AUC, ties broken by log loss."""
        y = valid["label"].to_numpy()
        scored = []
        for a in alphas:
            p = self.with_alpha(a).predict(valid)
            scored.append((-round(auc(y, p), 6), logloss(y, p), a))
        return min(scored)[2]

    def predict(self, impressions: pd.DataFrame) -> np.ndarray:
        """Smoothed CTR of each row's ad; the global CTR for ads unseen in training."""
        pos = self.ad_index.get_indexer(impressions["ad_id"]) + 1  # 0: unseen in training
        clicks = np.concatenate([[0.0], self.clicks])[pos]
        shown = np.concatenate([[0.0], self.impressions])[pos]
        p = smoothed_ctr(clicks, shown, self.global_ctr, self.alpha)
        return np.where(pos > 0, p, self.global_ctr).astype(np.float64)

    def summary(self) -> dict[str, float | int]:
        return {"alpha": self.alpha, "global_ctr": self.global_ctr, "ads": len(self.ad_index)}


def known_probabilities(p_true: np.ndarray) -> np.ndarray | None:
    """The rows' true click probabilities when every row has one, else None (an oracle on
    part of the rows would be compared with the models on different rows)."""
    p = np.asarray(p_true, dtype=np.float64)
    return None if len(p) == 0 or np.isnan(p).any() else p


def oracle_predictions(impressions: pd.DataFrame) -> np.ndarray | None:
    """``p_true`` when every row has it (``known_probabilities``), else None."""
    if "p_true" not in impressions:
        return None
    return known_probabilities(impressions["p_true"].to_numpy(dtype=np.float64))
