"""Where a training step gets its text vectors from.

Fast mode: the frozen encoder's pooled features, cached once (``FrozenTexts``).
Fine-tune mode: BERT runs on the batch's texts and is trained too (``TrainableTexts``).
"""

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from model_export.model.ctr import CTRModel
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
