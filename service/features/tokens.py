"""Tokenisation and padding for the text encoder, with lengths bucketed to a few shapes.

Uses the Rust ``tokenizers`` library on the bundle's ``tokenizer.json``: the same code
tokenises at training, at export and at serving.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer


class TextTokenizer:
    """Turns texts into token id arrays of at most ``max_tokens`` (special tokens included)."""

    def __init__(self, tokenizer_file: Path, max_tokens: int) -> None:
        self.max_tokens = max_tokens
        self._tok = Tokenizer.from_file(str(tokenizer_file))
        self._tok.no_padding()
        self._tok.enable_truncation(max_length=max_tokens)

    def encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Token ids per text, unpadded."""
        return [np.asarray(e.ids, dtype=np.int64) for e in self._tok.encode_batch(list(texts))]


def bucket_length(n_tokens: int, buckets: Sequence[int]) -> int:
    """The smallest bucket that holds ``n_tokens`` (the largest bucket if none does)."""
    for size in buckets:
        if n_tokens <= size:
            return size
    return buckets[-1]


def pad_batch(ids: Sequence[np.ndarray], length: int) -> tuple[np.ndarray, np.ndarray]:
    """``(input_ids, attention_mask)`` of shape (len(ids), length), right-padded with 0."""
    input_ids = np.zeros((len(ids), length), dtype=np.int64)
    mask = np.zeros((len(ids), length), dtype=np.int64)
    for row, seq in enumerate(ids):
        n = min(len(seq), length)
        input_ids[row, :n] = seq[:n]
        mask[row, :n] = 1
    return input_ids, mask


def length_sorted_batches(
    ids: Sequence[np.ndarray], max_tokens_per_batch: int, buckets: Sequence[int]
) -> list[np.ndarray]:
    """Index batches of texts sorted by length, each with padded tokens ≤ the budget.

    Sorting by length before cutting keeps padding small; callers put results back in the
    original order through the returned indices.
    """
    order = np.argsort([len(s) for s in ids], kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order):
            width = bucket_length(len(ids[order[end]]), buckets)
            if width * (end + 1 - start) > max_tokens_per_batch:
                break
            end += 1
        batches.append(order[start:end])
        start = end
    return batches
