"""Feature assembly of one /rank request (pure): user history, ad vectors, the ranker block."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from service.runtime.batching import PairBlock
from service.store.codec import CodecError, UserMatrix, decode_ad, decode_user


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


def read_user(blob: bytes | None, version: str, d: int) -> UserMatrix | None:
    """The stored matrix, or None when absent or unreadable by this model."""
    if blob is None:
        return None
    try:
        return decode_user(blob, version, d)
    except CodecError:
        return None


def read_ads(blobs: Sequence[bytes | None], version: str, d: int) -> list[np.ndarray | None]:
    """Ad vectors as float32 (None where absent or unreadable)."""
    out: list[np.ndarray | None] = []
    for blob in blobs:
        try:
            out.append(None if blob is None else decode_ad(blob, version, d).astype(np.float32))
        except CodecError:
            out.append(None)
    return out


@dataclass(frozen=True)
class CandidatePlan:
    """Which candidates the model scores (they have a vector) and which the prior answers."""

    model_rows: np.ndarray  # candidate positions with a vector
    prior_rows: np.ndarray  # candidate positions without


def plan_candidates(vectors: Sequence[np.ndarray | None]) -> CandidatePlan:
    has = np.fromiter((v is not None for v in vectors), dtype=bool, count=len(vectors))
    return CandidatePlan(np.flatnonzero(has), np.flatnonzero(~has))


def build_block(
    history: np.ndarray,
    mask: np.ndarray,
    context: np.ndarray,
    vectors: Sequence[np.ndarray],
    ad_bucket: np.ndarray,
    ad_prior: np.ndarray,
) -> PairBlock:
    """The ranker rows of one request (``vectors`` in the order of ``ad_bucket``/``ad_prior``)."""
    d = history.shape[1]
    candidates = np.vstack(vectors).astype(np.float32, copy=False) if vectors else np.zeros((0, d))
    return PairBlock(history, mask, context, candidates, ad_bucket, ad_prior)
