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
best epoch's weights are kept. Runs are deterministic for a given ``seed`` on CPU.

Importing deepctr_torch starts a version check against PyPI that prints a failure offline;
the import below silences it.
"""

import contextlib
import copy
import io
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from model_export.data.clicklog import CONTEXT_PREFIX
from model_export.evaluate.metrics import auc, logloss
from model_export.train.history import PAD
from service.features.context import ContextSpec, build_vocab

UNKNOWN = 0
TIME_FIELDS = ("hour", "weekday")


@contextlib.contextmanager
def _quiet_import() -> Iterator[None]:
    """Silence stdout while importing, and wait briefly for threads the import started."""
    before = set(threading.enumerate())
    with contextlib.redirect_stdout(io.StringIO()):
        yield
        for thread in set(threading.enumerate()) - before:
            thread.join(timeout=5.0)


with _quiet_import():
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


@dataclass(frozen=True)
class DinFeaturizer:
    """Frames → DIN's integer feature columns, with vocabularies from training (0 = unknown)."""

    users: pd.Index
    items: pd.Index
    context: ContextSpec
    event_items: np.ndarray  # id of every event's item, aligned with the events frame
    history_len: int

    @classmethod
    def fit(
        cls, train: DinSplit, events: pd.DataFrame, fields: Sequence[str], h: int
    ) -> "DinFeaturizer":
        event_item = events["item_id"].astype(str).to_numpy()
        seen = np.unique(train.history[train.history != PAD])
        items = pd.Index(
            np.union1d(train.impressions["ad_id"].astype(str).unique(), event_item[seen])
        )
        vocab = {f: build_vocab(_context_values(train.impressions, f)) for f in fields}
        users = pd.Index(train.impressions["user_id"].astype(str).unique())
        return cls(users, items, ContextSpec(tuple(fields), vocab), _codes(items, event_item), h)

    def features(self, split: DinSplit) -> dict[str, np.ndarray]:
        """One int64 array per DIN input (``hist_item_id`` is (n, H), the rest (n,))."""
        imps = split.impressions
        hist = _fit_width(np.asarray(split.history, dtype=np.int64), self.history_len)
        valid = hist != PAD
        out = {
            "user_id": _codes(self.users, imps["user_id"].astype(str).to_numpy()),
            "item_id": _codes(self.items, imps["ad_id"].astype(str).to_numpy()),
            "hist_item_id": np.where(valid, self.event_items[np.maximum(hist, 0)], UNKNOWN),
            "seq_length": valid.sum(axis=1).astype(np.int64),
        }
        for name in self.context.fields:
            values = _context_values(imps, name)
            out[CONTEXT_PREFIX + name] = self.context.encode_column(name, values)
        return out

    def columns(self, dim: int) -> list:
        """DeepCTR feature columns for these vocabularies."""
        n_items = len(self.items) + 1
        ctx = [
            SparseFeat(CONTEXT_PREFIX + f, size, embedding_dim=min(dim, 8))
            for f, size in zip(self.context.fields, self.context.sizes(), strict=True)
        ]
        hist = SparseFeat("hist_item_id", n_items, embedding_dim=dim, embedding_name="item_id")
        return [
            SparseFeat("user_id", len(self.users) + 1, embedding_dim=dim),
            SparseFeat("item_id", n_items, embedding_dim=dim),
            *ctx,
            VarLenSparseFeat(hist, maxlen=self.history_len, length_name="seq_length"),
        ]


def _codes(index: pd.Index, values: np.ndarray) -> np.ndarray:
    """1-based positions in ``index``; 0 for values it does not hold."""
    return (index.get_indexer(values) + 1).astype(np.int64)


def _fit_width(history: np.ndarray, width: int) -> np.ndarray:
    if history.shape[1] >= width:
        return history[:, :width]
    pad = np.full((len(history), width - history.shape[1]), PAD, dtype=np.int64)
    return np.concatenate([history, pad], axis=1)


