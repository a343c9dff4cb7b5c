"""Where a run's error on a synthetic log lies: its logit set against the truth's own terms.

    .venv/bin/python -m model_export.evaluate.residuals data/synth-default --run runs/default

The synthetic truth is a sum of terms (``synth_truth``): the fine-topic and vertical counts,
the offer phrase, a per-ad quality and the context. A least-squares fit of the run's logit on
those terms splits it into a part that follows the truth (with a weight per term) and a
residual that does not. Scoring the fitted part alone says what the weights cost; scoring the
oracle plus the residual says what the residual costs. The residual is then split by ad:

- its per-ad mean on the test split, and how much of the residual's variance that is (less
  what per-ad means of pure noise would explain by chance);
- the slope of that per-ad mean on the ad's *training* sampling noise (log of its clicks over
  the clicks its true probabilities expect): how much of each ad's luck in the training rows
  the run has taken for a property of the ad. An empirical-Bayes estimate of quality would
  take ``var(quality) / (var(quality) + var(noise))`` of it;
- the same with every ad scored as unseen (no id bucket, the global prior), which isolates
  the text path: its weight on the offer term says how much of the offer's effect it reads.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from model_export.data.clicklog import ClickLog
from model_export.data.synth import SynthConfig, affinity_counts
from model_export.evaluate.metrics import auc
from model_export.evaluate.truth_ablation import auc_table, offer_effects, synth_cli
from model_export.train.features import featurise, subset
from model_export.train.run import load_run
from model_export.train.trainer import predict
from service.features.prior import unknown_prior

TERMS = ("fine topic", "vertical", "offer", "quality", "context")


def truth_terms(log: ClickLog, cfg: SynthConfig) -> pd.DataFrame:
    """Per impression, each term of the true logit (columns ``TERMS``; context is the rest
    of the true logit, base included)."""
    imps = log.impressions
    p = imps["p_true"].to_numpy(np.float64)
    logit = np.log(p / (1 - p))
    k_topic, k_vert = affinity_counts(log, cfg.history_len)
    quality = log.ads.set_index("ad_id")["quality"].reindex(imps["ad_id"]).to_numpy()
    terms = pd.DataFrame(
        {
            "fine topic": cfg.topic_weight * np.log1p(k_topic),
            "vertical": cfg.vertical_weight * np.log1p(k_vert),
            "offer": offer_effects(log),
            "quality": quality,
        }
    )
    terms["context"] = logit - terms.sum(axis=1).to_numpy()
    return terms


@dataclass(frozen=True)
class Decomposition:
    weights: dict[str, float]  # the least-squares weight of each truth term in the logit
    residual: np.ndarray  # the logit less its fit on the terms (centred)
    aucs: dict[str, float]


def decompose(logit: np.ndarray, terms: pd.DataFrame, label: np.ndarray) -> Decomposition:
    """Fit ``logit`` on the truth ``terms`` of the same rows (least squares, with a constant)."""
    x = np.column_stack([np.ones(len(logit)), terms.to_numpy()])
    coef, *_ = np.linalg.lstsq(x, logit, rcond=None)
    fitted = x @ coef
    residual = logit - fitted
    true_logit = terms.sum(axis=1).to_numpy()
    aucs = {
        "the run": auc(label, logit),
        "oracle (true probability)": auc(label, true_logit),
        "the run's fit on the truth's terms (its weights, no residual)": auc(label, fitted),
        "oracle + the run's residual": auc(label, true_logit + residual),
    }
    return Decomposition(dict(zip(terms.columns, coef[1:].tolist(), strict=True)), residual, aucs)


def training_noise(log: ClickLog, split: np.ndarray) -> pd.Series:
    """Per ad seen in training: log((clicks + 0.5) / (expected clicks + 0.5)), its clicks in
    the training rows against what their true probabilities expect (pure sampling noise)."""
    imps = log.impressions[split == "train"]
    sums = pd.DataFrame({"ad": imps["ad_id"], "clicks": imps["label"], "p": imps["p_true"]})
    per_ad = sums.groupby("ad")[["clicks", "p"]].sum()
    return np.log((per_ad["clicks"] + 0.5) / (per_ad["p"] + 0.5))


@dataclass(frozen=True)
class PerAd:
    share: float  # of the residual's variance in per-ad means, less the chance share
    sd: float  # of the per-ad mean residual
    noise_slope: float  # of the per-ad mean residual on the ad's training noise (warm ads)
    noise_corr: float


def per_ad(residual: np.ndarray, ad_ids: np.ndarray, noise: pd.Series) -> PerAd:
    """How much of ``residual`` (rows of ``ad_ids``) is a per-ad offset, and how it follows
    the ads' training ``noise``."""
    frame = pd.DataFrame({"ad": ad_ids, "res": residual - residual.mean()})
    means = frame.groupby("ad")["res"].mean()
    chance = len(means) / len(frame)
    share = frame.groupby("ad")["res"].transform("mean").var() / frame["res"].var() - chance
    warm = means.index.intersection(noise.index)
    x, y = noise.loc[warm].to_numpy(), means.loc[warm].to_numpy()
    return PerAd(float(share), float(means.std()), float(np.polyfit(x, y, 1)[0]),
                 float(np.corrcoef(x, y)[0, 1]))  # fmt: skip


def run_logits(run_dir: Path, log: ClickLog, split: np.ndarray, part: str) -> dict[str, np.ndarray]:
    """The run's logits on the rows of ``part``: as served, and (for a run that reads
    the ad prior) with every ad as if unseen."""
    run = load_run(run_dir)
    feats, spec = featurise(log, split, run.cfg.history_len, run.cfg.prior_alpha, run.spec)
    rows = subset(feats, feats.rows(part))
    source = run.text_source(feats)
    out = {"as served": predict(run.model, source, rows)}
    if not spec.ad_stats.empty:
        rows.bucket[:] = 0
        rows.prior[:] = unknown_prior(spec.global_ctr, run.cfg.prior_alpha)
        out["every ad unseen"] = predict(run.model, source, rows)
    return {k: np.log(p / (1 - p)).astype(np.float64) for k, p in out.items()}


def report(log: ClickLog, split: np.ndarray, run_dir: Path, part: str = "test") -> str:
    """The Markdown tables of the analysis of ``run_dir`` on ``part``."""
    rows = split == part
    terms = truth_terms(log, SynthConfig())[rows].reset_index(drop=True)
    label = log.impressions["label"].to_numpy()[rows]
    ad_ids = log.impressions["ad_id"].to_numpy()[rows]
    noise = training_noise(log, split)
    lines = []
    for name, logit in run_logits(run_dir, log, split, part).items():
        dec = decompose(logit, terms, label)
        ads = per_ad(dec.residual, ad_ids, noise)
        weights = ", ".join(f"{t} {w:.2f}" for t, w in dec.weights.items())
        lines += [
            f"## {name} ({part}, {rows.sum():,} rows)", "", auc_table(dec.aucs), "",
            f"- weights of the truth's terms in the run's logit: {weights}",
            f"- residual sd {dec.residual.std():.3f} (the true logit's: "
            f"{terms.sum(axis=1).std():.3f}); per-ad share of its variance {ads.share:.2f}, "
            f"per-ad sd {ads.sd:.3f}",
            f"- per-ad residual on the ad's training noise: slope {ads.noise_slope:.2f}, "
            f"correlation {ads.noise_corr:.2f}", "",
        ]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    log, split, run = synth_cli(__doc__, "the run to analyse (required)")
    if run is None:
        raise SystemExit("--run RUN_DIR is required")
    print(report(log, split, run))


if __name__ == "__main__":
    main()
