"""DIN's settings picked on validation: a small grid on the MovieLens protocol.

``python -m model_export.evaluate.din_tuning`` trains ``din.train_din`` on the standard
MovieLens split (the rows and features ``adrank evaluate RUN --data movielens --din`` uses:
ids, the liked-items sequence and the user/time context fields) once per setting of a grid
over embedding size, learning rate and dropout, each with early stopping on validation AUC.
The epoch count is the fourth axis, read off each run's per-epoch history instead of
retraining: training is deterministic for a seed, so a run capped at ``e`` epochs is the
first ``e`` epochs of the longer run, and its validation AUC is the best of those epochs.
The setting with the highest validation AUC is picked (``pick``; the test split is not read
for it), then trained with three seeds and scored on test. No adrank run is needed.
"""

import argparse
import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from model_export.evaluate.din import DinBaseline, DinConfig, DinSplit, din_splits, train_din
from model_export.evaluate.metrics import auc, logloss

EMBEDDING_DIMS = (8, 16, 32)
LEARNING_RATES = (3e-4, 1e-3, 3e-3)
DROPOUTS = (0.0, 0.3)
EPOCH_CAPS = (1, 2, 3, 5, 10)  # max_epochs values read off each run's history
SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Setting:
    """One point of the grid: the tuned fields of ``DinConfig``."""

    embedding_dim: int
    lr: float
    dnn_dropout: float
    max_epochs: int

    def config(self, base: DinConfig) -> DinConfig:
        return replace(base, **asdict(self))

    def label(self) -> str:
        return (f"dim {self.embedding_dim}, lr {self.lr:g}, dropout {self.dnn_dropout:g}, "
                f"{self.max_epochs} epochs")  # fmt: skip


@dataclass(frozen=True)
class Trial:
    """A setting's validation AUC (best over its epochs) and the epoch that reached it."""

    setting: Setting
    valid_auc: float
    best_epoch: int


def grid(
    dims: Sequence[int] = EMBEDDING_DIMS,
    lrs: Sequence[float] = LEARNING_RATES,
    dropouts: Sequence[float] = DROPOUTS,
    max_epochs: int = max(EPOCH_CAPS),
) -> list[Setting]:
    """The settings that are trained: every (dim, lr, dropout), each up to ``max_epochs``."""
    return [Setting(d, lr, p, max_epochs) for d, lr, p in itertools.product(dims, lrs, dropouts)]


def epoch_trials(
    setting: Setting, history: Sequence[dict[str, float | int]], caps: Sequence[int] = EPOCH_CAPS
) -> list[Trial]:
    """The trials of one trained run at each epoch cap: a run capped at ``cap`` epochs keeps
    the best validation AUC among its first ``cap`` epochs. Caps beyond the epochs the run
    trained (early stopping ended it) give the same trial as the run itself, so they are
    listed only if the run reached them or ended before them for the first such cap."""
    trials = []
    for cap in sorted(caps):
        if cap > setting.max_epochs:
            break
        first = [row for row in history if int(row["epoch"]) <= cap]
        if not first:
            continue
        best = max(first, key=lambda row: (float(row["valid_auc"]), -int(row["epoch"])))
        trials.append(Trial(replace(setting, max_epochs=cap), float(best["valid_auc"]),
                            int(best["epoch"])))  # fmt: skip
        if cap >= len(history):  # the run stopped early: larger caps change nothing
            break
    return trials


def pick(trials: Sequence[Trial]) -> Trial:
    """The trial with the highest validation AUC; ties go to the cheaper setting (fewer
    epochs, then smaller embeddings), then to the first listed. NaN never wins."""
    scored = [t for t in trials if np.isfinite(t.valid_auc)]
    if not scored:
        raise ValueError("no trial has a finite validation AUC")
    return max(scored, key=lambda t: (t.valid_auc, -t.setting.max_epochs,
                                      -t.setting.embedding_dim))  # fmt: skip


