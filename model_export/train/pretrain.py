"""Behaviour pretraining of the text projection (fast mode): item2vec on the frozen encoder.

Items a user engages with one after the other tend to share an interest. Before the CTR
training starts, the projection is trained so that such neighbouring items land close
together (in-batch contrastive loss, InfoNCE) — abundant, label-free signal that teaches the
vector space the fine-grained topics the click labels alone reveal slowly. The ranking head's
cosine gate then starts from a topic-aware similarity.
"""

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

WINDOW = 2


def neighbour_pairs(events: pd.DataFrame, text_code: np.ndarray) -> np.ndarray:
    """(n, 2) text indices of events that follow each other (within ``WINDOW``) per user."""
    order = np.lexsort((events["ts"].to_numpy(), events["user_id"].to_numpy()))
    users = events["user_id"].to_numpy()[order]
    codes = text_code[order]
    pairs = []
    for gap in range(1, WINDOW + 1):
        same = users[gap:] == users[:-gap]
        pairs.append(np.stack([codes[:-gap][same], codes[gap:][same]], axis=1))
    out = np.concatenate(pairs)
    return out[out[:, 0] != out[:, 1]]


def pretrain_projection(
    projection: nn.Linear,
    table: torch.Tensor,
    pairs: np.ndarray,
    steps: int,
    seed: int,
    batch_size: int = 1024,
    temperature: float = 0.1,
) -> list[float]:
    """Train ``projection`` on ``pairs`` of the pooled ``table``; returns the loss per step."""
    if len(pairs) == 0 or steps == 0:
        return []
    rng = np.random.default_rng([seed, 99])
    optimizer = torch.optim.Adam(projection.parameters(), lr=2e-3)
    losses = []
    for _ in tqdm(range(steps), desc="behaviour pretraining", unit="step", leave=False):
        rows = pairs[rng.integers(0, len(pairs), batch_size)]
        left = F.normalize(projection(table[rows[:, 0]]), dim=1)
        right = F.normalize(projection(table[rows[:, 1]]), dim=1)
        logits = left @ right.T / temperature
        target = torch.arange(len(rows))
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
