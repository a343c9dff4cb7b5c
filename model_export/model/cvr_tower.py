"""The conversion tower: the probability that a click converts, beside the click's.

In the manner of ESMM (Ma et al., SIGIR 2018) the two towers share what is costly — the text
vectors, the attention over the history, the pair layer — and each has its own MLP on the
shared hidden layer; training multiplies pCTR × pCVR into pCTCVR so both losses run over every
impression (``train/losses.py``), not over clicks alone. The serving head computes the shared
part once and both outputs from it.

What drives a conversion differs from what drives a click: the hour, the device and the slot
act on it differently (search converts best, a mobile feed least). The tower has its own wide
first-order term per context value for those, as the click tower has. The ad acts on it
differently too (an offer that draws clicks but not buyers, a dear vertical), and the shared
hidden layer is shaped by the far more numerous clicks: so the tower also reads the
candidate's text vector through a linear term of its own (``HeadConfig.cvr_ad_term``;
docs/model.md, 2026-12-05). The frozen text vector does not carry an ad's price within its
vertical, so neither does this term: the ad's price, where it has one, comes as a number
(``service.features.price``) into a linear term of its own (``HeadConfig.cvr_price``).
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from model_export.model.blocks import MLP
from model_export.model.context_terms import table_starts
from service.features.price import N_PRICE_FEATURES

if TYPE_CHECKING:
    from model_export.model.ranker import HeadConfig

START_LOGIT = -2.0  # a click converts about one time in ten at first


class CvrTower(nn.Module):
    """(shared hidden (N, h), context (U, C), user_index, candidates (N, d), ad_price (N, 2))
    → conversion logit (N,)."""

    def __init__(self, cfg: "HeadConfig", context_sizes: Sequence[int]):
        super().__init__()
        self.mlp = MLP(cfg.hidden[0], cfg.hidden[1:], 1, cfg.dropout)
        self.ad_term = nn.Linear(cfg.d, 1, bias=False) if cfg.cvr_ad_term else None
        if self.ad_term is not None:
            nn.init.zeros_(self.ad_term.weight)
        self.price_term = nn.Linear(N_PRICE_FEATURES, 1, bias=False) if cfg.cvr_price else None
        if self.price_term is not None:
            nn.init.zeros_(self.price_term.weight)
        self.context_bias = nn.Embedding(max(sum(context_sizes), 1), 1)
        nn.init.zeros_(self.context_bias.weight)
        self.offsets: Tensor
        self.register_buffer("offsets", table_starts(context_sizes), persistent=False)
        self.base = nn.Parameter(torch.tensor(START_LOGIT))

    def forward(
        self, hidden: Tensor, context: Tensor, user_index: Tensor | None, candidates: Tensor,
        ad_price: Tensor,
    ) -> Tensor:  # fmt: skip
        wide = self.context_bias(context + self.offsets).sum((1, 2))  # (U,)
        per_pair = wide if user_index is None else wide[user_index]
        if self.ad_term is not None:
            per_pair = per_pair + self.ad_term(candidates).squeeze(-1)
        if self.price_term is not None:
            per_pair = per_pair + self.price_term(ad_price).squeeze(-1)
        return self.mlp(hidden).squeeze(-1) + per_pair + self.base
