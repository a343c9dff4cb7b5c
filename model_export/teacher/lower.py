"""The teacher's frozen lower layers: each unique text's token states, computed once.

The bottom BERT layers see one text at a time, as they were pre-trained, so their output
depends on the text alone: run once per unique text and kept (fp16), they cost nothing per
impression. Only the top layers, which read the ad and the behaviour texts together, run per
training row. On a GPU the same code runs with any split (``trainable_layers`` = all).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm
from transformers import BertModel

from service.features.tokens import TextTokenizer, bucket_length, length_sorted_batches, pad_batch

TOKENS_PER_BATCH = 4096


@dataclass(frozen=True)
class TokenStates:
    """Per text, its first tokens' states after the frozen layers."""

    states: Tensor  # (n_texts, width, hidden) float16
    lengths: Tensor  # (n_texts,) int64: tokens kept


def additive_mask(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """(B, L) 1/0 attention mask → the (B, 1, 1, L) additive mask BERT layers take."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def run_layers(layers: Iterable[torch.nn.Module], hidden: Tensor, mask: Tensor) -> Tensor:
    extended = additive_mask(mask, hidden.dtype)
    for layer in layers:
        out = layer(hidden, attention_mask=extended)
        hidden = out[0] if isinstance(out, tuple) else out
    return hidden


@torch.no_grad()
def token_states(
    bert: BertModel,
    frozen: int,
    tokenizer: TextTokenizer,
    texts: Sequence[str],
    widths: np.ndarray,
    buckets: Sequence[int],
    dtype: torch.dtype = torch.float16,
) -> TokenStates:
    """Each text cut to its ``widths[i]`` first tokens, through the embeddings and the bottom
    ``frozen`` layers of ``bert``, kept as ``dtype``."""
    bert.eval()
    ids = [row[: int(w)] for row, w in zip(tokenizer.encode(texts), widths, strict=True)]
    hidden_size = int(bert.config.hidden_size)
    states = torch.zeros((len(texts), int(widths.max(initial=1)), hidden_size), dtype=dtype)
    lengths = torch.tensor([len(row) for row in ids], dtype=torch.int64)
    batches = length_sorted_batches(ids, TOKENS_PER_BATCH, buckets)
    for rows in tqdm(batches, desc="frozen layers, once per text", unit="batch", leave=False):
        width = bucket_length(max(len(ids[r]) for r in rows), buckets)
        input_ids, mask = (torch.from_numpy(a) for a in pad_batch([ids[r] for r in rows], width))
        hidden = bert.embeddings(input_ids=input_ids)
        hidden = run_layers(bert.encoder.layer[:frozen], hidden, mask)
        used = min(width, states.shape[1])
        states[torch.from_numpy(np.asarray(rows)), :used] = hidden[:, :used].to(dtype)
    return TokenStates(states, lengths)
