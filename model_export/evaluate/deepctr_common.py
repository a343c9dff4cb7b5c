"""What the DeepCTR-Torch baselines share (``din`` and ``deepctr_multitask``).

- ``quiet_import``: importing deepctr_torch starts a version check against PyPI that prints a
  failure offline; importing under it silences that.
- ``IdFeaturizer``: impressions → integer id columns ``user_id``, ``item_id`` (the ad) and one
  per context field (``ctx_<field>``), with vocabularies from the training split only (context
  values via ``service.features.context``); anything unseen maps to id 0, the padding/unknown
  id. ``columns`` gives the matching DeepCTR ``SparseFeat`` columns.
- ``fit``: DeepCTR's own training recipe (Adam, summed binary cross-entropy over every task
  plus DeepCTR's L2 terms, as ``BaseModel.fit`` computes it) in a small loop of ours instead
  of ``model.fit``, so that a validation score is computed after each epoch for early stopping
  and the best epoch's weights are kept. Deterministic for a given seed on CPU.
"""

import contextlib
import copy
import io
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from model_export.data.clicklog import CONTEXT_PREFIX
from service.features.context import ContextSpec, build_vocab

UNKNOWN = 0
TIME_FIELDS = ("hour", "weekday")
PREDICT_BATCH = 4096


@contextlib.contextmanager
def quiet_import() -> Iterator[None]:
    """Silence stdout while importing, and wait briefly for threads the import started."""
    before = set(threading.enumerate())
    with contextlib.redirect_stdout(io.StringIO()):
        yield
        for thread in set(threading.enumerate()) - before:
            thread.join(timeout=5.0)


with quiet_import():
    from deepctr_torch.inputs import SparseFeat


@dataclass(frozen=True)
class IdFeaturizer:
    """Impressions → DeepCTR's integer id columns, vocabularies from training (0 = unknown)."""

    users: pd.Index
    items: pd.Index
    context: ContextSpec

    @classmethod
    def fit(
        cls, train: pd.DataFrame, fields: Sequence[str], extra_items: np.ndarray | None = None
    ) -> "IdFeaturizer":
        """Users and ads of the training impressions (plus ``extra_items``, e.g. the items of
        their behaviour histories), context values of the ``fields`` there."""
        items = train["ad_id"].astype(str).unique()
        if extra_items is not None:
            items = np.union1d(items, extra_items)
        vocab = {f: build_vocab(context_values(train, f)) for f in fields}
        users = pd.Index(train["user_id"].astype(str).unique())
        return cls(users, pd.Index(items), ContextSpec(tuple(fields), vocab))

    def features(self, impressions: pd.DataFrame) -> dict[str, np.ndarray]:
        """One int64 array (n,) per id column."""
        out = {
            "user_id": codes(self.users, impressions["user_id"].astype(str).to_numpy()),
            "item_id": codes(self.items, impressions["ad_id"].astype(str).to_numpy()),
        }
        for name in self.context.fields:
            values = context_values(impressions, name)
            out[CONTEXT_PREFIX + name] = self.context.encode_column(name, values)
        return out

    def columns(self, dim: int) -> list:
        """DeepCTR ``SparseFeat`` columns: ``dim`` for users and ads, ``min(dim, 8)`` for the
        context fields."""
        ctx = [
            SparseFeat(CONTEXT_PREFIX + f, size, embedding_dim=min(dim, 8))
            for f, size in zip(self.context.fields, self.context.sizes(), strict=True)
        ]
        return [
            SparseFeat("user_id", len(self.users) + 1, embedding_dim=dim),
            SparseFeat("item_id", len(self.items) + 1, embedding_dim=dim),
            *ctx,
        ]


def codes(index: pd.Index, values: np.ndarray) -> np.ndarray:
    """1-based positions in ``index``; 0 for values it does not hold."""
    return (index.get_indexer(values) + 1).astype(np.int64)


