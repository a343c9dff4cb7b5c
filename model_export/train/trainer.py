"""The training loop: epochs, validation AUC, early stopping, checkpoints that resume.

Deterministic for a seed: each epoch's shuffling and dropout draw from generators seeded by
(seed, epoch), so a run resumed from its checkpoint continues exactly as if uninterrupted.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import logit
from tqdm import tqdm

from model_export.evaluate.metrics import auc, logloss
from model_export.model.ctr import CTRModel
from model_export.model.ranker import HeadOutput
from model_export.train.arrays import Featurised, subset
from model_export.train.batches import Batch, drop_ids, epoch_batches, make_batch
from model_export.train.config import TrainConfig
from model_export.train.delay import DelayModel
from model_export.train.distill import Distillation, distill_loss
from model_export.train.losses import clicked_only_loss, ctr_loss, cvr_loss, esmm_loss
from model_export.train.texts import TextSource
from service.features.prior import unknown_prior

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
EVAL_BATCH = 4096


@dataclass(frozen=True)
class CvrTask:
    """The conversion task is on; with a delay model, its loss sees delayed feedback."""

    delay: DelayModel | None

    def observed(self, f: Featurised) -> np.ndarray:
        elapsed = f.conversions.elapsed_s
        return np.ones(len(elapsed)) if self.delay is None else self.delay.cdf(elapsed)


@dataclass
class RunState:
    epoch: int = 0
    best_auc: float = -1.0
    best_epoch: int = -1
    bad_epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)

    def improved(self, valid_auc: float, epoch: int) -> bool:
        """Count an epoch's validation AUC: True when it is the best so far."""
        if valid_auc > self.best_auc:
            self.best_auc, self.best_epoch, self.bad_epochs = valid_auc, epoch, 0
            return True
        self.bad_epochs += 1
        return False


@contextmanager
def deterministic_algorithms() -> Iterator[None]:
    """Deterministic kernels while training: CPU scatter-adds (embedding gradients) otherwise
    vary run to run."""
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic)


def seed_epoch(seed: int, epoch: int) -> np.random.Generator:
    """Seed torch (dropout) for an epoch and return its generator (shuffling): both drawn
    from (seed, epoch), so a run resumed at an epoch continues as if uninterrupted."""
    torch.manual_seed(seed * 1000 + epoch)
    return np.random.default_rng([seed, epoch])


def take_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, losses: list[float],
              bar: tqdm) -> None:  # fmt: skip
    """One optimiser step on ``loss``, its value kept and the running mean shown."""
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")


@dataclass(frozen=True)
class Predictions:
    p_ctr: np.ndarray  # (N,)
    attention: np.ndarray  # (N, H)
    p_cvr: np.ndarray | None  # (N,) where the model has a conversion tower


def predict(model: CTRModel, source: TextSource, f: Featurised) -> np.ndarray:
    """pCTR of every row of ``f``."""
    return predict_all(model, source, f).p_ctr


def predict_logit(model: CTRModel, source: TextSource, f: Featurised) -> np.ndarray:
    """The click logit of every row of ``f`` (float64; pCTR clipped to [1e-7, 1 - 1e-7])."""
    return logit(np.clip(predict(model, source, f).astype(np.float64), 1e-7, 1 - 1e-7))


@torch.no_grad()
def predict_all(model: CTRModel, source: TextSource, f: Featurised) -> Predictions:
    """pCTR (with each ad's offset, ``ad_offsets.py``), attention weights and (with a
    conversion tower) pCVR of every row of ``f``."""
    model.eval()
    vectors = source.all_vectors(model)
    parts: list[tuple[np.ndarray, ...]] = []
    for start in range(0, len(f.label), EVAL_BATCH):
        s = slice(start, start + EVAL_BATCH)
        out = model(
            vectors,
            torch.from_numpy(f.ad_text[s]),
            torch.from_numpy(f.history[s]),
            torch.from_numpy(f.context[s]),
            torch.from_numpy(f.bucket[s]),
            torch.from_numpy(f.prior[s]),
            torch.from_numpy(f.price[s]),
        )
        cvr = () if out.cvr_logit is None else (torch.sigmoid(out.cvr_logit).numpy(),)
        click = out.logit + torch.from_numpy(f.offset[s])  # the ad's offset, as ranker.onnx
        parts.append((torch.sigmoid(click).numpy(), out.weights.numpy(), *cvr))
    if not parts:
        return Predictions(np.zeros(0, np.float32), np.zeros((0, f.history.shape[1]), np.float32),
                           None)  # fmt: skip
    columns = [np.concatenate(c) for c in zip(*parts, strict=True)]
    return Predictions(columns[0], columns[1], columns[2] if len(columns) > 2 else None)


