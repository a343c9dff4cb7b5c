"""What the per-ad click offsets (``train/ad_offsets.py``) add to a run on a synthetic log,
and what other choices of their shrinkage would.

    .venv/bin/python -m model_export.evaluate.ad_offsets data/synth-default --run runs/default

The run's logits without its own offsets, then offsets refitted from them: on the training
rows with ``alpha`` by the counts' marginal likelihood (negative binomial, no held-out rows)
and by the validation split's log loss (as ``adrank train`` picks it), scored on valid and
test; and on train + valid with the picked ``alpha``, scored on test (what a model trained
up to the test period would ship). E[AUC] needs the true click probabilities.
"""

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from model_export.data.clicklog import ClickLog
from model_export.evaluate.metrics import auc, expected_auc, logloss
from model_export.evaluate.truth_ablation import synth_cli
from model_export.train.ad_offsets import ClickCounts, pick_alpha, shifted
from model_export.train.arrays import featurise, subset
from model_export.train.run import load_run
from model_export.train.trainer import predict_logit


@dataclass(frozen=True)
class Split:
    """One split's rows: ads, labels, true probabilities and the run's logits."""

    ad_id: np.ndarray
    label: np.ndarray
    p_true: np.ndarray
    logit: np.ndarray

    def counts(self) -> ClickCounts:
        return ClickCounts.of(self.ad_id, self.label, expit(self.logit))

    def scores(self, offsets: pd.Series | None = None) -> dict[str, float]:
        z = self.logit if offsets is None else shifted(self.logit, self.ad_id, offsets)
        return {"AUC": auc(self.label, z), "E[AUC]": expected_auc(self.p_true, z),
                "log loss": logloss(self.label, expit(z))}  # fmt: skip


def concat(parts: Sequence[Split]) -> Split:
    return Split(*(np.concatenate([getattr(p, f) for p in parts]) for f in Split.__annotations__))


def run_splits(run_dir: Path, log: ClickLog, split: np.ndarray) -> dict[str, Split]:
    """The run's logits on each split of ``log``, without the offsets it was trained with."""
    run = load_run(run_dir)
    spec = dataclasses.replace(run.spec, ad_offsets=pd.Series(dtype=np.float64))
    feats, _ = featurise(log, split, run.cfg.history_len, run.cfg.prior_alpha, spec)
    source, out = run.text_source(feats), {}
    for name in ("train", "valid", "test"):
        rows = subset(feats, feats.rows(name))
        out[name] = Split(rows.ad_id, rows.label, rows.p_true,
                          predict_logit(run.model, source, rows))  # fmt: skip
    return out


def report(splits: dict[str, Split]) -> str:
    train, valid, test = splits["train"], splits["valid"], splits["test"]
    fit = train.counts()
    ml = fit.marginal_alpha()
    picked = pick_alpha(fit, valid.ad_id, valid.label, valid.logit)
    both = concat([train, valid]).counts()
    rows = [
        ("the run", None, valid.scores(), test.scores()),
        (f"offsets, alpha {ml:.1f} (marginal likelihood)", "train",
         valid.scores(fit.offsets(ml)), test.scores(fit.offsets(ml))),
        (f"offsets, alpha {picked:g} (validation log loss)", "train",
         valid.scores(fit.offsets(picked)), test.scores(fit.offsets(picked))),
        (f"offsets, alpha {picked:g}", "train + valid", None, test.scores(both.offsets(picked))),
    ]  # fmt: skip
    lines = ["| scored with | fitted on | valid AUC | valid E[AUC] | test AUC | test E[AUC] "
             "| test log loss |", "|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name, on, v, t in rows:
        vs = f"{v['AUC']:.4f} | {v['E[AUC]']:.4f}" if v else " | "
        lines.append(f"| {name} | {on or ''} | {vs} | {t['AUC']:.4f} | {t['E[AUC]']:.4f} "
                     f"| {t['log loss']:.4f} |")  # fmt: skip
    warm = np.isin(test.ad_id, fit.clicks.index).mean()
    lines.append(f"\n{len(fit.clicks):,} ads with training rows ({fit.clicks.mean():.1f} clicks "
                 f"each on average); {warm:.0%} of the test rows show one of them.")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    log, split, run = synth_cli(__doc__, "the run to analyse (required)")
    if run is None:
        raise SystemExit("--run RUN_DIR is required")
    print(report(run_splits(run, log, split)))


if __name__ == "__main__":
    main()
