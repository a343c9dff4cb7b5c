"""DeepCTR-Torch's multitask models, ESMM and MMoE, as library baselines of the conversion task.

The models are ``deepctr_torch.models.multitask.ESMM`` and ``MMOE`` (deepctr-torch 0.3.0, run
unchanged on torch 2.13) on the id features of ``din``: sparse ``user_id``, ``item_id`` (the
ad) and one per context field (``ctx_<field>``), vocabularies from the training split
(``deepctr_common.IdFeaturizer``). The library's multitask models read no behaviour sequence,
so, unlike DIN, they see no history; nor text, nor prices.

Tasks, as the library defines them: both models take two binary tasks named ``("ctr",
"ctcvr")`` (their default ``task_names``), labelled on **every** impression with the click and
with clicked-and-converted, and ``BaseModel.fit`` sums each task's binary cross-entropy over
every row, masking none. For ESMM this is the paper's entire-space training: its outputs are
pCTR and pCTCVR = pCTR × pCVR, and pCVR is the CVR tower's own output (read off the tower
with a forward hook). MMoE, trained by the same convention, has two independent heads, pCTR
and pCTCVR, and no pCVR of its own; its pCVR is pCTCVR / pCTR, capped at 1 (the heads do not
force pCTCVR ≤ pCTR). Neither is trained on the clicked rows alone.

The conversion label is the log's (``Featurised.conversions.converted``: clicked and converted
by the log's cut); no delay correction, so recent clicks' conversions still to come count as
failures, as in adrank's ``--no-delay-correction`` run.

Training is ``deepctr_common.fit``: Adam, the summed cross-entropy of both tasks plus the
library's L2 terms, early stopping on the mean of the two tasks' validation AUCs (a task whose
validation AUC is undefined is left out), the best epoch's weights kept. Deterministic for a
given ``seed`` on CPU.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import torch

from model_export.evaluate.deepctr_common import IdFeaturizer, fit, matrix, predict, quiet_import
from model_export.evaluate.metrics import auc, logloss

with quiet_import():
    from deepctr_torch.models.multitask import ESMM, MMOE

Kind = Literal["esmm", "mmoe"]
KINDS: tuple[Kind, ...] = ("esmm", "mmoe")
TASKS = ("ctr", "ctcvr")


@dataclass(frozen=True)
class MultitaskConfig:
    """Model sizes (the library's defaults; embeddings as ``DinConfig``'s) and schedule."""

    embedding_dim: int = 16
    esmm_tower_units: tuple[int, ...] = (256, 128)
    num_experts: int = 3
    expert_units: tuple[int, ...] = (256, 128)
    gate_units: tuple[int, ...] = (64,)
    mmoe_tower_units: tuple[int, ...] = (64,)
    dnn_dropout: float = 0.0
    l2_reg_embedding: float = 1e-5
    init_std: float = 1e-4  # of the embeddings and the library's DNNs; DeepCTR's default
    lr: float = 1e-3
    batch_size: int = 256
    max_epochs: int = 10
    patience: int = 2  # epochs without a better mean validation AUC before stopping
    verbose: bool = True


@dataclass(frozen=True)
class TaskSplit:
    """Impressions of one split (``user_id``, ``ad_id``, ``ts``, ``ctx_<field>`` columns) and
    their labels: the click, and clicked-and-converted (0/1)."""

    impressions: pd.DataFrame
    click: np.ndarray
    converted: np.ndarray

    def labels(self) -> np.ndarray:
        """(n, 2) float32 in the models' task order (``TASKS``)."""
        return np.stack([self.click, self.converted], axis=1).astype(np.float32)


@dataclass(frozen=True)
class TaskPredictions:
    """Per impression: pCTR, pCVR (of a click) and the model's own pCTCVR output."""

    p_ctr: np.ndarray
    p_cvr: np.ndarray
    p_ctcvr: np.ndarray