Train = Callable[[DinConfig, int], DinBaseline]


def search(
    train: Train, settings: Sequence[Setting], base: DinConfig, caps: Sequence[int] = EPOCH_CAPS,
    log: Callable[[str], None] = print,
) -> list[Trial]:  # fmt: skip
    """Train each setting once (seed 0) and return the trials at every epoch cap."""
    trials: list[Trial] = []
    for setting in settings:
        start = time.perf_counter()
        model = train(setting.config(base), 0)
        found = epoch_trials(setting, model.history, caps)
        trials += found
        aucs = ", ".join(f"{t.setting.max_epochs}: {t.valid_auc:.4f}" for t in found)
        log(f"{setting.label()}: valid AUC by epoch cap {aucs} "
            f"({time.perf_counter() - start:.0f} s)")  # fmt: skip
    return trials


def movielens_splits(cache_dir: Path, history_len: int) -> tuple[dict[str, DinSplit], dict]:
    """The standard MovieLens split as DIN sees it in ``adrank evaluate --din``, and the
    keyword arguments ``train_din`` needs beside the splits."""
    from model_export.data.clicklog import SPLITS
    from model_export.data.sources import MOVIELENS, load_source, split_for

    log = load_source(MOVIELENS, cache_dir)
    split = split_for(log, "standard")
    keep = np.isin(split, SPLITS)
    frame = log.impressions.iloc[np.flatnonzero(keep)].reset_index(drop=True)
    rows = {name: np.flatnonzero(split[keep] == name) for name in ("train", "valid", "test")}
    parts = din_splits(log.events, frame, history_len, rows)
    return parts, {"events": log.events, "context_fields": log.context_fields}


def main(argv: Sequence[str] | None = None) -> None:
    from model_export.data.movielens import DEFAULT_CACHE_DIR

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--dims", type=int, nargs="+", default=list(EMBEDDING_DIMS))
    parser.add_argument("--lrs", type=float, nargs="+", default=list(LEARNING_RATES))
    parser.add_argument("--dropouts", type=float, nargs="+", default=list(DROPOUTS))
    parser.add_argument("--caps", type=int, nargs="+", default=list(EPOCH_CAPS))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--out", type=Path, default=None, help="write the trials as JSON")
    args = parser.parse_args(argv)

    base = replace(DinConfig(), verbose=False)
    parts, kwargs = movielens_splits(args.cache_dir, base.history_len)

    def train(config: DinConfig, seed: int) -> DinBaseline:
        return train_din(parts["train"], parts["valid"], config=config, seed=seed, **kwargs)

    start = time.perf_counter()
    settings = grid(args.dims, args.lrs, args.dropouts, max(args.caps))
    trials = search(train, settings, base, args.caps)
    best = pick(trials)
    print(f"picked on validation: {best.setting.label()} (valid AUC {best.valid_auc:.4f})")
    y = parts["test"].impressions["label"].to_numpy(np.float64)
    tests = []
    for seed in args.seeds:
        model = train(best.setting.config(base), seed)
        p = model.predict(parts["test"])
        tests.append({"seed": seed, "test_auc": auc(y, p), "test_logloss": logloss(y, p),
                      "best_epoch": model.best_epoch,
                      "valid_auc": max(float(r["valid_auc"]) for r in model.history)})  # fmt: skip
        print(f"seed {seed}: {tests[-1]}")
    aucs = np.array([t["test_auc"] for t in tests])
    print(f"test AUC {aucs.mean():.4f} ± {aucs.std(ddof=1) if len(aucs) > 1 else 0.0:.4f} "
          f"over seeds {list(args.seeds)}; {time.perf_counter() - start:.0f} s in all")  # fmt: skip
    if args.out is not None:
        record = {"trials": [asdict(t) for t in trials], "picked": asdict(best), "test": tests}
        args.out.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
