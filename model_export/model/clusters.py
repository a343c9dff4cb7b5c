"""Topic clusters of the text space: how many of the user's items share the candidate's cluster.

The gates count matches softly: on the synthetic set, items of the ad's own fine topic sit at
projected cosines 0.43–0.84 from it, so each adds anything from 0.3 to 1 to a gate's mass.
k-means partitions of the item vectors put every text in the cluster of its nearest centroid,
and the number of history items in the candidate's cluster is a whole count. Partitions go
from coarse to fine; an item counts at the finest partition where it shares the candidate's
cluster only ("same broad interest, another topic" is the coarse count). The sizes may be
searched: the finest is the k whose partition of the items has the best silhouette, each
coarser one the best grouping of the finest centroids (on the synthetic set the items' own
silhouette rises with k and never singles out its 13 verticals; grouping the 80 fine
centroids peaks at 13).

Centroids are buffers, not parameters, and go into the ranker graph as constants: serving
assigns clusters from the same vectors exactly as training did. They are fitted on a trained
text space, which then stays frozen (``train/run.py``, the second stage).
"""

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

SEARCH = (16, 24, 32, 48, 64, 80, 96, 128, 160, 192, 256, 384, 512)
SILHOUETTE_SAMPLE = 5_000
COARSE_MIN = 4  # the fewest groups of fine clusters a searched coarse partition has
# k-means restarts when grouping the fine centroids: cheap on ~100 points, and with 4 the
# silhouette's peak was left to chance (15 or 16 groups by k-means' seed on one run of the
# synthetic set, 13 for both with 20)
COARSE_RESTARTS = 20


def _kmeans(unit: np.ndarray, k: int, seed: int, restarts: int = 4) -> np.ndarray:
    """Unit-length centroids (k, d) of a k-means of unit-length rows (the best of
    ``restarts`` starts)."""
    from sklearn.cluster import KMeans  # training-only dependency

    centres = KMeans(k, n_init=restarts, random_state=seed).fit(unit).cluster_centers_
    return centres / np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)


def _best_by_silhouette(
    unit: np.ndarray, sizes: Sequence[int], seed: int, restarts: int = 4
) -> np.ndarray:
    """The centroids of the k-means of ``unit`` rows, with k from ``sizes``, whose partition
    has the highest mean silhouette (cosine distance; on a sample of large sets)."""
    from sklearn.metrics import silhouette_score

    best, best_score = None, -np.inf
    for k in (k for k in sizes if k < len(unit)):
        centres = _kmeans(unit, k, seed, restarts)
        labels = (unit @ centres.T).argmax(1)
        if len(np.unique(labels)) < 2:
            continue
        score = silhouette_score(
            unit, labels, metric="cosine", sample_size=min(len(unit), SILHOUETTE_SAMPLE),
            random_state=seed,
        )  # fmt: skip
        if score > best_score:
            best, best_score = centres, score
    return best if best is not None else _kmeans(unit, min(max(sizes), len(unit)), seed, restarts)


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
        """k-means of unit-length ``vectors`` (n, d) for each configured size. With ``search``
        every size is a bound: the finest partition is the best by silhouette of the items
        (k from ``SEARCH``), each coarser one the best grouping of the finest centroids (any
        k from ``COARSE_MIN``), so broad interests are found as groups of fine topics.
        Returns the numbers of clusters."""
        sizes = self.sizes
        if not sizes:
            return []
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-6)
        distinct = np.unique(unit, axis=0)
        if len(distinct) == 0:
            distinct = np.eye(1, unit.shape[1])  # no items: every text falls in one cluster
        if search:
            searched = [k for k in SEARCH if k <= sizes[-1]] or [sizes[-1]]  # a bound < 16
            fine = _best_by_silhouette(distinct, searched, seed)
            coarse = [
                _best_by_silhouette(
                    fine, range(min(COARSE_MIN, size), size + 1), seed, COARSE_RESTARTS
                )
                for size in sizes[:-1]
            ]
            found = [*coarse, fine]
        else:
            found = [_kmeans(distinct, min(size, len(distinct)), seed) for size in sizes]
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
        # the nearest centroid by cosine: the argmax of the dot product with the unit
        # centroids (a row's length does not change it), in float64 as onnxruntime's
        scores = vectors.double() @ self.centroids.double().t()
        ids, start = [], 0
        for size in self.fitted.tolist():
            ids.append(scores[..., start : start + size].argmax(-1) + start)
            start += size
        return torch.stack(ids, dim=-1)

    @staticmethod
    def counts(candidate: Tensor, items: Tensor, mask: Tensor) -> Tensor:
        """Per candidate and partition, its items in the candidate's cluster there but in no
        finer partition's (N, levels). ``candidate`` (N, levels), ``items`` (N, H, levels) and
        ``mask`` (N, H). One (N, H) comparison per partition, in booleans."""
        counted = mask <= 0  # padding never counts
        counts = []
        for level in reversed(range(items.shape[-1])):
            same = items[..., level] == candidate[:, level : level + 1]
            counts.append((same & ~counted).to(mask.dtype).sum(1))
            counted = counted | same
        return torch.stack(counts[::-1], dim=-1)
