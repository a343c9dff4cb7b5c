"""Training the teacher: epochs over a sample of training impressions, validation AUC, early
stopping, checkpoints that resume; deterministic for a seed (as ``train/trainer.py``)."""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import expit
from torch import Tensor
from tqdm import tqdm

from model_export.evaluate.metrics import auc, logloss
from model_export.teacher.config import TeacherConfig
from model_export.teacher.lower import TokenStates
from model_export.teacher.model import CrossTeacher
from model_export.train.arrays import Featurised
from model_export.train.batches import epoch_batches
from model_export.train.trainer import (
    BEST,
    CHECKPOINT,
    RunState,
    deterministic_algorithms,
    load_state,
    save_state,
    seed_epoch,
    take_step,
)

EVAL_BATCH = 256


def row_inputs(
    f: Featurised, base: np.ndarray, rows: np.ndarray, device: torch.device
) -> tuple[Tensor, ...]:
    """The teacher's inputs of the given rows: ad text, history, context ids, prior, and the
    logit it starts from (``base``, aligned with ``f``)."""
    arrays = (f.ad_text[rows], f.history[rows], f.context[rows], f.prior[rows], base[rows])
    return tuple(torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in arrays)


@torch.no_grad()
def teacher_logits(
    model: CrossTeacher,
    table: TokenStates,
    f: Featurised,
    base: np.ndarray,
    rows: np.ndarray,
    desc: str,
) -> np.ndarray:
    """Click logits of ``rows`` of ``f`` (float32); ``base`` as in ``row_inputs``."""
    model.eval()
    device = model.out.weight.device
    out = [
        model(table, *row_inputs(f, base, rows[s : s + EVAL_BATCH], device)).float().cpu().numpy()
        for s in tqdm(range(0, len(rows), EVAL_BATCH), desc=desc, unit="batch", leave=False)
    ]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


class TeacherTrainer:
    def __init__(
        self,
        cfg: TeacherConfig,
        model: CrossTeacher,
        table: TokenStates,
        data: tuple[Featurised, np.ndarray],  # the rows, and the logit each starts from
        rows: tuple[np.ndarray, np.ndarray],  # (training rows, validation rows) of them
        run_dir: Path,
    ):
        self.cfg, self.model, self.table, self.run_dir = cfg, model, table, run_dir
        self.feats, self.base = data
        self.train_rows, self.valid_rows = rows
        new = [p for n, p in model.named_parameters() if not n.startswith("layers.")]
        self.optimizer = torch.optim.AdamW(
            [{"params": model.layers.parameters(), "lr": cfg.lr},
             {"params": new, "lr": cfg.head_lr}],
            weight_decay=cfg.weight_decay,
        )  # fmt: skip
        self.state = RunState()

    def fit(self) -> RunState:
        self.state = load_state(self.run_dir / CHECKPOINT, self.model, self.optimizer) or self.state
        with deterministic_algorithms():
            while self.state.epoch < self.cfg.epochs and self.state.bad_epochs < self.cfg.patience:
                loss = self._train_epoch(self.state.epoch)
                self._validate(loss)
                self.state.epoch += 1
                save_state(self.run_dir / CHECKPOINT, self.model, self.state, self.optimizer)
        self.model.load_state_dict(torch.load(self.run_dir / BEST, weights_only=True)["model"])
        return self.state

    def _train_epoch(self, epoch: int) -> float:
        self.model.train()
        rng = seed_epoch(self.cfg.seed, epoch)
        device = self.model.out.weight.device
        losses: list[float] = []
        batches = epoch_batches(len(self.train_rows), self.cfg.batch_size, rng)
        bar = tqdm(batches, desc=f"teacher epoch {epoch + 1}/{self.cfg.epochs}", unit="batch")
        for batch in bar:
            rows = self.train_rows[batch]
            logit = self.model(self.table, *row_inputs(self.feats, self.base, rows, device))
            label = torch.from_numpy(self.feats.label[rows]).to(device)
            loss = F.binary_cross_entropy_with_logits(logit, label)
            take_step(self.optimizer, loss, losses, bar)
        return float(np.mean(losses)) if losses else float("nan")

    def _validate(self, train_loss: float) -> None:
        logit = teacher_logits(self.model, self.table, self.feats, self.base, self.valid_rows,
                               "validating")  # fmt: skip
        y, p = self.feats.label[self.valid_rows], expit(logit)
        row = {"epoch": self.state.epoch + 1, "train_loss": train_loss,
               "valid_auc": auc(y, p), "valid_logloss": logloss(y, p)}  # fmt: skip
        self.state.history.append(row)
        tqdm.write(
            f"teacher epoch {row['epoch']}: train loss {train_loss:.4f}  "
            f"valid AUC {row['valid_auc']:.4f}  logloss {row['valid_logloss']:.4f}"
        )
        if self.state.improved(row["valid_auc"], int(row["epoch"])):
            save_state(self.run_dir / BEST, self.model, self.state, None)
