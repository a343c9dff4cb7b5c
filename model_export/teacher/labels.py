"""The teacher's soft labels: click logits of logged training impressions and of (user, ad)
pairs the log never showed, saved for the student's distillation (``train/distill.py``).

Rows are named by their position in the click log, so a student featurising the same log
finds them whatever it keeps; an unshown pair is a logged row's user, history and context
with the ad of another training row. Positions mean something only in the log (and split)
they were made on: the labels carry its fingerprint, and a student on another log is
refused rather than taught wrong rows.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from model_export.data.clicklog import AD_COLUMNS, EVENT_COLUMNS, IMPRESSION_COLUMNS, ClickLog

SOFT_LABELS = "soft_labels.npz"


def log_fingerprint(log: ClickLog, split: np.ndarray) -> str:
    """What a position in ``log`` names: its impressions (who was shown which ad when, with
    which label), its ads' texts, its behaviour events and the split of its rows (sha256).

    Nothing else: a synthetic log's ads also carry its world's drawn parameters (quality,
    conversion delays), floats whose last bits follow the CPU's BLAS kernels, so the same
    ``adrank synth`` gives the same rows but other floats on another machine."""
    digest = hashlib.sha256()
    for frame in (
        log.impressions[IMPRESSION_COLUMNS[:4]],
        log.ads[AD_COLUMNS],
        log.events[EVENT_COLUMNS],
    ):
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update(pd.util.hash_array(np.asarray(split, dtype=object)).tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class SoftLabels:
    row: np.ndarray  # (N,) int64: log positions of labelled impressions
    logit: np.ndarray  # (N,) float32: the teacher's click logit of each
    pair_ad_row: np.ndarray  # (N,) int64: log position of the row whose ad ``row``'s user is
    # shown in its unshown pair
    pair_logit: np.ndarray  # (N,) float32: the teacher's logit of that pair
    log: str  # the labelled log's fingerprint (``log_fingerprint``)

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, row=self.row, logit=self.logit, pair_ad_row=self.pair_ad_row,
                            pair_logit=self.pair_logit, log=np.array(self.log))  # fmt: skip
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, fingerprint: str) -> "SoftLabels":
        """The labels at ``path``, if they were made on the log of ``fingerprint``."""
        with np.load(path) as data:
            made_on = str(data["log"]) if "log" in data else "a log it does not name"
            if made_on != fingerprint:
                raise ValueError(
                    f"{path} labels another log than this one (made on {made_on[:12]}, this "
                    f"is {fingerprint[:12]}): its rows would name other impressions. Label "
                    "this log with `adrank teacher`, or train without --teacher"
                )
            return cls(data["row"], data["logit"], data["pair_ad_row"], data["pair_logit"],
                       made_on)  # fmt: skip


def unshown_partners(ad_text: np.ndarray, pool: np.ndarray, rows: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """For each of ``rows`` a row of ``pool`` showing another ad (indices into ``ad_text``):
    the ad of a random training impression, so unshown ads come as often as ads are shown."""
    partners = pool[rng.integers(0, len(pool), len(rows))]
    for _ in range(8):  # redraw the few that drew the row's own ad
        same = ad_text[partners] == ad_text[rows]
        if not same.any():
            break
        partners[same] = pool[rng.integers(0, len(pool), int(same.sum()))]
    return partners
