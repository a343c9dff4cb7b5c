"""The training loop: epochs, validation AUC, early stopping, checkpoints that resume.

Deterministic for a seed: each epoch's shuffling and dropout draw from generators seeded by
(seed, epoch), so a run resumed from its checkpoint continues exactly as if uninterrupted.
"""

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from model_export.evaluate.metrics import auc, logloss
from model_export.model.ctr import CTRModel
from model_export.train.arrays import Featurised, subset
from model_export.train.batches import drop_ids, epoch_batches, make_batch
from model_export.train.config import TrainConfig
from model_export.train.texts import TextSource
from service.features.prior import unknown_prior

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
EVAL_BATCH = 4096


@dataclass
class RunState:
    epoch: int = 0
    best_auc: float = -1.0
    best_epoch: int = -1
    bad_epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def predict(model: CTRModel, source: TextSource, f: Featurised) -> np.ndarray:
    """pCTR of every row of ``f``."""
    return predict_with_attention(model, source, f)[0]


@torch.no_grad()
def predict_with_attention(
    model: CTRModel, source: TextSource, f: Featurised
) -> tuple[np.ndarray, np.ndarray]:
    """pCTR (N,) and attention weights (N, H) of every row of ``f``."""
    model.eval()
    vectors = source.all_vectors(model)
    p_ctr, weights = [], []
    for start in range(0, len(f.label), EVAL_BATCH):
        s = slice(start, start + EVAL_BATCH)
        logit, attention = model(
            vectors,
            torch.from_numpy(f.ad_text[s]),
            torch.from_numpy(f.history[s]),
            torch.from_numpy(f.context[s]),
            torch.from_numpy(f.bucket[s]),
            torch.from_numpy(f.prior[s]),
        )
        p_ctr.append(torch.sigmoid(logit).numpy())
        weights.append(attention.numpy())
    if not p_ctr:
        return np.zeros(0, dtype=np.float32), np.zeros((0, f.history.shape[1]), np.float32)
    return np.concatenate(p_ctr), np.concatenate(weights)


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


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        model: CTRModel,
        source: TextSource,
        feats: Featurised,
        global_ctr: float,
        run_dir: Path,
    ):
        self.cfg, self.model, self.source, self.run_dir = cfg, model, source, run_dir
        self.train = subset(feats, feats.rows("train"))
        self.valid = subset(feats, feats.rows("valid"))
        self.unknown_prior = unknown_prior(global_ctr, cfg.prior_alpha)
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
        was_deterministic = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True)  # CPU scatter-adds otherwise vary run to run
        try:
            while self.state.epoch < self.cfg.epochs and self.state.bad_epochs < self.cfg.patience:
                loss = self._train_epoch(self.state.epoch)
                self._validate(loss)
                self.state.epoch += 1
                self._save(CHECKPOINT, with_optimizer=True)
        finally:
            torch.use_deterministic_algorithms(was_deterministic)
        self.model.load_state_dict(torch.load(self.run_dir / BEST, weights_only=True)["model"])
        return self.state

    def _train_epoch(self, epoch: int) -> float:
        self.model.train()
        torch.manual_seed(self.cfg.seed * 1000 + epoch)
        rng = np.random.default_rng([self.cfg.seed, epoch])
        losses = []
        bar = tqdm(
            epoch_batches(len(self.train.label), self.cfg.batch_size, rng),
            desc=f"epoch {epoch + 1}/{self.cfg.epochs}",
            unit="batch",
        )
        for rows in bar:
            batch = make_batch(self.train, rows)
            drop_ids(batch, self.cfg.id_dropout, self.unknown_prior, rng)
            vectors = self.source.vectors(self.model, batch.texts)
            logit, _ = self.model(
                vectors,
                batch.ad_index,
                batch.history_index,
                batch.context,
                batch.bucket,
                batch.prior,
            )
            loss = F.binary_cross_entropy_with_logits(logit, batch.label)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        return float(np.mean(losses)) if losses else float("nan")

    def _validate(self, train_loss: float) -> None:
        p = predict(self.model, self.source, self.valid)
        valid_auc = auc(self.valid.label, p)
        row = {
            "epoch": self.state.epoch + 1,
            "train_loss": train_loss,
            "valid_auc": valid_auc,
            "valid_logloss": logloss(self.valid.label, p),
        }
        self.state.history.append(row)
        tqdm.write(
            f"epoch {row['epoch']}: train loss {train_loss:.4f}  valid AUC {valid_auc:.4f}  "
            f"logloss {row['valid_logloss']:.4f}"
        )
        if valid_auc > self.state.best_auc:
            self.state.best_auc, self.state.best_epoch, self.state.bad_epochs = (
                valid_auc,
                int(row["epoch"]),
                0,
            )
            self._save(BEST, with_optimizer=False)
        else:
            self.state.bad_epochs += 1

    def _save(self, name: str, with_optimizer: bool) -> None:
        payload: dict[str, Any] = {"model": self.model.state_dict(), "state": asdict(self.state)}
        if with_optimizer:
            payload["optimizer"] = self.optimizer.state_dict()
        tmp = self.run_dir / f"{name}.tmp"
        torch.save(payload, tmp)
        tmp.replace(self.run_dir / name)

    def _resume(self) -> None:
        path = self.run_dir / CHECKPOINT
        if not path.is_file():
            return
        payload = torch.load(path, weights_only=False)
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.state = RunState(**payload["state"])
        tqdm.write(f"resumed from {path} at epoch {self.state.epoch}")
