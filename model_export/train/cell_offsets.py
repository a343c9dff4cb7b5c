"""Per context cell click offsets: what a trained model's wide terms leave of a cell's rate.

The context effects of a click log are mostly small tables — a slot's bias on a device, an
age band's taste for an ad's vertical. The head learns them (``context_terms.py``), but only
in part: on the synthetic log its device × slot effects came out at 0.71 of the truth's and
its age band × vertical at 0.03. As for a warm ad (``ad_offsets.py``), the training clicks
of a cell against the clicks the trained model expects there give an empirical-Bayes offset
``log((clicks + alpha) / (expected + alpha))``, with ``alpha`` picked on validation.

A cell is two context fields (``device:slot``) or a field and the ad's topic group
(``age_band:topic``; the coarsest of the head's topic clusters, on the synthetic log its
verticals). Cells are fitted one after another, each on the logits the ones before it left,
after the ad offsets. The tables go into the ranking head (``CellOffsets``): ``ranker.onnx``
reads them from the context ids and the candidate's own cluster it already has, so serving
needs no new input.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit

from model_export.evaluate.metrics import logloss
from model_export.train.ad_offsets import ClickCounts, pick_alpha

TOPIC = "topic"  # the ad's topic group, the coarsest topic cluster

Rows = tuple[np.ndarray, np.ndarray, np.ndarray]  # values (N, C + 1), label (N,), logit (N,)


@dataclass(frozen=True)
class Cell:
    """A kind of cell: two of the columns (context fields…, ``TOPIC``), by name."""

    left: str
    right: str

    @classmethod
    def parse(cls, text: str) -> "Cell":
        """``"device:slot"``, ``"age_band:topic"``."""
        left, sep, right = text.partition(":")
        if not sep or not left or not right or left == right:
            raise ValueError(f"a cell is two different fields joined by ':', not {text!r}")
        return cls(left, right)

    def __str__(self) -> str:
        return f"{self.left}:{self.right}"

    def columns(self, fields: Sequence[str]) -> tuple[int, int]:
        """Its two columns in (context ids in ``fields`` order, topic group)."""
        names = [*fields, TOPIC]
        for name in (self.left, self.right):
            if name not in names:
                raise ValueError(f"cell {self}: {name!r} is neither a context field "
                                 f"({', '.join(fields)}) nor {TOPIC!r}")  # fmt: skip
        return names.index(self.left), names.index(self.right)


@dataclass(frozen=True)
class FittedCell:
    cell: Cell
    table: np.ndarray  # (left values, right values): logit offsets
    alpha: float
    valid_logloss: tuple[float, float]  # before and after this cell's offsets

    def to_dict(self) -> dict[str, Any]:
        return {"cell": str(self.cell), "alpha": None if math.isinf(self.alpha) else self.alpha,
                "valid_logloss_without": self.valid_logloss[0],
                "valid_logloss_with": self.valid_logloss[1],
                "table": self.table.round(6).tolist()}  # fmt: skip

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "FittedCell":
        alpha = math.inf if raw["alpha"] is None else raw["alpha"]
        losses = (raw["valid_logloss_without"], raw["valid_logloss_with"])
        return cls(Cell.parse(raw["cell"]), np.asarray(raw["table"], np.float64), alpha, losses)


def fit_cells(
    cells: Sequence[Cell], fields: Sequence[str], sizes: Sequence[int], train: Rows, valid: Rows
) -> list[FittedCell]:
    """Each cell's offsets, fitted in turn on the ``train`` rows with ``alpha`` picked on the
    ``valid`` rows. ``sizes``: the values of each column (context fields, topic groups)."""
    logits = {"train": train[2], "valid": valid[2]}
    fitted = []
    for cell in cells:
        i, j = cell.columns(fields)
        shape = (sizes[i], sizes[j])

        def key(values: np.ndarray, i: int = i, j: int = j, n: int = shape[1]) -> np.ndarray:
            return values[:, i] * n + values[:, j]

        counts = ClickCounts.of(key(train[0]), train[1], expit(logits["train"]))
        alpha = pick_alpha(counts, key(valid[0]), valid[1], logits["valid"])
        table = np.zeros(shape[0] * shape[1])
        offsets = counts.offsets(alpha)
        table[offsets.index.to_numpy(np.int64)] = offsets.to_numpy()
        before = logloss(valid[1], expit(logits["valid"]))
        logits = {"train": logits["train"] + table[key(train[0])],
                  "valid": logits["valid"] + table[key(valid[0])]}  # fmt: skip
        after = logloss(valid[1], expit(logits["valid"]))
        fitted.append(FittedCell(cell, table.reshape(shape), alpha, (before, after)))
    return fitted
