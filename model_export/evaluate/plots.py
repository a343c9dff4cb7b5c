"""PNG figures of an evaluation: ROC curves, reliability diagram, training curves.

Figures are built with ``matplotlib.figure.Figure`` and rendered by the Agg canvas, never
through pyplot, so nothing here touches the global backend or needs a display.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from numpy.typing import ArrayLike

from model_export.evaluate.metrics import BinStrategy, auc, calibration_bins, ece, roc_curve

Curves = Mapping[str, tuple[ArrayLike, ArrayLike]]  # model name -> (labels, predictions)
DPI = 120


def _figure(
    size: tuple[float, float], rows: int = 1, cols: int = 1, ratios: Sequence[float] | None = None
) -> Figure:
    """A figure on its own Agg canvas with a grid of axes (``fig.axes``), sharing x by column."""
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    fig.subplots(rows, cols, sharex="col", height_ratios=ratios, squeeze=False)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png")
    return path


def plot_roc(curves: Curves, path: str | Path, title: str = "ROC curves") -> Path:
    """One ROC curve per model, AUC in the legend, chance diagonal dashed."""
    fig = _figure((6, 5.5))
    ax = fig.axes[0]
    for name, (y, p) in curves.items():
        fpr, tpr = roc_curve(y, p)
        ax.plot(fpr, tpr, lw=1.6, label=f"{name} (AUC {auc(y, p):.4f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="chance (AUC 0.5)")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), title=title)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _reliability_panel(
    ax: Axes, curves: Curves, n_bins: int, strategy: BinStrategy, quantity: str
) -> None:
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfectly calibrated")
    for name, (y, p) in curves.items():
        bins = calibration_bins(y, p, n_bins, strategy)
        label = f"{name} (ECE {ece(y, p, n_bins, strategy):.4f})"
        ax.plot(bins.mean_p, bins.frac_pos, marker="o", ms=4, lw=1.4, label=label)
    ax.set_ylabel(f"observed {quantity} rate")
    ax.set_title(f"Reliability diagram ({n_bins} {_bin_words(strategy)} bins)")
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)


def _bin_words(strategy: BinStrategy) -> str:
    return "equal-width" if strategy == "uniform" else "equal-mass"


def plot_reliability(
    curves: Curves,
    path: str | Path,
    n_bins: int = 15,
    strategy: BinStrategy = "uniform",
    quantity: str = "click",
    upper: float = 1.0,
) -> Path:
    """Reliability diagram (mean prediction vs observed rate per bin, with the diagonal)
    above a histogram of each model's predictions, both on [0, ``upper``]."""
    fig = _figure((6.5, 7.5), 2, 1, ratios=[3, 1.3])
    top, bottom = fig.axes
    _reliability_panel(top, curves, n_bins, strategy, quantity)
    edges = np.linspace(0, upper, 51).tolist()
    for name, (_, p) in curves.items():
        bottom.hist(np.asarray(p, dtype=float), bins=edges, histtype="step", lw=1.4, label=name)
    bottom.set_yscale("log")
    bottom.set_xlabel(f"predicted {quantity} probability")
    bottom.set_ylabel("rows (log)")
    bottom.set_title("Distribution of predictions")
    bottom.legend(fontsize="small")
    top.set_xlim(0, upper)
    top.set_ylim(0, upper)
    return _save(fig, path)


def _series(history: Sequence[Mapping[str, Any]], key: str) -> tuple[list, list]:
    points = [(row["epoch"], row[key]) for row in history if row.get(key) is not None]
    return [e for e, _ in points], [v for _, v in points]


def plot_training_curves(
    history: Sequence[Mapping[str, Any]], path: str | Path, title: str = "Training"
) -> Path:
    """Per epoch: train loss and validation log loss (left), validation AUC (right).

    ``history`` rows carry ``epoch``, ``train_loss``, ``valid_auc``, ``valid_logloss``; a
    missing or None value is skipped.
    """
    fig = _figure((10, 4), 1, 2)
    left, right = fig.axes
    for key, label in (("train_loss", "train loss"), ("valid_logloss", "validation log loss")):
        epochs, values = _series(history, key)
        left.plot(epochs, values, marker="o", label=label)
    left.set(xlabel="epoch", ylabel="log loss", title="Loss")
    left.legend(fontsize="small")
    epochs, values = _series(history, "valid_auc")
    right.plot(epochs, values, marker="o", color="tab:green", label="validation AUC")
    if values:
        best = int(np.argmax(values))
        right.scatter(
            [epochs[best]],
            [values[best]],
            s=90,
            facecolors="none",
            edgecolors="red",
            label=f"best {values[best]:.4f} (epoch {epochs[best]})",
            zorder=3,
        )
    right.set(xlabel="epoch", ylabel="AUC", title="Validation AUC")
    right.legend(fontsize="small")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title)
    return _save(fig, path)
