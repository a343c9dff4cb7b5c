"""What a model could reach on the synthetic conversions: the oracle with its latents unknown.

    .venv/bin/python -m model_export.evaluate.cvr_ceiling data/synth-default [--run RUN]

The conversion truth (``synth_conversion``) has two latents that no log line carries: a
per-user purchase intent and a per-ad landing quality. A model can learn them only from the
few conversions each user and ad has. This scores the test split with the best prediction
that does not know them: the true conversion probability averaged over each unknown latent's
distribution (``marginal_sigmoid``), times the true click probability. Its CVR and CTCVR AUCs
are a ceiling for any model of the log, which the oracle's (the whole truth) are not. The
ad's price is visible (a number in the log's ads) but a scorer without it is shown too.

What the log's conversions can teach a model told what matters: a logistic regression on
the truth's visible terms (offer, vertical, device, slot, hour and age band one-hot; the
price level; log1p of the topic matches), fitted on the clicked training rows.

With ``--run``, a trained run's scores beside them, and each of its two towers with the
other replaced by the truth: which of pCTR and pCVR costs the CTCVR AUC.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression

from model_export.data.clicklog import ClickLog
from model_export.data.sources import load_source, split_for
from model_export.data.synth_conversion import PRICE_WEIGHT
from model_export.data.synth_world import SynthWorld, impression_affinity, load_world
from model_export.evaluate.metrics import auc, expected_auc
from model_export.train.arrays import featurise, subset
from model_export.train.run import DEFAULT_CACHE, load_run
from model_export.train.trainer import predict_all

HERMITE_NODES = 48


def marginal_sigmoid(z: np.ndarray, std: float) -> np.ndarray:
    """``E[sigmoid(z + e)]`` for ``e ~ N(0, std²)`` (Gauss-Hermite quadrature): the
    probability of a logit ``z`` whose normal latent is unknown."""
    if std == 0:
        return expit(z)
    x, w = np.polynomial.hermite_e.hermegauss(HERMITE_NODES)
    return expit(z[:, None] + std * x[None, :]) @ (w / w.sum())


def latents(world: SynthWorld, test: pd.DataFrame) -> dict[str, tuple[np.ndarray, float]]:
    """Per latent, its value on each test row and the std it was drawn with."""
    truth, cfg = world.conversion, world.config
    if truth is None:
        raise SystemExit("the log has no conversions (adrank synth with cvr_mean 0)")
    user = world.user_ids.get_indexer(test["user_id"])
    ad = world.ad_ids.get_indexer(test["ad_id"])
    return {
        "intent": (truth.intent[user], cfg.intent_std),
        "landing": (truth.merchants.landing[ad], cfg.landing_std),
        # visible, but only as a number in the text: a price level is N(0, 1) by construction
        "price": (-PRICE_WEIGHT * truth.merchants.price_level[ad], PRICE_WEIGHT),
    }


def ceilings(log: ClickLog, split: np.ndarray, world: SynthWorld) -> dict[str, dict[str, float]]:
    """Per scorer (the whole truth; without intent; without landing; without both) the test
    split's CVR E[AUC] over every impression and CTCVR AUC and E[AUC]."""
    test = log.impressions[split == "test"]
    p_ctr = test["p_true"].to_numpy(np.float64)
    p_cvr = test["p_cvr_true"].to_numpy(np.float64)
    converted = test["converted"].fillna(0).to_numpy(np.int8)
    z = logit(p_cvr)
    known = latents(world, test)
    scorers: dict[str, tuple[str, ...]] = {"oracle (whole truth)": ()}
    scorers |= {f"without {name}": (name,) for name in known}
    scorers["without intent and landing"] = ("intent", "landing")
    scorers["without intent, landing and price"] = tuple(known)
    out = {}
    for name, unknown in scorers.items():
        shift = sum((known[u][0] for u in unknown), np.zeros_like(z))
        std = float(np.sqrt(sum(known[u][1] ** 2 for u in unknown)))
        cvr = marginal_sigmoid(z - shift, std)
        out[name] = {
            "cvr_expected_auc": expected_auc(p_cvr, cvr),
            "ctcvr_auc": auc(converted, p_ctr * cvr),
            "ctcvr_expected_auc": expected_auc(p_ctr * p_cvr, p_ctr * cvr),
        }
    return out


