"""A student run's click logits as the teacher's starting point (``TeacherConfig.base``).

A cross-encoder trained on a CPU sees a sample of the log — tens of thousands of impressions,
a few thousand clicks — and alone ranks worse than the serving model trained on all of it.
Started from that model's logit, with its own output zero-initialised, the teacher learns
only what the serving model misses (how an ad's words meet the user's behaviour texts) and
is never worse at its first step.
"""

from pathlib import Path

import numpy as np
from scipy.special import logit

from model_export.data.clicklog import ClickLog
from model_export.train.arrays import featurise, positions, with_ads
from model_export.train.run import load_run
from model_export.train.trainer import predict

EPS = 1e-6


class StudentLogits:
    """Click logits of a trained run on the impressions of a log, and on unshown pairs."""

    def __init__(self, run_dir: Path, log: ClickLog, split: np.ndarray):
        self.run = load_run(run_dir)
        cfg = self.run.cfg
        self.feats, _ = featurise(log, split, cfg.history_len, cfg.prior_alpha, spec=self.run.spec)
        self.source = self.run.text_source(self.feats)
        self.every = _logit(predict(self.run.model, self.source, self.feats))

    def logged(self, rows: np.ndarray) -> np.ndarray:
        """Logits of the impressions at log positions ``rows``."""
        return self.every[positions(self.feats, rows)]

    def unshown(self, rows: np.ndarray, ad_rows: np.ndarray) -> np.ndarray:
        """Logits of the users of log positions ``rows`` shown the ads of ``ad_rows``."""
        pairs = with_ads(self.feats, positions(self.feats, rows), positions(self.feats, ad_rows))
        return _logit(predict(self.run.model, self.source, pairs))


def _logit(p: np.ndarray) -> np.ndarray:
    return logit(np.clip(p.astype(np.float64), EPS, 1 - EPS)).astype(np.float32)
