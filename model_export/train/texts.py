"""Where a training step gets its text vectors from.

Fast mode: the frozen encoder's pooled features, cached once (``FrozenTexts``).
Fine-tune mode: BERT runs on the batch's texts and is trained too (``TrainableTexts``), or
only its top layers do, on the lower layers' token states cached per unique text
(``TopLayerTexts``: fine-tuning a CPU can afford).
"""

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from model_export.model.ctr import CTRModel
from model_export.model.encoder import PooledBert, mean_pool
from model_export.teacher.lower import run_layers, token_states
from model_export.train.embed import pooled_features
from service.features.tokens import TextTokenizer, bucket_length, pad_batch


class TextSource(Protocol):
    def vectors(self, model: CTRModel, texts: Tensor) -> Tensor:
        """Text vectors (len(texts), d) of the given text-table indices, with gradients."""
        ...

    def all_vectors(self, model: CTRModel) -> Tensor:
        """Vectors of the whole text table, for evaluation (no gradients)."""
        ...


class FrozenTexts:
    def __init__(self, pooled: np.ndarray):
        self.table = torch.from_numpy(pooled)

    def vectors(self, model: CTRModel, texts: Tensor) -> Tensor:
        return model.text_vectors(self.table[texts])

    @torch.no_grad()
    def all_vectors(self, model: CTRModel) -> Tensor:
        return model.text_vectors(self.table)


class TrainableTexts:
    def __init__(self, tokenizer: TextTokenizer, texts: Sequence[str], buckets: Sequence[int]):
        self.tokenizer = tokenizer
        self.texts = list(texts)
        self.ids = tokenizer.encode(self.texts)
        self.buckets = tuple(buckets)

    def vectors(self, model: CTRModel, texts: Tensor) -> Tensor:
        assert model.pooled is not None, "fine-tune mode needs the BERT inside the model"
        ids = [self.ids[i] for i in texts.tolist()]
        width = bucket_length(max(len(s) for s in ids), self.buckets)
        input_ids, mask = pad_batch(ids, width)
        pooled = model.pooled(torch.from_numpy(input_ids), torch.from_numpy(mask))
        return model.text_vectors(pooled)

    @torch.no_grad()
    def all_vectors(self, model: CTRModel) -> Tensor:
        assert model.pooled is not None, "fine-tune mode needs the BERT inside the model"
        pooled = pooled_features(model.pooled, self.tokenizer, self.texts, self.buckets)
        return model.text_vectors(torch.from_numpy(pooled))


class TopLayerTexts:
    """The top ``trainable`` BERT layers run on the batch's unique texts and learn; the layers
    below see one text at a time and stay frozen, so their token states are computed once."""

    def __init__(
        self,
        pooled: PooledBert,
        tokenizer: TextTokenizer,
        texts: Sequence[str],
        buckets: Sequence[int],
        trainable: int,
    ):
        self.frozen = int(pooled.bert.config.num_hidden_layers) - trainable
        self.buckets = tuple(buckets)
        widths = np.full(len(texts), tokenizer.max_tokens)
        self.table = token_states(pooled.bert, self.frozen, tokenizer, texts, widths, buckets,
                                  torch.float32)  # fmt: skip

    def vectors(self, model: CTRModel, texts: Tensor) -> Tensor:
        return model.text_vectors(self._pooled(model, texts))

    @torch.no_grad()
    def all_vectors(self, model: CTRModel) -> Tensor:
        return model.text_vectors(self.pooled_all(model))

    @torch.no_grad()
    def pooled_all(self, model: CTRModel) -> Tensor:
        """The current encoder's pooled features of every text (no gradients)."""
        every = torch.arange(len(self.table.lengths))
        chunks = [every[s : s + 512] for s in range(0, len(every), 512)]
        return torch.cat([self._pooled(model, chunk) for chunk in chunks])

    def _pooled(self, model: CTRModel, texts: Tensor) -> Tensor:
        """Pooled features of ``texts``, run in groups of one length bucket (little padding)."""
        assert model.pooled is not None, "fine-tune mode needs the BERT inside the model"
        top = model.pooled.bert.encoder.layer[self.frozen :]
        lengths = self.table.lengths[texts]
        groups = torch.tensor([bucket_length(int(n), self.buckets) for n in lengths])
        order = torch.argsort(groups, stable=True)
        parts = []
        for group in torch.unique(groups):
            rows = order[groups[order] == group]
            width = max(int(lengths[rows].max()), 1)
            mask = (torch.arange(width) < lengths[rows].unsqueeze(1)).to(torch.int64)
            hidden = run_layers(top, self.table.states[texts[rows], :width], mask)
            parts.append(mean_pool(hidden, mask))
        return torch.cat(parts)[torch.argsort(order)]
