"""What drives the synthetic click truth: the oracle's AUC with parts of its logit taken out.

    .venv/bin/python -m model_export.evaluate.truth_ablation data/synth-default

Synthetic logs keep each ad's and each behaviour item's fine topic (models never see it: they
read text). From them ``affinity_counts`` recomputes the affinity term of ``synth_truth``
(with the generator's default weights) on the test split, and the rows are scored with the
true logit minus a term: how much of the oracle's AUC each part of the truth carries (the
fine topic is the part only text reveals).

With ``--run RUN_DIR`` it also scores the true logit with the run's gate mass (its attention
weights summed over the history; the model's attention output averages its gates) in place of
the true fine-topic count: how well the model's gates count the items that match.

    .venv/bin/python -m model_export.evaluate.truth_ablation data/synth-default --run runs/default
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from model_export.data.clicklog import ClickLog
from model_export.data.sources import load_source, split_for
from model_export.data.synth import SynthConfig, affinity_counts
from model_export.data.synth_text import OFFERS
from model_export.evaluate.metrics import auc
from model_export.train.arrays import featurise, subset
from model_export.train.run import DEFAULT_CACHE, load_run
from model_export.train.trainer import gate_masses


def ablation(
    log: ClickLog, split: np.ndarray, cfg: SynthConfig, gate_mass: np.ndarray | None = None
) -> dict[str, float]:
    """Test AUC of the true logit, whole and with parts taken out (and with ``gate_mass``,
    per test row, in place of the fine-topic count)."""
    test = split == "test"
    k_topic, k_vert = (k[test] for k in affinity_counts(log, cfg.history_len))
    y = log.impressions["label"].to_numpy()[test]
    p = log.impressions["p_true"].to_numpy(dtype=np.float64)[test]
    logit = np.log(p / (1 - p))
    topic = cfg.topic_weight * np.log1p(k_topic)
    affinity = topic + cfg.vertical_weight * np.log1p(k_vert)
    as_vertical = cfg.vertical_weight * np.log1p(k_topic + k_vert)
    offer = offer_effects(log)[test]
    result = {
        "oracle (whole truth)": auc(y, logit),
        "without the fine-topic term": auc(y, logit - topic),
        "fine topic counted as the vertical": auc(y, logit - affinity + as_vertical),
        "without affinity (context, offer, quality)": auc(y, logit - affinity),
        "affinity alone": auc(y, affinity),
        "without the offer term": auc(y, logit - offer),
    }
    if gate_mass is not None:
        as_gates = logit - topic + cfg.topic_weight * np.log1p(gate_mass)
        result["the model's gate mass as the fine-topic count"] = auc(y, as_gates)
    return result


def run_gate_mass(run_dir: Path, log: ClickLog, split: np.ndarray) -> np.ndarray:
    """Per test row, the run's gate masses (attention weights summed over the history)
    averaged over its gates."""
    run = load_run(run_dir)
    feats, _ = featurise(log, split, run.cfg.history_len, run.cfg.prior_alpha, run.spec)
    test = subset(feats, feats.rows("test"))
    return gate_masses(run.model, run.text_source(feats), test).mean(1)


def offer_effects(log: ClickLog) -> np.ndarray:
    """The true logit effect of each impression's offer, read from its ad's description
    (every synthetic description starts with its offer phrase)."""
    descriptions = log.ads.set_index("ad_id")["description"]
    effect = np.zeros(len(descriptions))
    for offer in OFFERS:
        effect[descriptions.str.startswith(offer.phrase).to_numpy()] = offer.effect
    per_ad = pd.Series(effect, index=descriptions.index)
    return per_ad.reindex(log.impressions["ad_id"]).to_numpy()


def synth_cli(doc: str, run_help: str) -> tuple[ClickLog, np.ndarray, Path | None]:
    """The command line of a synthetic-log analysis: ``DATA [--run RUN]`` → the log, its
    standard split and the run directory."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("data", help="a directory written by `adrank synth`")
    parser.add_argument("--run", type=Path, help=run_help)
    args = parser.parse_args()
    log = load_source(args.data, DEFAULT_CACHE, False)
    return log, split_for(log, "standard", 0), args.run


def main() -> None:
    log, split, run = synth_cli(__doc__, "also score with this run's gate mass")
    mass = run_gate_mass(run, log, split) if run else None
    result = ablation(log, split, SynthConfig(), mass)
    print(auc_table(result))


def auc_table(result: dict[str, float]) -> str:
    """A Markdown table of test AUCs by what scored them."""
    rows = [f"| {name} | {value:.4f} |" for name, value in result.items()]
    return "\n".join(["| scored with | test AUC |", "|---|---:|", *rows])


if __name__ == "__main__":
    main()
