"""How far the training labels can take a model of a synthetic log: logistic regressions fitted
to the training rows' 0/1 labels with the truth's own feature forms, scored on the test split.

    .venv/bin/python -m model_export.evaluate.label_ceiling data/synth-default --run runs/default

The synthetic truth is a sum of known terms (``synth_truth``): log1p of the fine-topic and
vertical counts, the offer phrase, a per-ad quality, and context effects (device × slot, hour,
position, age band × vertical). A regression that is handed those forms (the counts recomputed
from the hidden topics, the offer, the ad id for quality, the context crosses) and learns only
their weights from the labels shows what the labels allow; dropping one form shows what it is
worth. With ``--run`` the same regressions use the run's gate masses (each gate's attention
weights summed over the history, log1p) in place of the true counts: the part of the gap that
lies in reading the counts from text, and the part in learning the rest; and regressions on
the run's own logit plus one true form at a time show which part of the truth the run misses.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from model_export.data.clicklog import CONTEXT_PREFIX, ClickLog
from model_export.data.synth import SynthConfig, affinity_counts
from model_export.evaluate.metrics import auc
from model_export.evaluate.truth_ablation import auc_table, offer_effects, synth_cli
from model_export.train.arrays import featurise, subset
from model_export.train.run import load_run
from model_export.train.trainer import gate_masses, predict

Blocks = dict[str, sp.csr_matrix]
COUNTS = ("fine-topic count", "vertical count")
TRUE_FORMS = (*COUNTS, "offer", "ad id", "context")  # the blocks of ``truth_forms``


def one_hot(values: np.ndarray) -> sp.csr_matrix:
    codes, uniques = pd.factorize(pd.Series(values).astype(str))
    rows = np.arange(len(codes))
    return sp.csr_matrix((np.ones(len(codes)), (rows, codes)), shape=(len(codes), len(uniques)))


def truth_forms(log: ClickLog, history_len: int) -> Blocks:
    """Per impression, the truth's terms in their true form (sparse blocks by name)."""
    imps = log.impressions
    k_topic, k_vert = affinity_counts(log, history_len)
    ctx = {f: imps[CONTEXT_PREFIX + f].astype(str).to_numpy()
           for f in ("device", "slot", "hour", "position", "age_band")}  # fmt: skip
    vertical = log.ads.set_index("ad_id")["category"].reindex(imps["ad_id"]).to_numpy(dtype=str)
    return {
        "fine-topic count": _log1p_column(k_topic),
        "vertical count": _log1p_column(k_vert),
        "offer": one_hot(np.round(offer_effects(log), 4)),
        "ad id": one_hot(imps["ad_id"].to_numpy()),
        "context": sp.hstack([
            one_hot(ctx["device"] + "/" + ctx["slot"]), one_hot(ctx["hour"]),
            one_hot(ctx["position"]), one_hot(ctx["age_band"] + "/" + vertical),
        ]).tocsr(),
    }  # fmt: skip


def _log1p_column(values: np.ndarray) -> sp.csr_matrix:
    return sp.csr_matrix(np.log1p(values.astype(float))[:, None])


def run_outputs(run_dir: Path, log: ClickLog, split: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per impression of the train and test splits (zeros elsewhere): the run's pCTR (n,) and
    log1p of each gate's mass (n, gates)."""
    run = load_run(run_dir)
    feats, _ = featurise(log, split, run.cfg.history_len, run.cfg.prior_alpha, run.spec)
    source = run.text_source(feats)
    p_ctr = np.zeros(len(split))
    mass = np.zeros((len(split), run.cfg.head.attention_heads))
    for part in ("train", "test"):
        f = subset(feats, feats.rows(part))
        p_ctr[split == part] = predict(run.model, source, f)
        mass[split == part] = np.log1p(gate_masses(run.model, source, f))
    return p_ctr, mass


def fitted_auc(blocks: Blocks, names: Sequence[str], y: np.ndarray, split: np.ndarray) -> float:
    """Test AUC of an L2 logistic regression on ``names`` fitted to the training rows."""
    x = sp.hstack([blocks[n] for n in names]).tocsr()
    train, test = split == "train", split == "test"
    model = LogisticRegression(C=0.1, max_iter=3000).fit(x[train], y[train])
    return auc(y[test], model.decision_function(x[test]))


def ceiling(
    log: ClickLog, split: np.ndarray, cfg: SynthConfig, run_dir: Path | None = None
) -> dict[str, float]:
    """Test AUC of the oracle, of regressions on the truth's forms, and (``run_dir``) of the
    run and of regressions on its gate masses."""
    y = log.impressions["label"].to_numpy()
    blocks = truth_forms(log, cfg.history_len)
    test = split == "test"
    result = {"oracle (true probability)": auc(y[test], log.impressions["p_true"].to_numpy()[test])}
    result["regression: true counts, offer, ad id, context"] = fitted_auc(
        blocks, TRUE_FORMS, y, split
    )
    for left_out in ("ad id", "offer"):
        names = [n for n in TRUE_FORMS if n != left_out]
        result[f"regression: ... without the {left_out}"] = fitted_auc(blocks, names, y, split)
    if run_dir is not None:
        p_ctr, mass = run_outputs(run_dir, log, split)
        blocks["gate masses"] = sp.csr_matrix(mass)
        result["the run"] = auc(y[test], p_ctr[test])
        with_masses = ["gate masses", "offer", "ad id", "context"]
        result["regression: the run's gate masses, offer, ad id, context"] = fitted_auc(
            blocks, with_masses, y, split
        )
        result["regression: the run's gate masses, context"] = fitted_auc(
            blocks, ["gate masses", "context"], y, split
        )
        result.update(missed_by_run(blocks, p_ctr, y, split))
    return result


def missed_by_run(
    blocks: Blocks, p_ctr: np.ndarray, y: np.ndarray, split: np.ndarray
) -> dict[str, float]:
    """Test AUC of regressions on the run's logit plus one true form at a time: what the
    run leaves of each part of the truth (a form it has learned adds nothing)."""
    p = np.clip(p_ctr, 1e-7, 1 - 1e-7)
    blocks = {**blocks, "logit": sp.csr_matrix(np.log(p / (1 - p))[:, None])}
    return {
        f"regression: the run's logit + {form}": fitted_auc(blocks, ["logit", form], y, split)
        for form in TRUE_FORMS
    }


def main() -> None:
    log, split, run = synth_cli(__doc__, "also use this run's gate masses")
    print(auc_table(ceiling(log, split, SynthConfig(), run)))


if __name__ == "__main__":
    main()