def context_values(impressions: pd.DataFrame, name: str) -> list[object]:
    """Raw values of a context field; hour/weekday come from ``ts`` when the log lacks them."""
    column = CONTEXT_PREFIX + name
    if column in impressions:
        series = impressions[column].astype(object)
        return series.where(series.notna(), None).tolist()
    if name in TIME_FIELDS:
        moment = pd.to_datetime(impressions["ts"], unit="s", utc=True)
        return (moment.dt.hour if name == "hour" else moment.dt.weekday).tolist()
    raise KeyError(f"impressions have no column {column!r} for context field {name!r}")


def matrix(model: torch.nn.Module, features: dict[str, np.ndarray]) -> torch.Tensor:
    """Columns in DeepCTR's ``feature_index`` order, as the float tensor its models read (ids
    are exact in float32 below 2**24)."""
    n = len(features["item_id"])
    index: dict[str, object] = model.feature_index  # type: ignore[assignment]
    parts = [features[name].reshape(n, -1) for name in index]
    return torch.from_numpy(np.concatenate(parts, axis=1).astype(np.float32))


def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """The model's outputs in eval mode, float64 (n, tasks)."""
    model.eval()
    with torch.no_grad():
        out = [model(x[i : i + batch_size]).reshape(len(x[i : i + batch_size]), -1)
               for i in range(0, len(x), batch_size)]  # fmt: skip
    return torch.cat(out).double().numpy() if out else np.zeros((0, 1))


class Schedule(Protocol):
    """The training schedule a baseline's config gives ``fit``."""

    @property
    def lr(self) -> float: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def max_epochs(self) -> int: ...
    @property
    def patience(self) -> int: ...  # epochs without a better validation score before stopping
    @property
    def verbose(self) -> bool: ...


Row = dict[str, float | int]


def train_epoch(
    model: torch.nn.Module,
    optim: torch.optim.Optimizer,
    data: tuple[torch.Tensor, torch.Tensor],
    schedule: Schedule,
    generator: torch.Generator,
    desc: str,
) -> float:
    """One pass in shuffled mini-batches; returns the training log loss per row (summed over
    the tasks). ``y`` is (n,) for one task or (n, tasks), the model's output of the same
    shape."""
    x, y = data
    model.train()
    order = torch.randperm(len(x), generator=generator)
    batches = [order[i : i + schedule.batch_size] for i in range(0, len(x), schedule.batch_size)]
    total = 0.0
    for idx in tqdm(batches, desc=desc, disable=not schedule.verbose, leave=False):
        target = y[idx]
        pred = model(x[idx]).reshape(target.shape)
        loss = F.binary_cross_entropy(pred, target, reduction="sum")
        optim.zero_grad()
        regularization = model.get_regularization_loss()  # type: ignore[operator]
        (loss + regularization + model.aux_loss).backward()
        optim.step()
        total += loss.item()
    return total / max(len(x), 1)


def fit(
    model: torch.nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    validate: Callable[[torch.nn.Module], Row],
    monitor: str,
    schedule: Schedule,
    seed: int,
    name: str,
) -> tuple[list[Row], int]:
    """Train with early stopping on ``validate(model)[monitor]`` (higher is better); leaves
    the best epoch's weights loaded. Returns one row per epoch and the best epoch."""
    optim = torch.optim.Adam(model.parameters(), lr=schedule.lr)
    generator = torch.Generator().manual_seed(seed)
    history: list[Row] = []
    best_score, best_epoch, best_state = -math.inf, 0, None
    for epoch in range(1, schedule.max_epochs + 1):
        loss = train_epoch(model, optim, train, schedule, generator, f"{name} epoch {epoch}")
        row: Row = {"epoch": epoch, "train_loss": loss} | validate(model)
        history.append(row)
        if schedule.verbose:
            tqdm.write(", ".join(f"{k} {v:.4f}" for k, v in row.items()))
        if row[monitor] > best_score:  # NaN never wins
            best_score, best_epoch = row[monitor], epoch
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= schedule.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history, best_epoch
