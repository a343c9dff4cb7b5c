"""Training batches: the rows of a batch, the unique texts they use, and id dropout."""

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from model_export.train.arrays import Featurised


@dataclass
class Batch:
    texts: Tensor  # (T,) indices into the global text table
    ad_index: Tensor  # (B,) into ``texts``
    history_index: Tensor  # (B, H) into ``texts``, -1 = padding
    context: Tensor
    bucket: Tensor
    prior: Tensor
    price: Tensor
    label: Tensor
    converted: Tensor


def make_batch(f: Featurised, rows: np.ndarray) -> Batch:
    """Gather rows and renumber their texts to the batch's unique texts."""
    ad, hist = f.ad_text[rows], f.history[rows]
    used = np.concatenate([ad, hist[hist >= 0]])
    uniq, inverse = np.unique(used, return_inverse=True)
    local_hist = np.full(hist.shape, -1, dtype=np.int64)
    local_hist[hist >= 0] = inverse[len(ad) :]
    return Batch(
        texts=torch.from_numpy(uniq),
        ad_index=torch.from_numpy(inverse[: len(ad)].astype(np.int64)),
        history_index=torch.from_numpy(local_hist),
        context=torch.from_numpy(f.context[rows]),
        bucket=torch.from_numpy(f.bucket[rows]),
        prior=torch.from_numpy(f.prior[rows]),
        price=torch.from_numpy(f.price[rows]),
        label=torch.from_numpy(f.label[rows]),
        converted=torch.from_numpy(f.conversions.converted[rows]),
    )


def drop_ids(
    batch: Batch, rate: float, unknown_prior: np.ndarray, rng: np.random.Generator
) -> None:
    """Make ``rate`` of the rows look like ads the model has never seen (bucket 0, no prior),
    so the text path keeps learning and cold ads are scored sensibly."""
    drop = torch.from_numpy(rng.random(len(batch.bucket)) < rate)
    batch.bucket[drop] = 0
    batch.prior[drop] = torch.from_numpy(unknown_prior)


def epoch_batches(n_rows: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n_rows)
    return [order[i : i + batch_size] for i in range(0, n_rows, batch_size)]
