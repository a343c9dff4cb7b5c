"""`adrank evaluate`: a trained run and its baselines on the same split, written as a report.

Subsets of the evaluated split: all rows, and ``<split>_cold`` — rows whose ad never appears
in training (the cold-start subset, where text has to carry the score).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from model_export.data.clicklog import SPLITS, ClickLog
from model_export.evaluate.auctions import auction_revenue, revenue_markdown
from model_export.evaluate.baselines import (
    PopularityBaseline,
    known_probabilities,
    oracle_predictions,
)
from model_export.evaluate.conversion_report import (
    Scored,
    conversion_results,
    plot_cvr_reliability,
    score_runs,
)
from model_export.evaluate.conversion_report import markdown_table as conversion_markdown
from model_export.evaluate.metrics import evaluate_predictions
from model_export.evaluate.options import DEFAULTS, EvalOptions
from model_export.evaluate.plots import plot_reliability, plot_roc, plot_training_curves
from model_export.evaluate.report import write_report
from model_export.train.arrays import Featurised, featurise, subset
from model_export.train.run import Run, load_run
from model_export.train.trainer import predict_all


@dataclass(frozen=True)
class Library:
    """A library baseline's (pCTR, pCVR) of the evaluated rows, and how it trained."""

    scores: tuple[np.ndarray, np.ndarray]
    training: dict[str, Any]


def evaluate_run(
    run_dir: Path,
    log: ClickLog,
    split: np.ndarray,
    out_dir: Path,
    options: EvalOptions = DEFAULTS,
) -> dict[str, dict[str, dict[str, float | int]]]:
    """Score adrank, the popularity prior, optionally DIN and the oracle; write report + plots.
    With conversions, per task beside the conversion baselines (``--baseline`` runs and,
    with ``options.library_baselines``, DeepCTR-Torch's ESMM and MMoE)."""
    run = load_run(run_dir)
    feats, _ = featurise(log, split, run.cfg.history_len, run.spec.prior_alpha, run.spec)
    frame = log.impressions.iloc[np.flatnonzero(np.isin(split, SPLITS))].reset_index(drop=True)
    rows = feats.rows(options.split)
    target = subset(feats, rows)
    own = predict_all(run.model, run.text_source(feats, options.cache_dir), target)
    preds = {"adrank": own.p_ctr}
    preds |= _baselines(log, frame, feats.split, rows, run.cfg.history_len, options)
    cold = ~frame["ad_id"].iloc[rows].isin(frame["ad_id"][feats.split == "train"]).to_numpy()
    subsets = {options.split: np.ones(len(rows), dtype=bool), f"{options.split}_cold": cold}
    results = {
        name: {
            s: evaluate_predictions(
                target.label[m],
                p[m],
                target.user_id[m],
                p_true=known_probabilities(target.p_true[m]),
            )
            for s, m in subsets.items()
        }
        for name, p in preds.items()
    }
    _plots(out_dir, target.label, preds, run_dir)
    extra = _extra(run_dir, log, options)
    if run.model.head.cvr_tower is not None and log.has_conversions:
        library = _library(log, frame, feats, rows, options) if options.library_baselines else {}
        extra["conversions"] = _conversions(run, (target, own), rows, log, split, options,
                                            out_dir, library)  # fmt: skip
    write_report(out_dir, results, extra, main_subset=options.split)
    return results


