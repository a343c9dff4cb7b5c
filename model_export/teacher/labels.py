"""The teacher's soft labels: click logits of logged training impressions and of (user, ad)
pairs the log never showed, saved for the student's distillation (``train/distill.py``).

Rows are named by their position in the click log, so a student featurising the same log
finds them whatever it keeps; an unshown pair is a logged row's user, history and context
with the ad of another training row.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SOFT_LABELS = "soft_labels.npz"


@dataclass(frozen=True)
class SoftLabels:
    row: np.ndarray  # (N,) int64: log positions of labelled impressions
    logit: np.ndarray  # (N,) float32: the teacher's click logit of each
    pair_ad_row: np.ndarray  # (N,) int64: log position of the row whose ad ``row``'s user is
    # shown in its unshown pair
    pair_logit: np.ndarray  # (N,) float32: the teacher's logit of that pair

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, row=self.row, logit=self.logit, pair_ad_row=self.pair_ad_row,
                 pair_logit=self.pair_logit)  # fmt: skip
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "SoftLabels":
        with np.load(path) as data:
            return cls(data["row"], data["logit"], data["pair_ad_row"], data["pair_logit"])


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
