"""Where a run's error on a synthetic log lies: its logit set against the truth's own terms.

    .venv/bin/python -m model_export.evaluate.residuals data/synth-default --run runs/default

The synthetic truth is a sum of terms (``synth_truth``): the fine-topic and vertical counts,
the offer phrase, a per-ad quality and the context's (device × slot, hour, position, the age
band × the ad's vertical). A least-squares fit of the run's logit on those terms splits it
into a part that follows the truth (with a weight per term) and a residual that does not.
Scoring the fitted part alone says what the weights cost; scoring the oracle plus the
residual says what the residual costs. The residual is then split by ad:

- its per-ad mean on the test split, and how much of the residual's variance that is (less
  what per-ad means of pure noise would explain by chance);
- the slope of that per-ad mean on the ad's *training* sampling noise (log of its clicks over
  the clicks its true probabilities expect): how much of each ad's luck in the training rows
  the run has taken for a property of the ad. An empirical-Bayes estimate of quality would
  take ``var(quality) / (var(quality) + var(noise))`` of it;
- the same with every ad scored as unseen (no id bucket, the global prior), which isolates
  the text path: its weight on the offer term says how much of the offer's effect it reads.

And per term, the run's E[AUC] with that term's weight set to the truth's (the run's logit
plus the term times one less its weight): what under-weighting each part of the truth costs.

Last, the run's context effects: its partial dependence (every row scored with each device ×
slot cell, each hour) correlated with the truth's tables.
"""

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from model_export.data.clicklog import ClickLog
from model_export.data.synth import SynthConfig, affinity_counts
from model_export.data.synth_truth import (
    DEVICE_SLOT_EFFECT,
    DEVICES,
    SLOTS,
    hour_effect,
    position_effect,
)
from model_export.evaluate.metrics import auc, expected_auc
from model_export.evaluate.truth_ablation import auc_table, offer_effects, synth_cli
from model_export.train.arrays import Featurised, featurise, subset
from model_export.train.run import Run, load_run
from model_export.train.texts import TextSource
from model_export.train.trainer import predict
from service.features.prior import unknown_prior

CONTEXT_TERMS = ("device × slot", "hour", "position", "age band × vertical")
TERMS = ("fine topic", "vertical", "offer", "quality", *CONTEXT_TERMS)


def truth_terms(log: ClickLog, cfg: SynthConfig) -> pd.DataFrame:
    """Per impression, each term of the true logit (columns ``TERMS``; the age band × the
    ad's vertical is the rest of the true logit, base included)."""
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
    device = pd.Index(DEVICES).get_indexer(imps["ctx_device"])
    slot = pd.Index(SLOTS).get_indexer(imps["ctx_slot"])
    terms["device × slot"] = DEVICE_SLOT_EFFECT[device, slot]
    terms["hour"] = hour_effect(imps["ctx_hour"].to_numpy(np.float64))
    terms["position"] = position_effect(imps["ctx_position"].to_numpy(np.float64))
    terms["age band × vertical"] = logit - terms.sum(axis=1).to_numpy()
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


def weight_costs(
    logit: np.ndarray, terms: pd.DataFrame, weights: dict[str, float], p_true: np.ndarray
) -> dict[str, float]:
    """Per term, the E[AUC] of ``logit`` with that term's fitted weight set to one."""
    return {t: expected_auc(p_true, logit + (1 - w) * terms[t].to_numpy())
            for t, w in weights.items()}  # fmt: skip


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


