"""Pooled BERT features of many texts, computed once and cached on disk.

Fast training keeps the encoder frozen, so every unique ad and item text goes through BERT
exactly once. Texts are tokenised by the serving tokenizer, sorted by length and cut into
token-budget batches at bucketed lengths: the same batching the service uses.
"""

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from model_export.model.encoder import PooledBert
from service.features.tokens import TextTokenizer, bucket_length, length_sorted_batches, pad_batch

TOKENS_PER_BATCH = 4096


@torch.no_grad()
def pooled_features(
    model: PooledBert, tokenizer: TextTokenizer, texts: Sequence[str], buckets: Sequence[int]
) -> np.ndarray:
    """(len(texts), width) float32 mean-pooled BERT outputs, in the order of ``texts``."""
    model.eval()
    ids = tokenizer.encode(texts)
    out = np.zeros((len(texts), model.width), dtype=np.float32)
    batches = length_sorted_batches(ids, TOKENS_PER_BATCH, buckets)
    for rows in tqdm(batches, desc="encoding texts", unit="batch", leave=False):
        width = bucket_length(max(len(ids[r]) for r in rows), buckets)
        input_ids, mask = pad_batch([ids[r] for r in rows], width)
        pooled = model(torch.from_numpy(input_ids), torch.from_numpy(mask))
        out[rows] = pooled.numpy()
    return out


def cache_key(encoder_name: str, max_tokens: int, texts: Sequence[str]) -> str:
    digest = hashlib.sha256(f"{encoder_name}|{max_tokens}".encode())
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:24]


def cached_features(
    cache_dir: Path,
    encoder_name: str,
    model: PooledBert,
    tokenizer: TextTokenizer,
    texts: Sequence[str],
    buckets: Sequence[int],
) -> np.ndarray:
    """``pooled_features`` from ``cache_dir`` when this encoder has embedded these texts before."""
    path = cache_dir / f"pooled-{cache_key(encoder_name, tokenizer.max_tokens, texts)}.npy"
    if path.is_file():
        return np.load(path)
    features = pooled_features(model, tokenizer, texts, buckets)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, features)
    tmp.replace(path)
    return features
