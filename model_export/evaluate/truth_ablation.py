"""What drives the synthetic click truth: the oracle's AUC with parts of its logit taken out.

    .venv/bin/python -m model_export.evaluate.truth_ablation data/synth-default

Synthetic logs keep each ad's and each behaviour item's fine topic (models never see it: they
read text). From them ``affinity_counts`` recomputes the affinity term of ``synth_truth``
(with the generator's default weights) on the test split, and the rows are scored with the
true logit minus a term: how much of the oracle's AUC each part of the truth carries (the
fine topic is the part only text reveals).
"""

import argparse

import numpy as np

from model_export.data.clicklog import ClickLog
from model_export.data.sources import load_source, split_for
from model_export.data.synth import SynthConfig, affinity_counts
from model_export.evaluate.metrics import auc
from model_export.train.run import DEFAULT_CACHE


def ablation(log: ClickLog, split: np.ndarray, cfg: SynthConfig) -> dict[str, float]:
    """Test AUC of the true logit, whole and with parts taken out."""
    test = split == "test"
    k_topic, k_vert = (k[test] for k in affinity_counts(log, cfg.history_len))
    y = log.impressions["label"].to_numpy()[test]
    p = log.impressions["p_true"].to_numpy(dtype=np.float64)[test]
    logit = np.log(p / (1 - p))
    topic = cfg.topic_weight * np.log1p(k_topic)
    affinity = topic + cfg.vertical_weight * np.log1p(k_vert)
    as_vertical = cfg.vertical_weight * np.log1p(k_topic + k_vert)
    return {
        "oracle (whole truth)": auc(y, logit),
        "without the fine-topic term": auc(y, logit - topic),
        "fine topic counted as the vertical": auc(y, logit - affinity + as_vertical),
        "without affinity (context, offer, quality)": auc(y, logit - affinity),
        "affinity alone": auc(y, affinity),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="a directory written by `adrank synth`")
    args = parser.parse_args()
    log = load_source(args.data, DEFAULT_CACHE, False)
    result = ablation(log, split_for(log, "standard", 0), SynthConfig())
    print("| scored with | test AUC |\n|---|---:|")
    print("\n".join(f"| {name} | {value:.4f} |" for name, value in result.items()))


if __name__ == "__main__":
    main()