@torch.no_grad()
def gate_masses(model: CTRModel, source: TextSource, f: Featurised) -> np.ndarray:
    """Each gate's total weight over its row's history (N, heads) for every row of ``f``."""
    model.eval()
    vectors = source.all_vectors(model)
    masses = [
        model.gate_weights(
            vectors,
            torch.from_numpy(f.ad_text[start : start + EVAL_BATCH]),
            torch.from_numpy(f.history[start : start + EVAL_BATCH]),
        ).sum(2).numpy()
        for start in range(0, len(f.label), EVAL_BATCH)
    ]  # fmt: skip
    return np.concatenate(masses) if masses else np.zeros((0, model.head.heads), np.float32)


def save_state(
    path: Path, model: torch.nn.Module, state: RunState, optimizer: torch.optim.Optimizer | None
) -> None:
    """A checkpoint of the model and the run's state (and the optimizer's, to resume)."""
    payload: dict[str, Any] = {"model": model.state_dict(), "state": asdict(state)}
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_state(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> RunState | None:
    """Load a checkpoint saved by ``save_state`` into ``model`` and ``optimizer``; its state."""
    if not path.is_file():
        return None
    payload = torch.load(path, weights_only=False)
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    tqdm.write(f"resumed from {path} at epoch {payload['state']['epoch']}")
    return RunState(**payload["state"])


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        model: CTRModel,
        source: TextSource,
        feats: Featurised,
        global_ctr: float,
        run_dir: Path,
        conversions: CvrTask | None = None,
        distillation: Distillation | None = None,
    ):
        self.cfg, self.model, self.source, self.run_dir = cfg, model, source, run_dir
        self.distillation = distillation
        self.train = subset(feats, feats.rows("train"))
        if conversions is not None and cfg.cvr_objective == "click_space":
            self.train = subset(self.train, np.flatnonzero(self.train.label > 0.5))
        self.valid = subset(feats, feats.rows("valid"))
        self.unknown_prior = unknown_prior(global_ctr, cfg.prior_alpha)
        # per training row, the share of its conversions the log can show (the ESMM loss)
        self.observed = None if conversions is None else conversions.observed(self.train)
        self.optimizer = torch.optim.AdamW(self._param_groups(), weight_decay=cfg.weight_decay)
        self.state = RunState()

    def _param_groups(self) -> list[dict[str, Any]]:
        named = list(self.model.named_parameters())
        bert = [p for n, p in named if n.startswith("pooled.")]
        projection = [p for n, p in named if n.startswith("projection.")]
        head = [p for n, p in named if not n.startswith(("pooled.", "projection."))]
        cfg = self.cfg
        groups: list[dict[str, Any]] = [
            {"params": head, "lr": cfg.lr},
            {"params": projection, "lr": cfg.lr * cfg.projection_lr_scale},
        ]
        if bert and self.cfg.mode == "finetune":
            groups.append({"params": bert, "lr": self.cfg.encoder_lr})
        return groups

    def fit(self, resume: bool = True) -> RunState:
        if resume:
            self._resume()
        with deterministic_algorithms():
            while self.state.epoch < self.cfg.epochs and self.state.bad_epochs < self.cfg.patience:
                loss = self._train_epoch(self.state.epoch)
                self._validate(loss)
                self.state.epoch += 1
                self._save(CHECKPOINT, with_optimizer=True)
        self.model.load_state_dict(torch.load(self.run_dir / BEST, weights_only=True)["model"])
        return self.state

    def _train_epoch(self, epoch: int) -> float:
        self.model.train()
        rng = seed_epoch(self.cfg.seed, epoch)
        losses: list[float] = []
        bar = tqdm(
            epoch_batches(len(self.train.label), self.cfg.batch_size, rng),
            desc=f"epoch {epoch + 1}/{self.cfg.epochs}",
            unit="batch",
        )
        for rows in bar:
            batch = make_batch(self.train, rows)
            drop_ids(batch, self.cfg.id_dropout, self.unknown_prior, rng)
            out = self._forward(batch)
            loss = self._loss(out, batch, rows)
            if self.distillation is not None:
                loss = loss + self._distill_loss(self.distillation, out.logit, rows, rng)
            take_step(self.optimizer, loss, losses, bar)
        return float(np.mean(losses)) if losses else float("nan")

    def _forward(self, batch: Batch) -> HeadOutput:
        vectors = self.source.vectors(self.model, batch.texts)
        return self.model(vectors, batch.ad_index, batch.history_index, batch.context,
                          batch.bucket, batch.prior, batch.price)  # fmt: skip

    def _distill_loss(self, d: Distillation, logit: torch.Tensor, rows: np.ndarray,
                      rng: np.random.Generator) -> torch.Tensor:  # fmt: skip
        """The weighted distillation loss of this step: on its own rows (whose click
        ``logit``s are computed) with ``in_batch``, else on as many pairs drawn."""
        if d.kind == "in_batch":
            return d.in_batch(logit, self.train.row[rows])
        n = len(rows)
        logged, unshown, teacher = d.draw(rng, n)
        student = (self._forward(make_batch(logged, np.arange(n))).logit,
                   self._forward(make_batch(unshown, np.arange(n))).logit)  # fmt: skip
        return d.weight * distill_loss(d.kind, student, teacher)

    def _loss(self, out: HeadOutput, batch: Batch, rows: np.ndarray) -> torch.Tensor:
        if out.cvr_logit is None or self.observed is None:
            return ctr_loss(out.logit, batch.label)
        if self.cfg.cvr_objective == "clicked_only":
            return clicked_only_loss(out.logit, out.cvr_logit, batch.label, batch.converted)
        if self.cfg.cvr_objective == "click_space":
            return cvr_loss(out.cvr_logit, batch.converted)
        observed = torch.from_numpy(self.observed[rows].astype(np.float32))
        return esmm_loss(out.logit, out.cvr_logit, batch.label, batch.converted, observed)

    def _validate(self, train_loss: float) -> None:
        pred = predict_all(self.model, self.source, self.valid)
        p, valid_auc = pred.p_ctr, auc(self.valid.label, pred.p_ctr)
        row = {
            "epoch": self.state.epoch + 1,
            "train_loss": train_loss,
            "valid_auc": valid_auc,
            "valid_logloss": logloss(self.valid.label, p),
        }
        cvr = ""
        if pred.p_cvr is not None and self.observed is not None:
            converted = self.valid.conversions.converted
            row["valid_ctcvr_auc"] = auc(converted, p * pred.p_cvr)
            clicked = self.valid.label > 0.5
            row["valid_cvr_auc"] = auc(converted[clicked], pred.p_cvr[clicked])
            cvr = f"  CTCVR AUC {row['valid_ctcvr_auc']:.4f}  CVR AUC {row['valid_cvr_auc']:.4f}"
            if self.cfg.cvr_objective == "click_space":  # its click tower is not trained
                valid_auc = row["valid_cvr_auc"]
        self.state.history.append(row)
        tqdm.write(
            f"epoch {row['epoch']}: train loss {train_loss:.4f}  valid AUC {valid_auc:.4f}  "
            f"logloss {row['valid_logloss']:.4f}{cvr}"
        )
        if self.state.improved(valid_auc, int(row["epoch"])):
            self._save(BEST, with_optimizer=False)

    def _save(self, name: str, with_optimizer: bool) -> None:
        save_state(self.run_dir / name, self.model, self.state,
                   self.optimizer if with_optimizer else None)  # fmt: skip

    def _resume(self) -> None:
        self.state = load_state(self.run_dir / CHECKPOINT, self.model, self.optimizer) or self.state