def _context_values(impressions: pd.DataFrame, name: str) -> list[object]:
    """Raw values of a context field; hour/weekday come from ``ts`` when the log lacks them."""
    column = CONTEXT_PREFIX + name
    if column in impressions:
        series = impressions[column].astype(object)
        return series.where(series.notna(), None).tolist()
    if name in TIME_FIELDS:
        moment = pd.to_datetime(impressions["ts"], unit="s", utc=True)
        return (moment.dt.hour if name == "hour" else moment.dt.weekday).tolist()
    raise KeyError(f"impressions have no column {column!r} for context field {name!r}")


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
        x = _matrix(self.model, self.featurizer.features(split))
        return _predict(self.model, x, max(self.config.batch_size, 4096))


def _matrix(model: DIN, features: dict[str, np.ndarray]) -> torch.Tensor:
    """Columns in DeepCTR's ``feature_index`` order, as the float tensor DIN reads (ids are
    exact in float32 below 2**24)."""
    n = len(features["item_id"])
    parts = [features[name].reshape(n, -1) for name in model.feature_index]
    return torch.from_numpy(np.concatenate(parts, axis=1).astype(np.float32))


def _predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        out = [model(x[i : i + batch_size]).reshape(-1) for i in range(0, len(x), batch_size)]
    return torch.cat(out).double().numpy() if out else np.zeros(0)


def _train_epoch(
    model: DIN,
    optim: torch.optim.Optimizer,
    data: tuple[torch.Tensor, torch.Tensor],
    config: DinConfig,
    generator: torch.Generator,
    desc: str,
) -> float:
    """One pass in shuffled mini-batches; returns the mean training log loss."""
    x, y = data
    model.train()
    order = torch.randperm(len(x), generator=generator)
    batches = [order[i : i + config.batch_size] for i in range(0, len(x), config.batch_size)]
    total = 0.0
    for idx in tqdm(batches, desc=desc, disable=not config.verbose, leave=False):
        pred = model(x[idx]).reshape(-1)
        loss = F.binary_cross_entropy(pred, y[idx], reduction="sum")
        optim.zero_grad()
        (loss + model.get_regularization_loss() + model.aux_loss).backward()
        optim.step()
        total += loss.item()
    return total / max(len(x), 1)


def _validate(
    model: torch.nn.Module, valid: tuple[torch.Tensor, np.ndarray], epoch: int, loss: float
) -> dict[str, float | int]:
    p = _predict(model, valid[0], 4096)
    row = {"epoch": epoch, "train_loss": loss, "valid_auc": auc(valid[1], p)}
    return row | {"valid_logloss": logloss(valid[1], p)}


def _fit(
    model: torch.nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    valid: tuple[torch.Tensor, np.ndarray],
    config: DinConfig,
    seed: int,
) -> tuple[list[dict[str, float | int]], int]:
    """Train with early stopping on validation AUC; leaves the best epoch's weights loaded."""
    optim = torch.optim.Adam(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(seed)
    history: list[dict[str, float | int]] = []
    best_auc, best_epoch, best_state = -math.inf, 0, None
    for epoch in range(1, config.max_epochs + 1):
        loss = _train_epoch(model, optim, train, config, generator, f"DIN epoch {epoch}")
        history.append(row := _validate(model, valid, epoch, loss))
        if config.verbose:
            tqdm.write(", ".join(f"{k} {v:.4f}" for k, v in row.items()))
        if row["valid_auc"] > best_auc:  # NaN never wins
            best_auc, best_epoch = row["valid_auc"], epoch
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= config.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history, best_epoch


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
    x_train = _matrix(model, featurizer.features(train))
    y_train = torch.from_numpy(train.impressions["label"].to_numpy(np.float32))
    x_valid = _matrix(model, featurizer.features(valid))
    y_valid = valid.impressions["label"].to_numpy(np.float64)
    history, best = _fit(model, (x_train, y_train), (x_valid, y_valid), config, seed)
    return DinBaseline(model, featurizer, config, history, best)
