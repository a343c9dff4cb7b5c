"""Export checks: the ONNX graphs must compute what PyTorch computes on the same inputs.

Inputs cover what serving sends: texts of many lengths (so padding is exercised), users with
full, partial and empty histories, several users per call (the flat pair layout), unknown and
known ad ids.
"""

from collections.abc import Sequence

import numpy as np
import onnxruntime as ort
import torch

from model_export.export.onnx_graphs import RankerGraph, head_outputs
from model_export.model.encoder import TextTower
from model_export.model.ranker import RankingHead
from service.bundle.signature import RANKER_INPUTS
from service.features.price import price_features
from service.features.tokens import TextTokenizer, bucket_length, pad_batch
from service.runtime.providers import taken_feeds

PCTR_TOLERANCE = 1e-5
VECTOR_TOLERANCE = 1e-4

SAMPLE_TEXTS = (
    "Trail running shoes: 30% off this week",
    "sports: Lightweight carbon road bike. Free shipping on all orders",
    "yoga",
    "Toy Story (1995) Animation, Children's, Comedy",
    "The 10 best hiking routes in Colorado for beginners, with maps, elevation profiles and tips "
    "from local guides who walked every one of them twice",
    "finance: Open a savings account in minutes. No fees, 4.1% interest, sign up today",
)


class ParityError(Exception):
    """ONNX and PyTorch disagree beyond the tolerance."""


def session(path: str) -> ort.InferenceSession:
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def encode_onnx(
    sess: ort.InferenceSession,
    tokenizer: TextTokenizer,
    texts: Sequence[str],
    buckets: Sequence[int],
) -> np.ndarray:
    ids = tokenizer.encode(texts)
    width = bucket_length(max(len(s) for s in ids), buckets)
    input_ids, mask = pad_batch(ids, width)
    return sess.run(["vector"], {"input_ids": input_ids, "attention_mask": mask})[0]


@torch.no_grad()
def check_encoder(
    tower: TextTower,
    sess: ort.InferenceSession,
    tokenizer: TextTokenizer,
    texts: Sequence[str],
    buckets: Sequence[int],
) -> float:
    """Max abs difference of the text vectors; raises beyond ``VECTOR_TOLERANCE``."""
    tower.eval()
    onnx_vec = encode_onnx(sess, tokenizer, texts, buckets)
    ids = tokenizer.encode(texts)
    input_ids, mask = pad_batch(ids, bucket_length(max(len(s) for s in ids), buckets))
    torch_vec = tower(torch.from_numpy(input_ids), torch.from_numpy(mask)).numpy()
    diff = float(np.abs(onnx_vec - torch_vec).max())
    if diff > VECTOR_TOLERANCE:
        raise ParityError(f"encoder.onnx differs from PyTorch by {diff:.2e} (> {VECTOR_TOLERANCE})")
    return diff


def ranker_inputs(
    vectors: np.ndarray,
    history_len: int,
    context_sizes: Sequence[int],
    id_buckets: int,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Three users (full, partial and empty history) and their candidates, from real vectors."""
    rng = np.random.default_rng(seed)
    d = vectors.shape[1]
    lengths = [history_len, max(1, history_len // 3), 0]
    history = np.zeros((3, history_len, d), dtype=np.float32)
    mask = np.zeros((3, history_len), dtype=np.float32)
    for u, n in enumerate(lengths):
        history[u, :n] = vectors[rng.integers(0, len(vectors), n)] + rng.normal(0, 0.1, (n, d))
        mask[u, :n] = 1
    n_pairs = 12
    context = np.stack([rng.integers(0, s, 3) for s in context_sizes], axis=1).astype(np.int64)
    buckets = np.where(rng.random(n_pairs) < 0.5, 0, rng.integers(1, id_buckets, n_pairs))
    prior = np.stack([rng.normal(-3.5, 0.7, n_pairs), rng.uniform(0, 8, n_pairs)], axis=1)
    prices = np.where(rng.random(n_pairs) < 0.25, np.nan, rng.lognormal(4.5, 1.2, n_pairs))
    return {
        "history": history,
        "history_mask": mask,
        "context": context.reshape(3, len(context_sizes)),
        "candidates": vectors[rng.integers(0, len(vectors), n_pairs)].astype(np.float32),
        "user_index": np.arange(n_pairs, dtype=np.int64) % 3,
        "ad_bucket": buckets.astype(np.int64),
        "ad_prior": prior.astype(np.float32),
        "ad_price": price_features(prices),
        "ad_offset": np.where(rng.random(n_pairs) < 0.5, 0, rng.normal(0, 0.3, n_pairs)).astype(
            np.float32
        ),
    }


@torch.no_grad()
def check_ranker(
    head: RankingHead, sess: ort.InferenceSession, inputs: dict[str, np.ndarray]
) -> float:
    """Max abs probability difference, pCTR and (with a conversion tower) pCVR; raises
    beyond ``PCTR_TOLERANCE`` (or the attention beyond ``VECTOR_TOLERANCE``)."""
    head.eval()
    served = RankerGraph(head)(*(torch.from_numpy(inputs[k]) for k in RANKER_INPUTS))
    torch_out = dict(zip(head_outputs(head), served, strict=True))
    onnx_out = dict(zip(torch_out, sess.run(list(torch_out), taken_feeds(sess, inputs)),
                        strict=True))  # fmt: skip
    diffs = {k: float(np.abs(onnx_out[k] - v.numpy()).max()) for k, v in torch_out.items()}
    att_diff = diffs.pop("attention")
    if max(diffs.values()) > PCTR_TOLERANCE or att_diff > VECTOR_TOLERANCE:
        found = ", ".join(f"{k} by {v:.2e}" for k, v in diffs.items())
        raise ParityError(f"ranker.onnx differs from PyTorch: {found} (> {PCTR_TOLERANCE}), "
                          f"attention by {att_diff:.2e}")  # fmt: skip
    return max(diffs.values())
