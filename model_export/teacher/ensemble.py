"""A teacher of another shape: the mean click logit of several trained runs (an ensemble).

Runs of the same recipe trained with different seeds make partly different errors; their
mean logit ranks better than each alone, and costs as many forward passes as it has
members — too many to serve, cheap to label with. It labels the same pairs as the
cross-encoder (logged training impressions and unshown (user, ad) pairs) into the same
``soft_labels.npz``, so ``adrank train --teacher DIR`` distils either.
"""

import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from model_export.data.clicklog import ClickLog
from model_export.teacher.base import StudentLogits
from model_export.teacher.labels import SOFT_LABELS, SoftLabels, log_fingerprint, unshown_partners
from model_export.teacher.run import SUMMARY_FILE, dumps, metrics_on_test, sample_rows


def ensemble_teacher(
    log: ClickLog,
    split: np.ndarray,
    runs: list[Path],
    label_rows: int | None,
    seed: int,
    out: Path,
) -> dict[str, Any]:
    """Label with the mean logit of ``runs`` into ``out``; its summary (``teacher.json``)."""
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    members = [StudentLogits(r, log, split) for r in tqdm(runs, desc="ensemble members")]
    feats = members[0].feats
    rng = np.random.default_rng([seed, 7])
    train = feats.rows("train")
    rows = sample_rows(train, label_rows, rng)
    partners = unshown_partners(feats.ad_text, train, rows, rng)
    logged, shown = feats.row[rows], feats.row[partners]
    labels = SoftLabels(
        row=logged,
        logit=_mean([m.logged(logged) for m in members]),
        pair_ad_row=shown,
        pair_logit=_mean([m.unshown(logged, shown) for m in members]),
        log=log_fingerprint(log, split),
    )
    labels.save(out / SOFT_LABELS)
    test = [m.logged(feats.row[feats.rows("test")]) for m in members]
    summary = {
        "ensemble": [str(r) for r in runs],
        "labelled_rows": len(rows),
        "label_seconds": round(time.perf_counter() - started, 1),
        "test": metrics_on_test(feats, _mean(test)),
        "members_test": [metrics_on_test(feats, t) for t in test],
    }
    (out / SUMMARY_FILE).write_bytes(dumps(summary))
    return summary


def _mean(logits: list[np.ndarray]) -> np.ndarray:
    return np.stack(logits).mean(axis=0, dtype=np.float32)
