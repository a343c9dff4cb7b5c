"""The ranking head: target attention of each candidate over the user's history, then an MLP.

Cheap by construction (DESIGN.md: the head runs for every candidate of every request):
attention is a projected dot product, not an MLP per (candidate, item) pair, and the first MLP
layer is split by input so the per-user part (pooled history, context) runs once per user.

Weights are sigmoid gates, not a softmax: a softmax would normalise away how *many* past items
resemble the candidate, and that count is what interest intensity is (DIN keeps it for the same
reason). The MLP reads each gate's total weight (log1p of the mass); optionally
(``HeadConfig.pair_attended``) also the gated mean of the matching items and its product with
the candidate. With topic clusters (``clusters.py``) it also reads whole counts: the user's
items in the candidate's cluster, per partition.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from model_export.model.blocks import MLP, unit_rows
from model_export.model.clusters import TopicClusters
from model_export.model.context_terms import (
    AdContextFactors,
    CellOffsets,
    PairBiases,
    table_starts,
)
from model_export.model.cvr_tower import CvrTower
from service.features.prior import N_PRIOR_FEATURES

Rows = Tensor | None  # user_index; None when candidate i belongs to user i (training)


Keys = tuple[Tensor, Tensor, Tensor]  # learned keys, unit vectors, cluster ids


class HeadOutput(NamedTuple):
    logit: Tensor  # (N,) click logit
    weights: Tensor  # (N, H) attention weight of each history item, averaged over the gates
    cvr_logit: Tensor | None  # (N,) conversion logit of a click; None without a CVR tower


def _per_head(values: Sequence[float], heads: int) -> Tensor:
    """(heads, 1) starting values: one per head, cycled when fewer are given."""
    return torch.tensor([values[i % len(values)] for i in range(heads)]).unsqueeze(1)


def _stacked(tables: nn.ModuleList) -> Tensor:
    """The rows of several embedding tables, one table after the other."""
    return torch.cat([t.weight for t in tables if isinstance(t, nn.Embedding)])


def _rows(per_user: Tensor, user_index: Rows) -> Tensor:
    """Each candidate's row of a per-user tensor."""
    return per_user if user_index is None else per_user[user_index]


@dataclass(frozen=True)
class HeadConfig:
    d: int = 128
    attention_heads: int = 2
    attention_dim: int = 64  # per head
    context_dim: int = 8
    id_dim: int = 16
    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.2
    # per gate, its starting sigmoid(w·cosine + b). The first starts sharp, a step at cosine
    # 0.55, so its mass counts the items that match (training barely moves these; from a soft
    # start every unrelated item kept adding ~0.12: synthetic valid AUC 0.8545 → 0.8599); the
    # second starts soft, for data whose matches are graded (MovieLens titles and genres).
    gate_cosine_init: tuple[float, ...] = (20.0, 4.0)
    gate_bias_init: tuple[float, ...] = (-11.0, -2.0)
    # the pair layer reads the candidate and each gate's mass; with ``pair_attended`` also
    # each gate's attended vector and its product with the candidate (heads·2·d inputs
    # more). Off by default: they cost the head time for no AUC on either data set
    # (docs/model.md; `python -m loadtests.bench_model` measures the head).
    pair_attended: bool = False
    # sizes of the k-means partitions of the item vectors, coarse to fine (``clusters.py``):
    # per partition, the count of history items in the candidate's cluster (and in no finer
    # one's) goes to the pair layer and, with a learned weight, straight to the logit. The
    # sizes are bounds when ``cluster_search``: the finest partition is the best by
    # silhouette, each coarser one the best grouping of its clusters (``clusters.py``).
    # Fitted on a trained text space (``train/run.py``: training in two stages).
    clusters: tuple[int, ...] = ()  # e.g. (16, 256): the best k ≤ 256, grouped into ≤ 16
    cluster_search: bool = True
    # starting weight of each partition's count (log1p) in the logit, coarse to fine, the last
    # ones given (0 for the rest). The finest starts at 1 like the ad prior; with every
    # weight at 1 the coarse one had only come down to 0.77 by the best epoch.
    cluster_weight_init: tuple[float, ...] = (0.0, 1.0)
    # where the context goes (``context_terms.py``): its embeddings into the MLP's user layer,
    # a wide bias per pair of context values, a factorised ad × context term of this width
    context_mlp: bool = True
    context_cross: bool = False
    ad_context_dim: int = 0
    # a conversion tower beside the click one (``cvr_tower.py``): trained when the log has
    # conversions (``adrank train`` turns it off, and says so, for a log without them)
    cvr: bool = True
    # the conversion tower's own linear term on the candidate's text vector (``cvr_tower.py``)
    cvr_ad_term: bool = True
    # ... and its linear term on the ad's price (``service.features.price``; ads without one
    # read as such). The click tower does not read the price.
    cvr_price: bool = True

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "HeadConfig":
        """From JSON-like values (a saved run's config, ``adrank train --head``): lists become
        the tuples the sequence fields hold."""
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                                  for k, v in raw.items()}  # fmt: skip
        return cls(**values)


