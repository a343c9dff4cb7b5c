"""DeepCTR-Torch's DIN on id features: the peer baseline of the MovieLens protocol.

The model is ``deepctr_torch.models.DIN`` (deepctr-torch 0.3.0, which runs unchanged on torch
2.13) with sparse features ``user_id``, ``item_id`` (the ad), one per context field
(``ctx_<field>``), and the behaviour sequence ``hist_item_id``: the item ids of the user's last
H events strictly before the impression, newest first, from
``model_export.train.history.history_index``. Ad ids and behaviour item ids share one
vocabulary and one embedding table (``embedding_name="item_id"``), as on MovieLens where both
are movie ids; the attention is DIN's local activation unit with Dice.

Vocabularies come from the training split only (users and ads of the training impressions,
items of their histories, context values via ``service.features.context``); anything unseen
maps to id 0, the padding/unknown id. Training is DeepCTR's own recipe (Adam, summed binary
cross-entropy plus DeepCTR's embedding L2 term) in a small loop of ours instead of
``model.fit``, so that validation AUC is computed after each epoch for early stopping and the
best epoch's weights are kept. Runs are deterministic for a given ``seed`` on CPU. The id
features and the loop are shared with the multitask baselines (``deepctr_common``).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from model_export.evaluate.deepctr_common import (
    UNKNOWN,
    IdFeaturizer,
    codes,
    fit,
    matrix,
    predict,
    quiet_import,
)
from model_export.evaluate.metrics import auc, logloss
from model_export.train.history import PAD, history_index

with quiet_import():
    from deepctr_torch.inputs import SparseFeat, VarLenSparseFeat
    from deepctr_torch.models import DIN


@dataclass(frozen=True)
class DinConfig:
    """Model size and training schedule (defaults follow DeepCTR's DIN example)."""

    history_len: int = 32
    embedding_dim: int = 16
    dnn_hidden_units: tuple[int, ...] = (256, 128)
    att_hidden_units: tuple[int, ...] = (64, 16)
    dnn_dropout: float = 0.0
    l2_reg_embedding: float = 1e-6
    init_std: float = 1e-4  # of the embeddings; DeepCTR's default
    lr: float = 1e-3
    batch_size: int = 256
    max_epochs: int = 10
    patience: int = 2  # epochs without a better validation AUC before stopping
    verbose: bool = True


@dataclass(frozen=True)
class DinSplit:
    """Impressions of one split and their history: ``history[i]`` holds row positions into the
    events frame (``history_index``, newest first, ``PAD`` = -1 where there is none)."""

    impressions: pd.DataFrame
    history: np.ndarray


def din_splits(
    events: pd.DataFrame, frame: pd.DataFrame, history_len: int, rows: Mapping[str, np.ndarray]
) -> dict[str, DinSplit]:
    """Per name, the ``DinSplit`` of those row positions of ``frame`` (histories from
    ``events``): how ``adrank evaluate --din`` and the tuning both cut the rows."""
    hist = history_index(events, frame, history_len)
    return {
        name: DinSplit(frame.iloc[idx].reset_index(drop=True), hist[idx])
        for name, idx in rows.items()
    }


@dataclass(frozen=True)
class DinFeaturizer:
    """Frames → DIN's integer feature columns: the id columns of ``IdFeaturizer`` (its items
    include the training histories' items) and the behaviour sequence."""

    ids: IdFeaturizer
    event_items: np.ndarray  # id of every event's item, aligned with the events frame
    history_len: int

    @classmethod
    def fit(
        cls, train: DinSplit, events: pd.DataFrame, fields: Sequence[str], h: int
    ) -> "DinFeaturizer":
        event_item = events["item_id"].astype(str).to_numpy()
        seen = np.unique(train.history[train.history != PAD])
        ids = IdFeaturizer.fit(train.impressions, fields, extra_items=event_item[seen])
        return cls(ids, codes(ids.items, event_item), h)

    def features(self, split: DinSplit) -> dict[str, np.ndarray]:
        """One int64 array per DIN input (``hist_item_id`` is (n, H), the rest (n,))."""
        hist = _fit_width(np.asarray(split.history, dtype=np.int64), self.history_len)
        valid = hist != PAD
        return self.ids.features(split.impressions) | {
            "hist_item_id": np.where(valid, self.event_items[np.maximum(hist, 0)], UNKNOWN),
            "seq_length": valid.sum(axis=1).astype(np.int64),
        }

    def columns(self, dim: int) -> list:
        """DeepCTR feature columns for these vocabularies."""
        n_items = len(self.ids.items) + 1
        hist = SparseFeat("hist_item_id", n_items, embedding_dim=dim, embedding_name="item_id")
        return [
            *self.ids.columns(dim),
            VarLenSparseFeat(hist, maxlen=self.history_len, length_name="seq_length"),
        ]


def _fit_width(history: np.ndarray, width: int) -> np.ndarray:
    if history.shape[1] >= width:
        return history[:, :width]
    pad = np.full((len(history), width - history.shape[1]), PAD, dtype=np.int64)
    return np.concatenate([history, pad], axis=1)


@dataclass
class DinBaseline:
    """A trained DIN with its featurizer; ``history`` holds one row of metrics per epoch."""

    model: DIN
    featurizer: DinFeaturizer
    config: DinConfig
    history: list[dict[str, float | int]] = field(default_factory=list)
    best_epoch: int = 0

    def predict(self, split: DinSplit) -> np.ndarray:
        """Click probability of every impression of ``split`` (float64, shape (n,))."""
        x = matrix(self.model, self.featurizer.features(split))
        return predict(self.model, x, max(self.config.batch_size, 4096)).reshape(-1)


def train_din(
    train: DinSplit,
    valid: DinSplit,
    *,
    events: pd.DataFrame,
    context_fields: Sequence[str],
    config: DinConfig | None = None,
    seed: int = 0,
) -> DinBaseline:
    """Fit DIN on ``train``, early-stopped on ``valid``'s AUC.

    ``events`` is the frame both splits' ``history`` matrices index into (and that later
    ``predict`` calls' histories must index into too); ``context_fields`` are the names of the
    impressions' ``ctx_<field>`` columns to use (hour/weekday derive from ``ts`` if absent).
    """
    config = config or DinConfig()
    torch.manual_seed(seed)
    np.random.seed(seed)
    featurizer = DinFeaturizer.fit(train, events, context_fields, config.history_len)
    model = DIN(
        featurizer.columns(config.embedding_dim),
        ["item_id"],
        dnn_hidden_units=config.dnn_hidden_units,
        att_hidden_size=config.att_hidden_units,
        dnn_dropout=config.dnn_dropout,
        l2_reg_embedding=config.l2_reg_embedding,
        init_std=config.init_std,
        seed=seed,
    )
    x_train = matrix(model, featurizer.features(train))
    y_train = torch.from_numpy(train.impressions["label"].to_numpy(np.float32))
    x_valid = matrix(model, featurizer.features(valid))
    y_valid = valid.impressions["label"].to_numpy(np.float64)

    def validate(m: torch.nn.Module) -> dict[str, float | int]:
        p = predict(m, x_valid).reshape(-1)
        return {"valid_auc": auc(y_valid, p), "valid_logloss": logloss(y_valid, p)}

    history, best = fit(model, (x_train, y_train), validate, "valid_auc", config, seed, "DIN")
    return DinBaseline(model, featurizer, config, history, best)