@dataclass
class MultitaskBaseline:
    """A trained ESMM or MMoE with its featurizer; ``history`` holds one row per epoch."""

    kind: Kind
    model: torch.nn.Module
    featurizer: IdFeaturizer
    config: MultitaskConfig
    history: list[dict[str, float | int]] = field(default_factory=list)
    best_epoch: int = 0

    def predict(self, impressions: pd.DataFrame) -> TaskPredictions:
        """pCTR, pCVR and pCTCVR of every impression (float64, shape (n,) each)."""
        x = matrix(self.model, self.featurizer.features(impressions))
        if self.kind == "esmm":
            return _esmm_predict(self.model, x)
        out = predict(self.model, x)
        p_ctr, p_ctcvr = out[:, 0], out[:, 1]
        return TaskPredictions(p_ctr, np.minimum(p_ctcvr / p_ctr, 1.0), p_ctcvr)


def _esmm_predict(model: ESMM, x: torch.Tensor) -> TaskPredictions:
    """ESMM's outputs (pCTR, pCTCVR) and its CVR tower's pCVR. The tower's logit is copied
    as the last linear layer returns it (the prediction layer then adds its bias in place);
    pCVR is that layer applied to the copy, exactly what ESMM multiplies by pCTR."""
    logits: list[torch.Tensor] = []
    hook = model.cvr_dnn_final_layer.register_forward_hook(
        lambda _module, _inputs, output: logits.append(output.detach().clone())
    )
    try:
        out = predict(model, x)
    finally:
        hook.remove()
    with torch.no_grad():
        cvr = [model.out(logit).reshape(-1) for logit in logits]
    p_cvr = torch.cat(cvr).double().numpy() if cvr else np.zeros(0)
    return TaskPredictions(out[:, 0], p_cvr, out[:, 1])


def _model(kind: Kind, columns: list, config: MultitaskConfig, seed: int) -> torch.nn.Module:
    common = {
        "l2_reg_embedding": config.l2_reg_embedding,
        "init_std": config.init_std,
        "seed": seed,
        "dnn_dropout": config.dnn_dropout,
        "task_types": ("binary", "binary"),
        "task_names": TASKS,
    }
    if kind == "esmm":
        return ESMM(columns, tower_dnn_hidden_units=config.esmm_tower_units, **common)
    if kind == "mmoe":
        return MMOE(
            columns,
            num_experts=config.num_experts,
            expert_dnn_hidden_units=config.expert_units,
            gate_dnn_hidden_units=config.gate_units,
            tower_dnn_hidden_units=config.mmoe_tower_units,
            **common,
        )
    raise ValueError(f"unknown multitask model {kind!r}; expected one of {KINDS}")


def _validation_row(y: np.ndarray, p: np.ndarray) -> dict[str, float | int]:
    row: dict[str, float | int] = {}
    for t, name in enumerate(TASKS):
        row[f"valid_{name}_auc"] = auc(y[:, t], p[:, t])
        row[f"valid_{name}_logloss"] = logloss(y[:, t], p[:, t])
    defined = [row[f"valid_{name}_auc"] for name in TASKS if np.isfinite(row[f"valid_{name}_auc"])]
    row["valid_auc_mean"] = float(np.mean(defined)) if defined else float("nan")
    return row


def train_multitask(
    kind: Kind,
    train: TaskSplit,
    valid: TaskSplit,
    *,
    context_fields: Sequence[str],
    config: MultitaskConfig | None = None,
    seed: int = 0,
) -> MultitaskBaseline:
    """Fit ESMM or MMoE (``kind``) on ``train``, early-stopped on ``valid``'s mean AUC of the
    two tasks. ``context_fields`` are the names of the impressions' ``ctx_<field>`` columns
    (hour/weekday derive from ``ts`` if absent)."""
    config = config or MultitaskConfig()
    torch.manual_seed(seed)
    np.random.seed(seed)
    featurizer = IdFeaturizer.fit(train.impressions, context_fields)
    model = _model(kind, featurizer.columns(config.embedding_dim), config, seed)
    x_train = matrix(model, featurizer.features(train.impressions))
    y_train = torch.from_numpy(train.labels())
    x_valid = matrix(model, featurizer.features(valid.impressions))
    y_valid = valid.labels().astype(np.float64)

    def validate(m: torch.nn.Module) -> dict[str, float | int]:
        return _validation_row(y_valid, predict(m, x_valid))

    name = "ESMM" if kind == "esmm" else "MMoE"
    history, best = fit(model, (x_train, y_train), validate, "valid_auc_mean", config, seed, name)
    return MultitaskBaseline(kind, model, featurizer, config, history, best)
