"""The in-memory click log every data source turns into, and its split by time.

On disk (the documented input format, one JSON object per line, UTF-8):

``ads.jsonl``          ``{"ad_id": str, "title": str, "description": str?, "category": str?}``
``events.jsonl``       ``{"user_id": str, "item_id": str, "text": str, "type": str, "ts": int}``
                       behaviour: what the user clicked or viewed (``type``: click, view, ...)
``impressions.jsonl``  ``{"user_id": str, "ad_id": str, "ts": int, "label": 0|1,
                       "context": {field: str|int, ...}?, "p_true": float?,
                       "converted": 0|1?, "conversion_ts": int?}``
``users.jsonl``        optional ``{"user_id": str, "attributes": {name: str|int}}``; attributes
                       join each impression's context (the impression's own values win)

Timestamps are unix seconds. ``p_true`` is the true click probability where it is known
(synthetic data), so evaluation can report the oracle. ``converted`` says whether a click
converted (by the time the log was cut: its latest timestamp), ``conversion_ts`` when; a log
whose impressions carry no ``converted`` has no conversions, and a conversion task is then off.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

ADS_FILE = "ads.jsonl"
EVENTS_FILE = "events.jsonl"
IMPRESSIONS_FILE = "impressions.jsonl"
USERS_FILE = "users.jsonl"
CONTEXT_PREFIX = "ctx_"

AD_COLUMNS = ["ad_id", "title", "description", "category"]
EVENT_COLUMNS = ["user_id", "item_id", "text", "type", "ts"]
IMPRESSION_COLUMNS = ["user_id", "ad_id", "ts", "label", "p_true"]
CONVERSION_COLUMNS = ["converted", "conversion_ts"]  # only in logs with conversions


@dataclass
class ClickLog:
    """Ads, behaviour events and impressions of one data set.

    ``impressions`` has the columns of ``IMPRESSION_COLUMNS`` (``p_true`` NaN where unknown)
    plus one ``ctx_<field>`` column per context field (None where a row lacks it); a log with
    conversions also has ``CONVERSION_COLUMNS``: ``converted`` (Int8) and ``conversion_ts``
    (Int64), NA where unknown or, for the time, where nothing converted.
    """

    name: str
    ads: pd.DataFrame
    events: pd.DataFrame
    impressions: pd.DataFrame
    context_fields: list[str] = field(default_factory=list)

    def context_column(self, name: str) -> str:
        return CONTEXT_PREFIX + name

    @property
    def has_conversions(self) -> bool:
        """Whether any impression carries a conversion label (else a CVR task is off)."""
        converted = self.impressions.get("converted")
        return converted is not None and bool(converted.notna().any())

    @property
    def cut_ts(self) -> int:
        """When the log was cut: its latest timestamp, of an impression or a conversion (a
        conversion later than this cannot be in it yet)."""
        latest = [int(self.impressions["ts"].max())] if len(self.impressions) else [0]
        if self.has_conversions:
            latest.append(int(self.impressions["conversion_ts"].max()))
        return max(latest)

    def summary(self) -> dict[str, object]:
        imps = self.impressions
        summary: dict[str, object] = {
            "name": self.name,
            "ads": len(self.ads),
            "events": len(self.events),
            "impressions": len(imps),
            "users": int(imps["user_id"].nunique()),
            "ctr": float(imps["label"].mean()) if len(imps) else 0.0,
            "context_fields": list(self.context_fields),
        }
        if self.has_conversions:
            summary.update(conversion_summary(imps))
        return summary


def conversion_summary(impressions: pd.DataFrame) -> dict[str, object]:
    """Conversions, and their rate among the clicks whose conversion label is known."""
    known = impressions["converted"].notna().to_numpy() & (impressions["label"] == 1).to_numpy()
    conversions = int(impressions["converted"].sum())
    return {"conversions": conversions, "cvr": conversions / max(int(known.sum()), 1)}


SPLITS = ("train", "valid", "test")


def split_by_time(impressions: pd.DataFrame, valid_frac: float, test_frac: float) -> np.ndarray:
    """Split labels per row: the last ``test_frac`` of rows by time are test, the
    ``valid_frac`` before them validation, the rest train (ties keep file order)."""
    n = len(impressions)
    order = np.argsort(impressions["ts"].to_numpy(), kind="stable")
    n_test = round(n * test_frac)
    n_valid = round(n * valid_frac)
    labels = np.full(n, "train", dtype=object)
    labels[order[n - n_test :]] = "test"
    labels[order[n - n_test - n_valid : n - n_test]] = "valid"
    return labels
