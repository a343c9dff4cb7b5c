"""Evaluation protocols: which impressions train, validate and test a model.

Each protocol is a pure function of the click log returning one label per impression row
(``"train"``, ``"valid"``, ``"test"``, and for the cold-item protocol also ``"unused"``), so
every model and baseline is trained and scored on exactly the same rows.

* ``standard_split`` — by global time: the last 10% of impressions are test, the 10% before
  them validation (the MovieLens benchmark protocol; ties in time keep file order).
* ``cold_start_mask`` — the test rows whose ad never appears in training: the natural cold
  start of the standard split (small on MovieLens: about 150 rows).
* ``cold_item_split`` — a larger, deliberate cold start: a seeded 20% of the ads are withheld
  from training entirely and evaluated in the last 20% of time.
"""

import numpy as np
import pandas as pd

from model_export.data.clicklog import ClickLog, split_by_time

VALID_FRAC = 0.1
TEST_FRAC = 0.1
UNUSED = "unused"


def standard_split(log: ClickLog) -> np.ndarray:
    """Labels per impression: the last 10% by time test, the 10% before validation."""
    return split_by_time(log.impressions, VALID_FRAC, TEST_FRAC)


def cold_start_mask(impressions: pd.DataFrame, split: np.ndarray) -> np.ndarray:
    """Boolean per row: a test row whose ad has no impression among the training rows."""
    train_ads = impressions["ad_id"].to_numpy()[split == "train"]
    seen = impressions["ad_id"].isin(pd.unique(train_ads)).to_numpy()
    return (split == "test") & ~seen


def withheld_ads(ad_ids: pd.Series, seed: int, withheld_frac: float) -> np.ndarray:
    """A seeded ``withheld_frac`` of the distinct ad ids (drawn from their sorted list, so the
    choice depends only on the ids and the seed, not on row order)."""
    distinct = np.sort(pd.unique(ad_ids).astype(str))
    rng = np.random.default_rng(seed)
    return rng.choice(distinct, size=round(len(distinct) * withheld_frac), replace=False)


def cold_item_split(
    log: ClickLog,
    seed: int = 0,
    withheld_frac: float = 0.2,
    *,
    test_time_frac: float = 0.2,
    valid_frac: float = 0.1,
) -> np.ndarray:
    """Labels per impression for the cold-item protocol.

    A seeded ``withheld_frac`` of the ads is withheld from training entirely. Time is cut by
    rows like ``standard_split``: the last ``test_time_frac`` of impressions (by time) is the
    test window, the rest the training window. The other ads' impressions in the training window
    are ``"train"``, except the last ``valid_frac`` of them (by time), which are ``"valid"``;
    the withheld ads' impressions in the test window are ``"test"``; everything else (withheld
    ads early, other ads late) is ``"unused"``.

    Behaviour histories still draw on all earlier events, withheld items included: that is
    the user's real past (a new ad arrives; users have interacted with other new things
    before), and no label of a test row leaks through it, since history is strictly earlier.
    """
    impressions = log.impressions
    withheld = impressions["ad_id"].isin(withheld_ads(impressions["ad_id"], seed, withheld_frac))
    withheld_rows = withheld.to_numpy()
    late = split_by_time(impressions, 0.0, test_time_frac) == "test"
    labels = np.full(len(impressions), UNUSED, dtype=object)
    labels[withheld_rows & late] = "test"
    warm_early = np.flatnonzero(~withheld_rows & ~late)
    tail = split_by_time(impressions.iloc[warm_early], 0.0, valid_frac) == "test"
    labels[warm_early] = np.where(tail, "valid", "train")
    return labels
