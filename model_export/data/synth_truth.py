"""The known click truth of the synthetic platform, defined only on what the model observes.

``logit = base + offer + quality + affinity + context`` where

- ``offer``: effect of the offer phrase in the ad's description (``synth_text.OFFERS``);
- ``quality``: a small per-ad latent (learnable from the ad's id and click history when warm);
- ``affinity = a·log1p(k_topic) + b·log1p(k_vert)``: ``k_topic`` counts the user's last H
  behaviour events strictly before the impression whose fine topic is the ad's, ``k_vert``
  those of the ad's vertical but another topic (the exact events ``history_index`` gives the
  model; the fine topic shows only in text);
- ``context``: device × slot, an hour-of-day curve, a position bias, age band × vertical;
- ``base`` is solved so the mean click probability equals the configured CTR.

``ClickTruth`` holds what the formula draws once (age band × vertical effects) and solves once
(``base``); it gives the probability of any impression, logged or not (``synth_world``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm import tqdm

from model_export.data.synth_text import OFFERS
from model_export.train.history import history_index

if TYPE_CHECKING:
    from model_export.data.synth import SynthConfig
    from model_export.data.synth_sampling import Ads, Impressions

DEVICES = ("mobile", "desktop", "tablet")
DEVICE_SHARE = (0.6, 0.3, 0.1)
SLOTS = ("feed", "search", "sidebar", "in_article")
SLOT_SHARE = (0.45, 0.2, 0.2, 0.15)
POSITION_SHARE = (0.3, 0.22, 0.15, 0.11, 0.08, 0.06, 0.05, 0.03)  # positions 1..8
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
AGE_SHARE = (0.18, 0.3, 0.24, 0.16, 0.12)
GENDERS = ("f", "m", "x")
GENDER_SHARE = (0.48, 0.48, 0.04)
COUNTRIES = ("us", "gb", "de", "fr", "in", "br", "jp", "ca", "au", "es")
COUNTRY_SHARE = (0.3, 0.1, 0.1, 0.08, 0.12, 0.08, 0.07, 0.06, 0.05, 0.04)
# traffic share per UTC hour: quiet nights, a lunch bump and an evening peak
HOUR_TRAFFIC = np.array(
    [2, 1.2, 0.8, 0.6, 0.6, 0.8, 1.5, 2.5, 3.5, 4, 4.2, 4.5,
     5, 4.8, 4.3, 4.2, 4.4, 4.8, 5.5, 6.3, 6.8, 6.5, 5, 3.2]
)  # fmt: skip
HOUR_TRAFFIC = HOUR_TRAFFIC / HOUR_TRAFFIC.sum()
# click logit effect per (device, slot): rows DEVICES, columns SLOTS
DEVICE_SLOT_EFFECT = np.array(
    [[0.25, 0.10, -0.45, 0.00], [-0.10, 0.35, -0.20, -0.05], [0.15, 0.00, -0.30, 0.10]]
)
AGE_VERTICAL_STD = 0.15
OFFER_EFFECT = np.array([o.effect for o in OFFERS])  # by offer code


def hour_effect(hour: np.ndarray) -> np.ndarray:
    """Click logit effect of the hour of day: highest in the evening, lowest before dawn."""
    return 0.2 * np.cos(2 * np.pi * (hour - 20) / 24)


def position_effect(position: np.ndarray) -> np.ndarray:
    """Click logit effect of the 1-based slot position: decreasing with position."""
    return -0.4 * np.log(position)


def context_effect(
    ctx: dict[str, np.ndarray], ad_vertical: np.ndarray, age_vertical: np.ndarray
) -> np.ndarray:
    """Sum of context effects; ``ctx`` holds code arrays hour, device, slot, position, age."""
    return (
        DEVICE_SLOT_EFFECT[ctx["device"], ctx["slot"]]
        + hour_effect(ctx["hour"])
        + position_effect(ctx["position"])
        + age_vertical[ctx["age"], ad_vertical]
    )


def affinity(k_topic: np.ndarray, k_vert: np.ndarray, a: float, b: float) -> np.ndarray:
    return a * np.log1p(k_topic) + b * np.log1p(k_vert)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def calibrate_base(logit: np.ndarray, target_ctr: float, iters: int = 60) -> float:
    """The ``base`` with ``mean(sigmoid(base + logit)) == target_ctr`` (bisection)."""
    lo, hi = -20.0, 20.0
    for _ in range(iters):
        mid = (lo + hi) / 2
        if sigmoid(mid + logit).mean() < target_ctr:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@dataclass(frozen=True)
class ClickTruth:
    """The click truth's own parameters: the random age band × vertical effects, the affinity
    weights and the calibrated ``base``; the rest it reads from the ads and impressions."""

    age_vertical: np.ndarray  # (age bands, verticals): click logit effects
    topic_weight: float
    vertical_weight: float
    base: float = 0.0

    def logit(
        self, ads: Ads, imps: Impressions, k_topic: np.ndarray, k_vert: np.ndarray
    ) -> np.ndarray:
        """The click logit of each impression without ``base``."""
        ad_vertical = ads.vertical[imps.ad]
        return (
            affinity(k_topic, k_vert, self.topic_weight, self.vertical_weight)
            + OFFER_EFFECT[ads.offer[imps.ad]]
            + ads.quality[imps.ad]
            + context_effect(imps.context(), ad_vertical, self.age_vertical)
        )

    def probability(
        self, ads: Ads, imps: Impressions, k_topic: np.ndarray, k_vert: np.ndarray
    ) -> np.ndarray:
        """The true click probability of each impression."""
        return sigmoid(self.base + self.logit(ads, imps, k_topic, k_vert))


def make_click_truth(
    rng: np.random.Generator,
    config: SynthConfig,
    n_verticals: int,
    ads: Ads,
    imps: Impressions,
    k_topic: np.ndarray,
    k_vert: np.ndarray,
) -> ClickTruth:
    """Draws the age band × vertical effects and solves ``base`` on the logged impressions."""
    age_vertical = rng.normal(0.0, AGE_VERTICAL_STD, (len(AGE_BANDS), n_verticals))
    truth = ClickTruth(age_vertical, config.topic_weight, config.vertical_weight)
    base = calibrate_base(truth.logit(ads, imps, k_topic, k_vert), config.target_ctr)
    return replace(truth, base=base)


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def topic_counts(
    events: pd.DataFrame,
    impressions: pd.DataFrame,
    history_len: int,
    chunk: int = 200_000,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``(k_topic, k_vert)`` per impression over its last ``history_len`` earlier events.

    ``events``: user_id, ts, topic, vertical (codes); ``impressions``: user_id, ts, topic,
    vertical of the ad shown. Histories are exactly ``history_index``'s.
    """
    ev_topic, ev_vert = events["topic"].to_numpy(), events["vertical"].to_numpy()
    n = len(impressions)
    k_topic, k_vert = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    # by user and time: the searches and gathers then walk memory in order
    order = np.lexsort((impressions["ts"].to_numpy(), impressions["user_id"].to_numpy()))
    parts = list(_chunks(n, chunk))
    for part in tqdm(parts, desc="synth: affinity", disable=not progress or len(parts) < 2):
        rows = order[part]
        imps = impressions.iloc[rows]
        idx = history_index(events, imps, history_len)
        valid = idx >= 0
        safe = np.where(valid, idx, 0)
        same_topic = valid & (ev_topic[safe] == imps["topic"].to_numpy()[:, None])
        same_vert = valid & (ev_vert[safe] == imps["vertical"].to_numpy()[:, None])
        k_topic[rows] = same_topic.sum(axis=1)
        k_vert[rows] = (same_vert & ~same_topic).sum(axis=1)
    return k_topic, k_vert
