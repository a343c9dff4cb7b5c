"""A blend arm's score: the weighted sum of its bundles' logits, back through the sigmoid
(the global-phase form of a stacked ensemble), for pCTR and for pCVR alike."""

from collections.abc import Sequence

import numpy as np

_EPS = 1e-7


def logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, _EPS, 1 - _EPS)
    return np.log(q) - np.log1p(-q)


def blend(probabilities: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """sigmoid(Σ wᵢ · logit(pᵢ)) per candidate (float64; the parts are aligned arrays)."""
    z = sum(w * logit(np.asarray(p, dtype=np.float64)) for p, w in zip(
        probabilities, weights, strict=True))  # fmt: skip
    return 1.0 / (1.0 + np.exp(-np.asarray(z)))
