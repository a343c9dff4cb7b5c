"""Topic clusters of the text space: how many of the user's items share the candidate's cluster.

The gates count matches softly: on the synthetic set, items of the ad's own fine topic sit at
projected cosines 0.43–0.84 from it, so each adds anything from 0.3 to 1 to a gate's mass.
k-means partitions of the item vectors put every text in the cluster of its nearest centroid,
and the number of history items in the candidate's cluster is a whole count. Partitions go
from coarse to fine; an item counts at the finest partition where it shares the candidate's
cluster only ("same broad interest, another topic" is the coarse count). The finest size may
be searched: the k whose partition has the best silhouette.

Centroids are buffers, not parameters, and go into the ranker graph as constants: serving
assigns clusters from the same vectors exactly as training did. They are fitted on a trained
text space, which then stays frozen (``train/run.py``, the second stage).
"""

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from model_export.model.blocks import unit_rows

SEARCH = (16, 24, 32, 48, 64, 80, 96, 128, 160, 192, 256, 384, 512)
SILHOUETTE_SAMPLE = 5_000


def _kmeans(unit: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Unit-length centroids (k, d) of a k-means of unit-length rows."""
    from sklearn.cluster import KMeans  # training-only dependency

    centres = KMeans(k, n_init=4, random_state=seed).fit(unit).cluster_centers_
    return centres / np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)


def _best_by_silhouette(unit: np.ndarray, bound: int, seed: int) -> np.ndarray:
    """The centroids of the k-means, with k from ``SEARCH`` up to ``bound``, whose partition
    has the highest mean silhouette (cosine distance; on a sample of large sets)."""
    from sklearn.metrics import silhouette_score

    best, best_score = None, -np.inf
    for k in (k for k in SEARCH if k <= bound and k < len(unit)):
        centres = _kmeans(unit, k, seed)
        labels = (unit @ centres.T).argmax(1)
        if len(np.unique(labels)) < 2:
            continue
        score = silhouette_score(
            unit, labels, metric="cosine", sample_size=min(len(unit), SILHOUETTE_SAMPLE),
            random_state=seed,
        )  # fmt: skip
        if score > best_score:
            best, best_score = centres, score
    return _kmeans(unit, min(bound, len(unit)), seed) if best is None else best


class TopicClusters(nn.Module):
    """``sizes`` (coarse to fine) as configured; the fitted partitions may be smaller (the
    searched one, or fewer distinct items than clusters). The fitted sizes are a buffer, so a
    loaded state dict brings its own shapes."""

    def __init__(self, sizes: Sequence[int], d: int):
        super().__init__()
        self.sizes, self.levels = tuple(sizes), len(sizes)
        self.centroids: Tensor  # (sum of fitted sizes, d) unit rows, partition after partition
        self.register_buffer("centroids", torch.zeros(sum(sizes), d))
        self.fitted: Tensor  # (levels,) the number of clusters of each partition
        self.register_buffer("fitted", torch.tensor(list(sizes), dtype=torch.long))

    def fit(self, vectors: np.ndarray, seed: int, search: bool = False) -> list[int]:
        """k-means of unit-length ``vectors`` (n, d) for each configured size; with ``search``
        the last size is a bound and the partition is the best by silhouette up to it. Returns
        the numbers of clusters."""
        sizes = self.sizes
        if not sizes:
            return []
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-6)
        distinct = np.unique(unit, axis=0)
        if len(distinct) == 0:
            distinct = np.eye(1, unit.shape[1])  # no items: every text falls in one cluster
        fixed = sizes[:-1] if search else sizes
        found = [_kmeans(distinct, min(size, len(distinct)), seed) for size in fixed]
        if search:
            found.append(_best_by_silhouette(distinct, sizes[-1], seed))
        self.centroids = torch.from_numpy(np.concatenate(found)).float()
        self.fitted = torch.tensor([len(c) for c in found], dtype=torch.long)
        return self.fitted.tolist()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in ("centroids", "fitted"):
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def assign(self, vectors: Tensor) -> Tensor:
        """Cluster of each vector (..., d) in every partition (..., levels), as ids unique
        across partitions."""
        if not self.levels:
            return torch.zeros((*vectors.shape[:-1], 0), dtype=torch.long)
        cosine = unit_rows(vectors) @ self.centroids.double().t()  # argmax as onnxruntime's
        ids, start = [], 0
        for size in self.fitted.tolist():
            ids.append(cosine[..., start : start + size].argmax(-1) + start)
            start += size
        return torch.stack(ids, dim=-1)

    @staticmethod
    def counts(candidate: Tensor, items: Tensor, mask: Tensor) -> Tensor:
        """Per candidate and partition, its items in the candidate's cluster there but in no
        finer partition's (N, levels). ``candidate`` (N, levels), ``items`` (N, H, levels) and
        ``mask`` (N, H)."""
        same = (items == candidate.unsqueeze(1)).to(mask.dtype) * mask.unsqueeze(-1)
        counted = torch.zeros_like(mask)
        counts = []
        for level in reversed(range(same.shape[-1])):
            counts.append((same[..., level] * (1 - counted)).sum(1))
            counted = torch.maximum(counted, same[..., level])
        return torch.stack(counts[::-1], dim=-1)