class RankingHead(nn.Module):
    """(history, mask, context, candidates, user_index, ad_bucket, ad_prior) → ``HeadOutput``.

    Several gates (heads) may look for different kinds of match — the same fine topic, the
    same broad interest — and each reports its own mass and its own gated mean.
    """

    def __init__(self, cfg: HeadConfig, context_sizes: Sequence[int], id_buckets: int):
        super().__init__()
        self.heads, self.head_dim = cfg.attention_heads, cfg.attention_dim
        self.query = nn.Linear(cfg.d, cfg.attention_heads * cfg.attention_dim, bias=False)
        self.key = nn.Linear(cfg.d, cfg.attention_heads * cfg.attention_dim, bias=False)
        self.gate_bias = nn.Parameter(_per_head(cfg.gate_bias_init, cfg.attention_heads))
        # each gate also reads the cosine similarity of candidate and item: text that means
        # the same thing starts out matched, and the learned keys refine it
        self.cosine_weight = nn.Parameter(_per_head(cfg.gate_cosine_init, cfg.attention_heads))
        # learnable sharpness per head (log scale, so Adam can grow it quickly)
        self.gate_log_scale = nn.Parameter(
            torch.full((cfg.attention_heads, 1), -0.5 * math.log(cfg.attention_dim))
        )
        self.context_emb = nn.ModuleList(nn.Embedding(n, cfg.context_dim) for n in context_sizes)
        # a wide, first-order term per context value (position, slot, hour, ...) beside the MLP
        biases = [nn.Embedding(n, 1) for n in context_sizes]
        for bias in biases:
            nn.init.zeros_(bias.weight)
        self.context_bias = nn.ModuleList(biases)
        offsets = table_starts(context_sizes)  # where each field's rows start
        self.context_offsets: Tensor
        self.register_buffer("context_offsets", offsets, persistent=False)
        self.id_emb = nn.Embedding(id_buckets, cfg.id_dim)
        self.context_mlp = cfg.context_mlp
        user_in = cfg.d + len(context_sizes) * cfg.context_dim * cfg.context_mlp
        self.pair_biases = PairBiases(context_sizes) if cfg.context_cross else None
        self.ad_context = (
            AdContextFactors(context_sizes, cfg.d, cfg.ad_context_dim)
            if cfg.ad_context_dim
            else None
        )
        self.pair_attended = cfg.pair_attended
        pair_in = (1 + 2 * cfg.attention_heads * cfg.pair_attended) * cfg.d + cfg.attention_heads
        self.clusters = TopicClusters(cfg.clusters, cfg.d)
        levels = self.clusters.levels
        start = ((0.0,) * levels + cfg.cluster_weight_init)[-levels:] if levels else ()
        self.cluster_weight = nn.Parameter(torch.tensor(start, dtype=torch.float32))
        pair_in += cfg.id_dim + N_PRIOR_FEATURES + levels
        self.user_layer = nn.Linear(user_in, cfg.hidden[0])
        self.pair_layer = nn.Linear(pair_in, cfg.hidden[0], bias=False)
        self.mlp = MLP(cfg.hidden[0], cfg.hidden[1:], 1, cfg.dropout)
        self.cvr_tower = CvrTower(cfg, context_sizes) if cfg.cvr else None
        self.act = nn.Sequential(nn.ReLU(), nn.Dropout(cfg.dropout))
        self.prior_weight = nn.Parameter(torch.tensor(1.0))
        # context-cell offsets fitted after training (``train/cell_offsets.py``), if any
        self.cell_offsets: CellOffsets | None = None

    def item_keys(self, vectors: Tensor) -> Keys:
        """Attention keys of item vectors (..., d): the learned keys (..., heads, a), the
        unit-length vectors (..., d) for the cosine term and the clusters (..., levels)."""
        keys = self.key(vectors).unflatten(-1, (self.heads, self.head_dim))
        return keys, unit_rows(vectors), self.clusters.assign(vectors)

    def attend(
        self, keys: Keys, history: Tensor, mask: Tensor, candidates: Tensor, user_index: Rows
    ) -> Tensor:
        """Per candidate and head, sigmoid weights over its user's items (N, heads, H).
        ``keys``: ``item_keys`` of the history."""
        learned, unit, _ = keys
        query = self.query(candidates).view(-1, self.heads, self.head_dim)
        if user_index is None:  # training: candidate i is user i's
            scores = torch.matmul(learned.transpose(1, 2), query.unsqueeze(-1)).squeeze(-1)
            cosine = torch.matmul(unit, unit_rows(candidates).unsqueeze(-1)).transpose(1, 2)
            return self._gate(scores, cosine) * mask.unsqueeze(1)
        return self._attend_flat(learned, unit, mask, query, candidates, user_index)

    def _attend_flat(
        self,
        learned: Tensor,
        unit: Tensor,
        mask: Tensor,
        query: Tensor,
        candidates: Tensor,
        user_index: Tensor,
    ) -> Tensor:
        """Serving layout: score every candidate against all U·H items of the call with one
        matrix product per head, then keep its own user's H columns. Plain GEMMs instead of a
        copy of the history per candidate (which made batching users cost more per user)."""
        users, h, d = unit.shape
        cols = user_index.unsqueeze(1) * h + torch.arange(h, device=user_index.device)  # (N, H)
        head_cols = cols.unsqueeze(0).expand(self.heads, -1, -1)
        flat_keys = learned.reshape(users * h, self.heads, self.head_dim).permute(1, 2, 0)
        scores = torch.gather(torch.matmul(query.transpose(0, 1), flat_keys), 2, head_cols)
        all_cosine = torch.matmul(unit_rows(candidates), unit.reshape(users * h, d).t())
        cosine = torch.gather(all_cosine, 1, cols).unsqueeze(1)
        item_mask = mask[user_index].unsqueeze(1)  # a row gather: cheaper than by cols
        return self._gate(scores.transpose(0, 1), cosine) * item_mask  # (N, heads, H)

    def weighted_items(self, weights: Tensor, history: Tensor, user_index: Rows) -> Tensor:
        """Per candidate and head, the weighted sum of its user's items (N, heads, d)."""
        if user_index is None:
            return torch.matmul(weights, history)
        # serving: each candidate's weights placed in its own user's H columns of the call's
        # U·H items, by a one-hot multiply (cheaper in onnxruntime than a ScatterElements)
        users, h, d = history.shape
        own = user_index.unsqueeze(1) == torch.arange(users, device=user_index.device)
        spread = weights.unsqueeze(2) * own.to(weights.dtype)[:, None, :, None]
        spread = spread.reshape(weights.shape[0], self.heads, users * h)
        return torch.matmul(spread, history.reshape(users * h, d))

    def _gate(self, scores: Tensor, cosine: Tensor) -> Tensor:
        """Sigmoid gate of learned scores (N, heads, H) and float64 cosines (N, 1, H): the
        argument is summed in float64, the sigmoid taken in float32 (onnxruntime's float64
        sigmoid is not vectorised; `python -m loadtests.bench_model` measures the head)."""
        sharp = self.cosine_weight.double() * cosine + self.gate_bias.double()
        learned = scores * self.gate_log_scale.exp()
        return torch.sigmoid((sharp + learned.double()).float())

    def user_part(self, history: Tensor, mask: Tensor, context: Tensor) -> Tensor:
        """Per-user inputs once per user, side by side: the first-layer activation of pooled
        history and context (h columns), the wide context term (1), and the ad × context
        factors (``ad_context_dim``)."""
        count = mask.sum(1, keepdim=True).clamp(min=1.0)
        pooled = (history * mask.unsqueeze(-1)).sum(1) / count
        ctx, wide = self._context(context)
        if self.pair_biases is not None:
            wide = wide + self.pair_biases(context)
        parts = [self.user_layer(torch.cat([pooled, ctx], dim=1) if self.context_mlp else pooled)]
        parts.append(wide)
        if self.ad_context is not None:
            parts.append(self.ad_context.user_factors(context))
        return torch.cat(parts, dim=1)

    def _context(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """Context embeddings side by side (U, C·context_dim) and the summed wide term (U, 1).

        Every field's table is looked up in one gather over the tables stacked (a field's
        codes offset by the sizes before it): one node instead of one per field and table."""
        rows = context + self.context_offsets
        emb = _stacked(self.context_emb)[rows]  # (U, C, context_dim)
        wide = _stacked(self.context_bias)[rows].sum(1)  # (U, 1)
        return emb.flatten(1), wide

    def forward(
        self,
        history: Tensor,
        history_mask: Tensor,
        context: Tensor,
        candidates: Tensor,
        user_index: Tensor,
        ad_bucket: Tensor,
        ad_prior: Tensor,
        ad_price: Tensor,
    ) -> HeadOutput:
        keys = self.item_keys(history)
        return self.score(keys, history, history_mask, context, candidates, user_index,
                          ad_bucket, ad_prior, ad_price)  # fmt: skip

    def score(
        self,
        keys: Keys,
        history: Tensor,
        history_mask: Tensor,
        context: Tensor,
        candidates: Tensor,
        user_index: Rows,
        ad_bucket: Tensor,
        ad_prior: Tensor,
        ad_price: Tensor,
    ) -> HeadOutput:
        """``forward`` with the history's keys given (training computes them per unique text)
        and ``user_index`` None when there is one candidate per user (training rows)."""
        weights = self.attend(keys, history, history_mask, candidates, user_index)
        mass = weights.sum(2)  # (N, heads)
        pair = [candidates]
        if self.pair_attended:
            summed = self.weighted_items(weights, history, user_index)
            attended = summed / mass.clamp(min=1e-3).unsqueeze(-1)  # (N, heads, d)
            product = candidates.unsqueeze(1) * attended
            pair += [attended.flatten(1), product.flatten(1)]
        pair += [torch.log1p(mass), self.id_emb(ad_bucket), ad_prior]
        per_user = _rows(self.user_part(history, history_mask, context), user_index)
        h = self.user_layer.out_features
        wide = per_user[:, h] + self.prior_weight * ad_prior[:, 0]
        if self.ad_context is not None:
            wide = wide + self.ad_context(per_user[:, h + 1 :], candidates)
        own = self.clusters.assign(candidates)  # (N, levels)
        if self.clusters.levels:  # per partition, its user's items in its cluster
            items = (_rows(keys[2], user_index), _rows(history_mask, user_index))
            counts = torch.log1p(self.clusters.counts(own, *items))
            pair.append(counts)
            wide = wide + counts @ self.cluster_weight
        if self.cell_offsets is not None:
            wide = wide + self.cell_offsets(_rows(context, user_index), own)
        hidden = self.act(self.pair_layer(torch.cat(pair, dim=1)) + per_user[:, :h])
        logit = self.mlp(hidden).squeeze(-1) + wide
        cvr = (
            None
            if self.cvr_tower is None
            else self.cvr_tower(hidden, context, user_index, candidates, ad_price)
        )
        return HeadOutput(logit, weights.mean(1), cvr)
