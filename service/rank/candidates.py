"""One /rank request's candidates and user (pure): ad vectors where known, the user's history,
the ranker block of the candidates that have a vector."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from service.features.price import price_features
from service.runtime.pairs import PairBlock
from service.store.codec import UserMatrix


def user_history(
    matrix: UserMatrix | None, history_len: int, d: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(history (H, d) float32, mask (H,) float32)``: newest first, zero-padded; a user with
    no matrix (cold start) gets all zeros and an all-zero mask."""
    history = np.zeros((history_len, d), dtype=np.float32)
    mask = np.zeros(history_len, dtype=np.float32)
    if matrix is not None:
        n = min(len(matrix.item_ids), history_len)
        history[:n] = matrix.vectors[:n]
        mask[:n] = 1.0
    return history, mask


@dataclass
class Candidates:
    """One request's candidates: vectors where known, id buckets and prior features."""

    ad_ids: list[str]
    vectors: np.ndarray  # (n, d) float32, zero rows where no vector is known
    have: np.ndarray  # (n,) bool
    buckets: np.ndarray  # (n,) int64
    priors: np.ndarray  # (n, 2) float32
    price_rows: np.ndarray  # (n, 2) float32, service.features.price
    offsets: np.ndarray  # (n,) float32, each ad's click logit offset (0 where none)

    def missing(self) -> list[int]:
        return np.flatnonzero(~self.have).tolist()

    def fill(
        self, positions: Sequence[int], vectors: Sequence[np.ndarray], prices: Sequence[float]
    ) -> None:
        for i, vec in zip(positions, vectors, strict=True):
            self.vectors[i] = vec
            self.have[i] = True
        self.price_rows[list(positions)] = price_features(np.asarray(prices, dtype=np.float64))

    def model_rows(self) -> np.ndarray:
        return np.flatnonzero(self.have)

    def block(self, history: np.ndarray, mask: np.ndarray, context: np.ndarray) -> PairBlock:
        """The ranker rows of the candidates that have a vector."""
        if self.have.all():
            return PairBlock(history, mask, context, self.vectors, self.buckets, self.priors,
                             self.price_rows, self.offsets)  # fmt: skip
        rows = self.model_rows()
        return PairBlock(history, mask, context, self.vectors[rows], self.buckets[rows],
                         self.priors[rows], self.price_rows[rows], self.offsets[rows])  # fmt: skip


def prior_pctr(priors: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The click rate an ad's prior features stand for (column 0 is its logit), moved by its
    click offset as the ranker moves its score."""
    return 1.0 / (1.0 + np.exp(-(priors[:, 0].astype(np.float64) + offsets)))
