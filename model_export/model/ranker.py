"""The ranking head: target attention of each candidate over the user's history, then an MLP.

Cheap by construction (DESIGN.md: the head runs for every candidate of every request):
attention is a projected dot product, not an MLP per (candidate, item) pair, and the first MLP
layer is split by input so the per-user part (pooled history, context) runs once per user.

Weights are sigmoid gates, not a softmax: a softmax would normalise away how *many* past items
resemble the candidate, and that count is what interest intensity is (DIN keeps it for the same
reason). The head sees both the gated mean of the matching items and their total weight.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from model_export.model.blocks import MLP
from service.features.prior import N_PRIOR_FEATURES


@dataclass(frozen=True)
class HeadConfig:
    d: int = 128
    attention_dim: int = 64
    context_dim: int = 8
    id_dim: int = 16
    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.1


class RankingHead(nn.Module):
    """(history, mask, context, candidates, user_index, ad_bucket, ad_prior) → (logit, weights)."""

    def __init__(self, cfg: HeadConfig, context_sizes: Sequence[int], id_buckets: int):
        super().__init__()
        self.query = nn.Linear(cfg.d, cfg.attention_dim, bias=False)
        self.key = nn.Linear(cfg.d, cfg.attention_dim, bias=False)
        self.gate_bias = nn.Parameter(torch.tensor(-2.0))
        self.scale = 1.0 / math.sqrt(cfg.attention_dim)
        self.context_emb = nn.ModuleList(nn.Embedding(n, cfg.context_dim) for n in context_sizes)
        self.id_emb = nn.Embedding(id_buckets, cfg.id_dim)
        user_in = cfg.d + len(context_sizes) * cfg.context_dim
        pair_in = 3 * cfg.d + 1 + cfg.id_dim + N_PRIOR_FEATURES
        self.user_layer = nn.Linear(user_in, cfg.hidden[0])
        self.pair_layer = nn.Linear(pair_in, cfg.hidden[0], bias=False)
        self.mlp = MLP(cfg.hidden[0], cfg.hidden[1:], 1, cfg.dropout)
        self.act = nn.Sequential(nn.ReLU(), nn.Dropout(cfg.dropout))
        self.prior_weight = nn.Parameter(torch.tensor(1.0))

    def attend(
        self, history: Tensor, mask: Tensor, candidates: Tensor, user_index: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Per candidate: sigmoid weights over its user's items (N, H) and their weighted sum."""
        keys = self.key(history)[user_index]  # (N, H, a)
        query = self.query(candidates).unsqueeze(-1)  # (N, a, 1)
        scores = torch.matmul(keys, query).squeeze(-1) * self.scale + self.gate_bias
        weights = torch.sigmoid(scores) * mask[user_index]
        summed = torch.matmul(weights.unsqueeze(1), history[user_index]).squeeze(1)  # (N, d)
        return weights, summed

    def user_part(self, history: Tensor, mask: Tensor, context: Tensor) -> Tensor:
        """First-layer activation of the per-user inputs: pooled history and context (U, h)."""
        count = mask.sum(1, keepdim=True).clamp(min=1.0)
        pooled = (history * mask.unsqueeze(-1)).sum(1) / count
        ctx = [emb(context[:, i]) for i, emb in enumerate(self.context_emb)]
        return self.user_layer(torch.cat([pooled, *ctx], dim=1))

    def forward(
        self,
        history: Tensor,
        history_mask: Tensor,
        context: Tensor,
        candidates: Tensor,
        user_index: Tensor,
        ad_bucket: Tensor,
        ad_prior: Tensor,
    ) -> tuple[Tensor, Tensor]:
        weights, summed = self.attend(history, history_mask, candidates, user_index)
        mass = weights.sum(1, keepdim=True)
        attended = summed / mass.clamp(min=1e-3)
        pair = torch.cat(
            [
                candidates,
                attended,
                candidates * attended,
                torch.log1p(mass),
                self.id_emb(ad_bucket),
                ad_prior,
            ],
            dim=1,
        )
        hidden = self.act(
            self.pair_layer(pair) + self.user_part(history, history_mask, context)[user_index]
        )
        logit = self.mlp(hidden).squeeze(-1) + self.prior_weight * ad_prior[:, 0]
        return logit, weights
