"""Score featurised impressions with the exported ONNX graphs (the serving computation).

Used at export to check held-out rows against PyTorch and to measure the int8 encoder's cost.
"""

from collections.abc import Sequence

import numpy as np
import onnxruntime as ort
from tqdm import tqdm

from model_export.train.arrays import Featurised
from service.features.tokens import TextTokenizer, bucket_length, length_sorted_batches, pad_batch
from service.runtime.providers import taken_feeds

ROWS_PER_CALL = 2048


def encode_all(
    sess: ort.InferenceSession,
    tokenizer: TextTokenizer,
    texts: Sequence[str],
    buckets: Sequence[int],
    tokens_per_batch: int = 4096,
) -> np.ndarray:
    ids = tokenizer.encode(texts)
    out: np.ndarray | None = None
    for rows in tqdm(
        length_sorted_batches(ids, tokens_per_batch, buckets), desc="onnx encoder", leave=False
    ):
        width = bucket_length(max(len(ids[r]) for r in rows), buckets)
        input_ids, mask = pad_batch([ids[r] for r in rows], width)
        vec = sess.run(["vector"], {"input_ids": input_ids, "attention_mask": mask})[0]
        if out is None:
            out = np.zeros((len(texts), vec.shape[1]), dtype=np.float32)
        out[rows] = vec
    assert out is not None, "no texts to encode"
    return out


def ranker_feed(vectors: np.ndarray, f: Featurised, rows: np.ndarray) -> dict[str, np.ndarray]:
    """One impression per user row: the training layout expressed in the serving signature."""
    hist = f.history[rows]
    mask = (hist >= 0).astype(np.float32)
    return {
        "history": vectors[np.clip(hist, 0, None)] * mask[..., None],
        "history_mask": mask,
        "context": f.context[rows],
        "candidates": vectors[f.ad_text[rows]],
        "user_index": np.arange(len(rows), dtype=np.int64),
        "ad_bucket": f.bucket[rows],
        "ad_prior": f.prior[rows],
        "ad_price": f.price[rows],
        "ad_offset": f.offset[rows],
    }


def score_onnx(
    ranker: ort.InferenceSession, vectors: np.ndarray, f: Featurised, output: str = "p_ctr"
) -> np.ndarray:
    """An output (pCTR, or pCVR) of every row of ``f`` from the ranker graph, given the
    encoder's text vectors."""
    out = [
        ranker.run(
            [output],
            taken_feeds(
                ranker, ranker_feed(vectors, f, np.arange(s, min(s + ROWS_PER_CALL, len(f.label))))
            ),
        )[0]
        for s in range(0, len(f.label), ROWS_PER_CALL)
    ]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
