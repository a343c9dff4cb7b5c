"""Distillation: the student learns the teacher's soft labels beside the log's clicks.

The teacher (``model_export/teacher``) labels training impressions and, for each, an unshown
pair: the same user, history and context with another ad — pairs the log never labelled,
where the serving model must rank too. Each training step adds, weighted, one of:

- ``kl``: the cross-entropy of the student's click probability against the teacher's (KL
  divergence on the logits up to a constant), on both rows of each pair;
- ``margin_mse``: the squared error between the student's and the teacher's logit margins
  of the logged ad over the unshown one (MarginMSE, Hofstätter et al. 2020): only the
  teacher's ranking of the two is taught, not its level;
- ``in_batch``: MarginMSE over every pair of the step's own training impressions that the
  teacher labelled — the student's logits minus the teacher's, centred on the batch,
  squared (the mean over pairs of squared margin errors is twice that). No unshown pairs
  and no forward pass beyond the clicks' own: distillation at the student's training cost.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from model_export.teacher.labels import SOFT_LABELS, SoftLabels
from model_export.train.arrays import Featurised, positions, subset, with_ads

DistillKind = Literal["kl", "margin_mse", "in_batch"]


def soft_loss(student: Tensor, teacher: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(student, torch.sigmoid(teacher))


def distill_loss(
    kind: DistillKind, student: tuple[Tensor, Tensor], teacher: tuple[Tensor, Tensor]
) -> Tensor:
    """The loss of (logged, unshown) student logits against the teacher's."""
    if kind == "kl":
        return (soft_loss(student[0], teacher[0]) + soft_loss(student[1], teacher[1])) / 2
    return F.mse_loss(student[0] - student[1], teacher[0] - teacher[1])


def in_batch_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """MarginMSE over all pairs of a batch's rows, as the variance of their logit errors."""
    error = student - teacher
    return (error - error.mean()).square().mean()


@dataclass(frozen=True)
class Distillation:
    """The soft-labelled pairs a student trains on, and how."""

    logged: Featurised  # labelled training impressions
    unshown: Featurised | None  # each one's user shown another ad (None: in_batch reads none)
    teacher: tuple[np.ndarray, np.ndarray]  # the teacher's logits of both
    kind: DistillKind
    weight: float
    by_position: np.ndarray  # the teacher's logit of each log position (NaN: not labelled)

    def in_batch(self, student: Tensor, positions: np.ndarray) -> Tensor:
        """The weighted ``in_batch`` loss of a step's logits of the impressions at log
        ``positions`` (zero if the teacher labelled fewer than two of them)."""
        teacher = self.by_position[positions]
        labelled = np.flatnonzero(~np.isnan(teacher))
        if len(labelled) < 2:
            return student.new_zeros(())
        target = torch.from_numpy(teacher[labelled])
        return self.weight * in_batch_loss(student[torch.from_numpy(labelled)], target)

    def draw(
        self, rng: np.random.Generator, n: int
    ) -> tuple[Featurised, Featurised, tuple[Tensor, Tensor]]:
        """``n`` random pairs: their logged rows, unshown rows, and the teacher's logits."""
        if self.unshown is None:
            raise ValueError("in_batch distillation has no unshown pairs to draw")
        rows = rng.integers(0, len(self.logged.row), n)
        logits = tuple(torch.from_numpy(t[rows]) for t in self.teacher)
        return subset(self.logged, rows), subset(self.unshown, rows), (logits[0], logits[1])


def load_distillation(teacher_dir: Path, train: Featurised, fingerprint: str,
                      kind: DistillKind, weight: float) -> Distillation:  # fmt: skip
    """The teacher's soft labels of the rows of ``train`` (rows it lacks are left out), if
    they were made on the log of ``fingerprint`` (``teacher.labels.log_fingerprint``); with
    their unshown pairs unless ``kind`` is ``in_batch``, which reads none."""
    labels = SoftLabels.load(teacher_dir / SOFT_LABELS, fingerprint)
    pairs = kind != "in_batch"
    at = positions(train, labels.row)
    ad_at = positions(train, labels.pair_ad_row) if pairs else np.zeros_like(at)
    keep = (at >= 0) & (ad_at >= 0)
    if not keep.any():
        raise ValueError(f"{teacher_dir}'s soft labels name none of this run's training rows: "
                         "was the teacher trained on the same log and split?")  # fmt: skip
    logged = subset(train, at[keep])
    unshown = with_ads(train, at[keep], ad_at[keep]) if pairs else None
    teacher = (labels.logit[keep].astype(np.float32), labels.pair_logit[keep].astype(np.float32))
    by_position = np.full(int(train.row.max()) + 1, np.nan, np.float32)
    by_position[logged.row] = teacher[0]
    return Distillation(logged, unshown, teacher, kind, weight, by_position)