def _conversions(
    run: Run, own: Scored, rows: np.ndarray, log: ClickLog, split: np.ndarray,
    options: EvalOptions, out_dir: Path, library: dict[str, Library] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Per-task metrics of the run (``own``: its scores of the evaluated ``rows``) and its
    conversion baselines (``library``: trained ones' scores of the rows); ``conversions.md``
    and the pCVR reliability diagram in ``out_dir``."""
    library = library or {}
    baselines = {name: load_run(run_dir) for name, run_dir in options.baselines.items()}
    truth, scores = score_runs(run, own, log, split, rows, baselines, options.cache_dir,
                               {name: lib.scores for name, lib in library.items()})  # fmt: skip
    results: dict[str, Any] = {"tasks": conversion_results(truth, scores)}
    if library:
        results["library_training"] = {name: lib.training for name, lib in library.items()}
    plot_cvr_reliability(truth, scores, out_dir / "reliability_cvr.png")
    text = f"# Conversions ({options.split})\n\n{conversion_markdown(results['tasks'])}\n"
    if options.world_dir is not None:
        test_rows = np.flatnonzero(split == options.split)
        results["revenue"] = auction_revenue(run, baselines, log, test_rows, options, out_dir)
        text += f"\n## Revenue of mixed auctions\n\n{revenue_markdown(results['revenue'])}\n"
    (out_dir / "conversions.md").write_text(text)
    return results


def _baselines(
    log: ClickLog,
    frame: pd.DataFrame,
    split: np.ndarray,
    rows: np.ndarray,
    history_len: int,
    options: EvalOptions,
) -> dict[str, np.ndarray]:
    train, valid, target = frame[split == "train"], frame[split == "valid"], frame.iloc[rows]
    preds = {"popularity": PopularityBaseline.fit(train, valid).predict(target)}
    if options.din:
        preds["din"] = _din(log, frame, split, rows, history_len, options.seed)
    oracle = oracle_predictions(target)
    if oracle is not None:
        preds["oracle"] = oracle
    return preds


def _din(
    log: ClickLog,
    frame: pd.DataFrame,
    split: np.ndarray,
    rows: np.ndarray,
    history_len: int,
    seed: int,
) -> np.ndarray:
    from model_export.evaluate.din import DinConfig, din_splits, train_din

    groups = {name: np.flatnonzero(split == name) for name in ("train", "valid")}
    parts = din_splits(log.events, frame, history_len, groups | {"target": rows})
    din = train_din(
        parts["train"],
        parts["valid"],
        events=log.events,
        context_fields=log.context_fields,
        config=DinConfig(history_len=history_len),
        seed=seed,
    )
    return din.predict(parts["target"])


def _library(
    log: ClickLog, frame: pd.DataFrame, feats: Featurised, rows: np.ndarray,
    options: EvalOptions,
) -> dict[str, Library]:  # fmt: skip
    """DeepCTR-Torch's ESMM and MMoE (``deepctr_multitask``), trained on the training rows
    with the clicks and the conversions the run trains on (``feats.conversions``), early
    stopped on the validation rows, scoring ``rows``."""
    from model_export.evaluate.deepctr_multitask import KINDS, TaskSplit, train_multitask

    def part(idx: np.ndarray) -> TaskSplit:
        return TaskSplit(frame.iloc[idx].reset_index(drop=True), feats.label[idx],
                         feats.conversions.converted[idx])  # fmt: skip

    train, valid, target = part(feats.rows("train")), part(feats.rows("valid")), part(rows)
    out = {}
    for kind in KINDS:
        model = train_multitask(kind, train, valid, context_fields=log.context_fields,
                                seed=options.seed)  # fmt: skip
        pred = model.predict(target.impressions)
        training = {"best_epoch": model.best_epoch, "history": model.history,
                    "cvr_capped": float(np.mean(pred.p_ctcvr > pred.p_ctr))}  # fmt: skip
        out[f"deepctr_{kind}"] = Library((pred.p_ctr, pred.p_cvr), training)
    return out


def _plots(out_dir: Path, y: np.ndarray, preds: dict[str, np.ndarray], run_dir: Path) -> None:
    curves = {name: (y, p) for name, p in preds.items()}
    plot_roc(curves, out_dir / "roc.png")
    plot_reliability(curves, out_dir / "reliability.png")
    history = run_dir / "history.json"
    if history.is_file():
        plot_training_curves(orjson.loads(history.read_bytes()), out_dir / "training_curves.png")


def _extra(run_dir: Path, log: ClickLog, options: EvalOptions) -> dict[str, Any]:
    data = orjson.loads((run_dir / "data.json").read_bytes())
    return {
        "run": str(run_dir),
        "data": data,
        "evaluated_split": options.split,
        "dataset": log.name,
    }
