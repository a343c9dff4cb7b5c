"""What a per-ad correction fitted on the training clicks would add to a run on a synthetic log.

    .venv/bin/python -m model_export.evaluate.ad_offsets data/synth-default --run runs/default

The default model reads nothing of an ad but its text (``--no-ad-prior``), so whatever of an
ad's click rate its text does not say — the truth's per-ad quality, the part of the offer the
text vector loses, the head's own per-ad error — stays in every score of that ad. An ad with
history shows it: its clicks in the training rows against the clicks the run expects there.
An empirical-Bayes estimate (Poisson counts, a Gamma prior of mean 1 and shape ``alpha`` on
each ad's multiplier) turns that into a logit offset per ad, shrunk towards 0 the fewer
clicks the ad has: ``log((clicks + alpha) / (expected + alpha))``. Ads without history keep
no offset.

``alpha`` two ways: by the counts' marginal likelihood (negative binomial, no held-out rows),
and picked on the validation split's log loss from a grid. The offsets are fitted on the
training rows and scored on valid and test, then refitted on train + valid with the picked
``alpha`` and scored on test (what a model trained up to the test period would ship).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.special import expit, logit

from model_export.data.clicklog import ClickLog
from model_export.evaluate.metrics import auc, expected_auc, logloss
from model_export.evaluate.truth_ablation import synth_cli
from model_export.train.arrays import featurise, subset
from model_export.train.run import load_run
from model_export.train.trainer import predict

ALPHAS = (2.0, 5.0, 10.0, 20.0, 40.0, 80.0)


@dataclass(frozen=True)
class AdCounts:
    """Per ad: its clicks and the clicks a model expects in the same rows."""

    clicks: pd.Series
    expected: pd.Series

    @classmethod
    def of(cls, ad_id: np.ndarray, label: np.ndarray, p: np.ndarray) -> "AdCounts":
        sums = pd.DataFrame({"clicks": label, "expected": p}).groupby(ad_id).sum()
        return cls(sums["clicks"], sums["expected"])

    def offsets(self, alpha: float) -> pd.Series:
        """Each ad's logit offset: the posterior mean of its click-rate multiplier, logged."""
        return np.log((self.clicks + alpha) / (self.expected + alpha))

    def marginal_alpha(self) -> float:
        """The ``alpha`` that makes the ads' clicks likeliest under Poisson counts with a
        Gamma(alpha, alpha) multiplier (a negative binomial per ad)."""
        c, e = self.clicks.to_numpy(), self.expected.to_numpy()

        def nll(log_alpha: float) -> float:
            a = np.exp(log_alpha)
            return -float(stats.nbinom.logpmf(c, a, a / (a + e)).sum())

        best = optimize.minimize_scalar(nll, bounds=(-3.0, 9.0), method="bounded")
        return float(np.exp(best.x))


@dataclass(frozen=True)
class Split:
    """One split's rows: ads, labels, true probabilities and the run's logits."""

    ad_id: np.ndarray
    label: np.ndarray
    p_true: np.ndarray
    logit: np.ndarray

    def counts(self) -> AdCounts:
        return AdCounts.of(self.ad_id, self.label, expit(self.logit))

    def shifted(self, offsets: pd.Series) -> np.ndarray:
        return self.logit + offsets.reindex(self.ad_id).fillna(0.0).to_numpy()

    def scores(self, offsets: pd.Series | None = None) -> dict[str, float]:
        z = self.logit if offsets is None else self.shifted(offsets)
        return {"AUC": auc(self.label, z), "E[AUC]": expected_auc(self.p_true, z),
                "log loss": logloss(self.label, expit(z))}  # fmt: skip


def concat(parts: Sequence[Split]) -> Split:
    return Split(*(np.concatenate([getattr(p, f) for p in parts]) for f in Split.__annotations__))


def run_splits(run_dir: Path, log: ClickLog, split: np.ndarray) -> dict[str, Split]:
    """The run's logits on each split of ``log``."""
    run = load_run(run_dir)
    feats, _ = featurise(log, split, run.cfg.history_len, run.cfg.prior_alpha, run.spec)
    source, out = run.text_source(feats), {}
    for name in ("train", "valid", "test"):
        rows = subset(feats, feats.rows(name))
        p = np.clip(predict(run.model, source, rows), 1e-7, 1 - 1e-7)
        out[name] = Split(rows.ad_id, rows.label, rows.p_true, logit(p))
    return out


def pick_alpha(fit: AdCounts, valid: Split, alphas: Sequence[float] = ALPHAS) -> float:
    """The grid's ``alpha`` with the lowest validation log loss."""
    return min(alphas, key=lambda a: valid.scores(fit.offsets(a))["log loss"])


def report(splits: dict[str, Split]) -> str:
    train, valid, test = splits["train"], splits["valid"], splits["test"]
    fit = train.counts()
    ml, picked = fit.marginal_alpha(), pick_alpha(fit, valid)
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
