"""The cross-encoder teacher: the top BERT layers over one sequence of a prefix (a [CLS]
token, the context, the ad's prior), the ad text's tokens and the user's recent behaviour
texts' tokens, so every ad token attends to every behaviour token — the reading a serving
model, which meets the two sides only as one vector each, cannot afford.

The lower layers' token states come from ``lower.py``; padding is squeezed out of each
sequence (``pack``) so the trained layers run only on real tokens.
"""

import copy

import torch
from torch import Tensor, nn
from transformers import BertModel

from model_export.teacher.lower import TokenStates, run_layers

PREFIX, AD, BEHAVIOUR = 0, 1, 2  # segments


class CrossTeacher(nn.Module):
    def __init__(
        self, bert: BertModel, trainable_layers: int, context_sizes: list[int], items: int
    ):
        super().__init__()
        hidden = int(bert.config.hidden_size)
        self.layers = nn.ModuleList(copy.deepcopy(list(bert.encoder.layer[-trainable_layers:])))
        self.cls = nn.Parameter(torch.randn(hidden) * 0.02)
        self.context = nn.ModuleList(nn.Embedding(size, hidden) for size in context_sizes)
        self.prior = nn.Linear(2, hidden)
        self.segment = nn.Embedding(3, hidden)
        self.recency = nn.Embedding(items, hidden)  # which of the recent items a token is in
        for table in (*self.context, self.segment, self.recency):
            nn.init.normal_(table.weight, std=0.02)
        self.out = nn.Linear(hidden, 1)
        self.items = items

    def forward(
        self,
        table: TokenStates,
        ad: Tensor,
        history: Tensor,
        context: Tensor,
        prior: Tensor,
        base: Tensor,
    ) -> Tensor:
        """Click logits (B,) of rows given by their ad's text (B,), their history's texts
        (B, H, newest first, -1 = none), context ids (B, C), prior features (B, 2) and the
        logit the teacher starts from (B,: ``base.py``'s, or zeros)."""
        prefix = self._prefix(context, prior)
        ad_states, ad_mask = _text_tokens(table, ad)
        item_states, item_mask = self._behaviour(table, history[:, : self.items])
        states = torch.cat([prefix, ad_states + self.segment.weight[AD], item_states], dim=1)
        ones = torch.ones(prefix.shape[:2], dtype=ad_mask.dtype, device=ad_mask.device)
        states, mask = pack(states, torch.cat([ones, ad_mask, item_mask], dim=1))
        hidden = run_layers(self.layers, states, mask)
        return base + self.out(hidden[:, 0]).squeeze(-1)

    def _prefix(self, context: Tensor, prior: Tensor) -> Tensor:
        tokens = [self.cls.expand(len(context), -1)]
        tokens += [emb(context[:, i]) for i, emb in enumerate(self.context)]
        tokens.append(self.prior(prior))
        return torch.stack(tokens, dim=1) + self.segment.weight[PREFIX]

    def _behaviour(self, table: TokenStates, history: Tensor) -> tuple[Tensor, Tensor]:
        states, mask = _text_tokens(table, history.clamp(min=0))  # (B, K, T, h), (B, K, T)
        mask = mask * (history >= 0).unsqueeze(-1).to(mask.dtype)
        k = history.shape[1]
        states = states + self.segment.weight[BEHAVIOUR] + self.recency.weight[:k, None, :]
        batch = len(history)
        return states.reshape(batch, -1, states.shape[-1]), mask.reshape(batch, -1)


def _text_tokens(table: TokenStates, texts: Tensor) -> tuple[Tensor, Tensor]:
    """Token states (…, T, h) float32 and their mask (…, T) of the given text indices."""
    states = table.states[texts].float()
    positions = torch.arange(states.shape[-2], device=states.device)
    mask = (positions < table.lengths[texts].unsqueeze(-1)).to(torch.int64)
    return states, mask


def pack(states: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Move each row's real tokens to its front (in order) and cut the columns no row uses."""
    order = torch.argsort(1 - mask, dim=1, stable=True)
    width = max(int(mask.sum(1).max()), 1)
    order = order[:, :width]
    packed = torch.gather(states, 1, order.unsqueeze(-1).expand(-1, -1, states.shape[-1]))
    return packed, torch.gather(mask, 1, order)