@dataclass(frozen=True)
class Scored:
    """A run and the featurised rows of one split, ready to score."""

    run: Run
    source: TextSource
    rows: Featurised

    @classmethod
    def load(cls, run_dir: Path, log: ClickLog, split: np.ndarray, part: str) -> "Scored":
        run = load_run(run_dir)
        feats, _ = featurise(log, split, run.cfg.history_len, run.cfg.prior_alpha, run.spec)
        return cls(run, run.text_source(feats), subset(feats, feats.rows(part)))

    def logit(self, rows: Featurised | None = None) -> np.ndarray:
        p = predict(self.run.model, self.source, self.rows if rows is None else rows)
        return np.log(p / (1 - p)).astype(np.float64)

    def logits(self) -> dict[str, np.ndarray]:
        """As served, and (for a run that reads the ad prior) with every ad as if unseen."""
        out = {"as served": self.logit()}
        spec = self.run.spec
        if not spec.ad_stats.empty:
            unseen = dataclasses.replace(self.rows, bucket=np.zeros_like(self.rows.bucket))
            unseen.prior = np.tile(unknown_prior(spec.global_ctr, spec.prior_alpha),
                                   (len(unseen.label), 1))  # fmt: skip
            out["every ad unseen"] = self.logit(unseen)
        return out

    def partial_dependence(self, settings: list[dict[str, object]]) -> np.ndarray:
        """The mean logit of the rows with their context set to each of ``settings``."""
        fields, means = self.run.spec.context.fields, []
        for values in settings:
            context = self.rows.context.copy()
            for name, value in values.items():
                ids = self.run.spec.context.encode_column(name, [value])
                context[:, fields.index(name)] = ids[0]
            means.append(self.logit(dataclasses.replace(self.rows, context=context)).mean())
        return np.array(means)


def context_fit(scored: Scored) -> dict[str, float]:
    """Correlation of the run's partial dependence on device × slot and on the hour of day
    with the truth's own tables of those effects."""
    cells: list[dict[str, object]] = [{"device": d, "slot": s} for d in DEVICES for s in SLOTS]
    by_cell = scored.partial_dependence(cells)
    by_hour = scored.partial_dependence([{"hour": h} for h in range(24)])
    return {
        "device × slot": float(np.corrcoef(by_cell, DEVICE_SLOT_EFFECT.ravel())[0, 1]),
        "hour": float(np.corrcoef(by_hour, hour_effect(np.arange(24)))[0, 1]),
    }


def report(log: ClickLog, split: np.ndarray, run_dir: Path, part: str = "test") -> str:
    """The Markdown tables of the analysis of ``run_dir`` on ``part``."""
    rows = split == part
    terms = truth_terms(log, SynthConfig())[rows].reset_index(drop=True)
    label = log.impressions["label"].to_numpy()[rows]
    p_true = log.impressions["p_true"].to_numpy(np.float64)[rows]
    true_logit = terms.sum(axis=1).to_numpy()
    oracle = expected_auc(p_true, true_logit)
    ad_ids = log.impressions["ad_id"].to_numpy()[rows]
    noise = training_noise(log, split)
    scored = Scored.load(run_dir, log, split, part)
    lines = []
    for name, logit in scored.logits().items():
        dec = decompose(logit, terms, label)
        ads = per_ad(dec.residual, ad_ids, noise)
        weights = ", ".join(f"{t} {w:.2f}" for t, w in dec.weights.items())
        costs = weight_costs(logit, terms, dec.weights, p_true)
        fixed = ", ".join(f"{t} {e:.4f}" for t, e in costs.items())
        lines += [
            f"## {name} ({part}, {rows.sum():,} rows)", "", auc_table(dec.aucs), "",
            f"- weights of the truth's terms in the run's logit: {weights}",
            f"- E[AUC] {expected_auc(p_true, logit):.4f} (the oracle's {oracle:.4f}); with "
            f"one term's weight set to the truth's: {fixed}",
            f"- residual sd {dec.residual.std():.3f} (the true logit's: "
            f"{true_logit.std(ddof=1):.3f}); per-ad share of its variance {ads.share:.2f}, "
            f"per-ad sd {ads.sd:.3f}",
            f"- per-ad residual on the ad's training noise: slope {ads.noise_slope:.2f}, "
            f"correlation {ads.noise_corr:.2f}", "",
        ]  # fmt: skip
    fit = ", ".join(f"{name} {r:.2f}" for name, r in context_fit(scored).items())
    lines.append(f"Context effects as served (partial dependence) against the truth's: {fit}")
    return "\n".join(lines)


def main() -> None:
    log, split, run = synth_cli(__doc__, "the run to analyse (required)")
    if run is None:
        raise SystemExit("--run RUN_DIR is required")
    print(report(log, split, run))


if __name__ == "__main__":
    main()