def visible_terms(world: SynthWorld, frame: pd.DataFrame) -> np.ndarray:
    """Per impression, the visible terms of the conversion truth as a design matrix."""
    imps = world.impressions(frame)
    k_topic, _ = impression_affinity(world.history, world.ads, imps, world.config.history_len)
    ctx, ad = imps.context(), imps.ad
    codes = {"offer": world.ads.offer[ad], "vertical": world.ads.vertical[ad], **{
        name: ctx[name] for name in ("device", "slot", "hour", "age")}}  # fmt: skip
    one_hot = pd.get_dummies(pd.DataFrame(codes).astype("category")).to_numpy(np.float64)
    price = latents(world, frame)["price"][0]
    return np.column_stack([one_hot, price, np.log1p(k_topic)])


def logistic_row(log: ClickLog, split: np.ndarray, world: SynthWorld) -> dict[str, float]:
    """The test split scored by the true pCTR × a logistic regression of the conversion on
    ``visible_terms``, fitted on the clicked training rows (labels as the log has them)."""
    frame = log.impressions
    x = visible_terms(world, frame)
    converted = frame["converted"].fillna(0).to_numpy(np.int8)
    fit = (split == "train") & (frame["label"].to_numpy() > 0)
    test = split == "test"
    model = LogisticRegression(max_iter=2000).fit(x[fit], converted[fit])
    cvr = model.predict_proba(x[test])[:, 1]
    p_ctr, p_cvr = frame["p_true"].to_numpy()[test], frame["p_cvr_true"].to_numpy()[test]
    return {
        "cvr_expected_auc": expected_auc(p_cvr, cvr),
        "ctcvr_auc": auc(converted[test], p_ctr * cvr),
        "ctcvr_expected_auc": expected_auc(p_ctr * p_cvr, p_ctr * cvr),
    }


def run_rows(
    run_dir: Path, log: ClickLog, split: np.ndarray, cache_dir: Path = DEFAULT_CACHE
) -> dict[str, dict[str, float]]:
    """A run's CVR E[AUC] and CTCVR AUC and E[AUC] on the test split; and with its pCVR, or
    its pCTR, replaced by the truth."""
    run = load_run(run_dir)
    feats, _ = featurise(log, split, run.cfg.history_len, run.spec.prior_alpha, run.spec)
    test = subset(feats, feats.rows("test"))
    own = predict_all(run.model, run.text_source(feats, cache_dir), test)
    if own.p_cvr is None:
        raise SystemExit(f"{run_dir} has no conversion tower")
    p_ctr, p_cvr = test.p_true, test.conversions.p_cvr_true
    converted = test.conversions.converted
    pairs = {"the run": (own.p_ctr, own.p_cvr), "the run's pCTR × true pCVR": (own.p_ctr, p_cvr),
             "true pCTR × the run's pCVR": (p_ctr, own.p_cvr)}  # fmt: skip
    return {
        name: {
            "cvr_expected_auc": expected_auc(p_cvr, cvr),
            "ctcvr_auc": auc(converted, ctr * cvr),
            "ctcvr_expected_auc": expected_auc(p_ctr * p_cvr, ctr * cvr),
        }
        for name, (ctr, cvr) in pairs.items()
    }


def table(result: dict[str, dict[str, float]]) -> str:
    """A Markdown table of the scorers' AUCs."""
    rows = [
        f"| {name} | {m['cvr_expected_auc']:.4f} | {m['ctcvr_auc']:.4f} "
        f"| {m['ctcvr_expected_auc']:.4f} |"
        for name, m in result.items()
    ]
    head = "| scored with | CVR E[AUC] | CTCVR AUC | CTCVR E[AUC] |\n|---|---:|---:|---:|"
    return "\n".join([head, *rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="a directory written by `adrank synth` (with conversions)")
    parser.add_argument("--run", type=Path, help="a run trained on it, scored beside")
    args = parser.parse_args()
    log = load_source(args.data, DEFAULT_CACHE, False)
    split = split_for(log, "standard", 0)
    world = load_world(args.data)
    rows = ceilings(log, split, world)
    rows["logistic regression on the visible terms"] = logistic_row(log, split, world)
    if args.run is not None:
        rows |= run_rows(args.run, log, split)
    print(table(rows))


if __name__ == "__main__":
    main()
