"""The synthetic platform's truth for any impression, logged or not: ``SynthWorld``.

``synth.synthesize_world(config)`` returns the click log and the world that made it: the
catalog, ads, users and their attributes, behaviour events, and the parameters the two truths
drew or solved once (``synth_truth.ClickTruth``: age band × vertical effects and the calibrated
base; ``synth_conversion.ConversionTruth``: merchants, per-user intent, the calibrated base).
``SynthWorld.truth(frame)`` answers "what if this user, at this time and in this context, had
been shown that ad": the true click and conversion probability of each row, computed by the
same code that gave the log its ``p_true`` and ``p_cvr_true``. The affinity counts come from
the user's last ``history_len`` behaviour events strictly before the row's ``ts``.

``adrank synth --out DIR`` writes ``DIR/synth_config.json`` (``write_config``) next to the log;
``load_world(DIR)`` regenerates the world from it (deterministic per seed) and refuses a
directory whose log is not the one the config makes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import orjson
import pandas as pd

from model_export.data.clicklog import ADS_FILE, CONTEXT_PREFIX, IMPRESSIONS_FILE
from model_export.data.synth_sampling import Ads, Catalog, Events, Impressions, Users
from model_export.data.synth_truth import (
    AGE_BANDS,
    DEVICES,
    SLOTS,
    ClickTruth,
    topic_counts,
)

if TYPE_CHECKING:
    from model_export.data.synth import SynthConfig
    from model_export.data.synth_conversion import ConversionTruth

CONFIG_FILE = "synth_config.json"
# context columns the truth reads (hour comes from ts, the age band from the user)
REQUIRED_COLUMNS = ("user_id", "ad_id", "ts", "ctx_device", "ctx_slot", "ctx_position")


def event_topics(catalog: Catalog, events: Events) -> pd.DataFrame:
    """The behaviour events as codes: ``user_id``, ``ts``, ``topic``, ``vertical`` (what
    ``topic_counts`` reads)."""
    return pd.DataFrame(
        {"user_id": events.user, "ts": events.ts, "topic": events.topic,
         "vertical": catalog.topic_vertical[events.topic]}
    )  # fmt: skip


def impression_affinity(
    history: pd.DataFrame, ads: Ads, imps: Impressions, history_len: int, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``(k_topic, k_vert)`` of every impression over the events of ``history``
    (``event_topics``): what the click and conversion truths read."""
    im = pd.DataFrame(
        {"user_id": imps.user, "ts": imps.ts, "topic": ads.topic[imps.ad],
         "vertical": ads.vertical[imps.ad]}
    )  # fmt: skip
    return topic_counts(history, im, history_len, progress=progress)


@dataclass(frozen=True)
class SynthWorld:
    """Everything ``synthesize`` drew or solved that the click and conversion truths read."""

    config: SynthConfig
    catalog: Catalog
    users: Users
    ads: Ads
    events: Events
    history: pd.DataFrame  # ``event_topics(catalog, events)``
    user_ids: pd.Index  # user code -> the log's user_id
    ad_ids: pd.Index  # ad code -> the log's ad_id
    click: ClickTruth
    conversion: ConversionTruth | None  # None without conversions (``cvr_mean`` 0)

    def truth(
        self, impressions: pd.DataFrame, progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """The true ``(p_ctr, p_cvr)`` of each row of a frame with the log's impression
        columns: ``user_id``, ``ad_id``, ``ts``, ``ctx_device``, ``ctx_slot``,
        ``ctx_position`` (further ``ctx_*`` columns may be there; ``ctx_hour``,
        ``ctx_weekday`` and ``ctx_age_band`` must then agree with ``ts`` and the user, which
        the truth reads them from). ``p_cvr`` is the conversion probability of a click, NaN
        throughout in a world without conversions.

        Raises ``ValueError`` on unknown users, ads or context values, or a disagreeing
        context.
        """
        imps = self.impressions(impressions)
        k_topic, k_vert = impression_affinity(
            self.history, self.ads, imps, self.config.history_len, progress
        )
        p_ctr = self.click.probability(self.ads, imps, k_topic, k_vert)
        if self.conversion is None:
            return p_ctr, np.full(len(p_ctr), np.nan)
        return p_ctr, self.conversion.probability(self.ads, imps, k_topic)

    def impressions(self, frame: pd.DataFrame) -> Impressions:
        """A frame's rows as the code arrays the truths read (see ``truth``)."""
        missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"impressions lack the column(s) {', '.join(missing)}")
        user = _codes(self.user_ids, frame["user_id"], "user_id")
        ts = frame["ts"].to_numpy(dtype=np.int64)
        position = frame["ctx_position"].to_numpy(dtype=np.int64)
        if (position < 1).any():
            raise ValueError(f"ctx_position must be 1 or more, got {position.min()}")
        age = self.users.attrs["age"][user]
        _agree(frame, "hour", (ts // 3600) % 24)
        _agree(frame, "weekday", (ts // 86_400 + 3) % 7)  # 1970-01-01 was a Thursday
        _agree(frame, "age_band", np.asarray(AGE_BANDS, dtype=object)[age])
        return Impressions(
            user=user,
            ts=ts,
            ad=_codes(self.ad_ids, frame["ad_id"], "ad_id"),
            device=_codes(pd.Index(DEVICES), frame["ctx_device"], "ctx_device"),
            slot=_codes(pd.Index(SLOTS), frame["ctx_slot"], "ctx_slot"),
            position=position,
            age=age,
        )


def _codes(index: pd.Index, values: pd.Series, name: str) -> np.ndarray:
    codes = index.get_indexer(values)
    unknown = codes < 0
    if unknown.any():
        raise ValueError(f"{name}: {int(unknown.sum()):,} row(s) with a value this world does "
                         f"not know, e.g. {values[unknown].iloc[0]!r}")  # fmt: skip
    return codes.astype(np.int64)


def _agree(frame: pd.DataFrame, field: str, expected: np.ndarray) -> None:
    """A context column the truth derives elsewhere must, when given, say the same."""
    column = CONTEXT_PREFIX + field
    if column not in frame.columns:
        return
    given = frame[column].to_numpy()
    if expected.dtype != object:
        given = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    wrong = given != expected
    if wrong.any():
        i = int(np.flatnonzero(wrong)[0])
        raise ValueError(f"{column}: {int(wrong.sum()):,} row(s) disagree with what the truth "
                         f"reads, e.g. row {i}: {frame[column].iloc[i]!r}, expected "
                         f"{expected[i]!r}")  # fmt: skip


# ---------------------------------------------------------------- the config on disk


def write_config(config: SynthConfig, out_dir: Path | str) -> Path:
    """``out_dir/synth_config.json``: the config as JSON (what ``load_world`` reads)."""
    path = Path(out_dir) / CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")
    return path


def read_config(data_dir: Path | str) -> SynthConfig:
    """The config ``write_config`` wrote to ``data_dir``."""
    from model_export.data.synth import SynthConfig  # synth imports this module

    path = Path(data_dir) / CONFIG_FILE
    if not path.exists():
        raise ValueError(f"{path} not found: only `adrank synth` output has a world to load")
    values = json.loads(path.read_text())
    known = {f.name for f in dataclasses.fields(SynthConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{path}: unknown field(s) {', '.join(unknown)}")
    return SynthConfig(**values)


def load_world(data_dir: Path | str, progress: bool | None = None) -> SynthWorld:
    """The world of the synthetic log in ``data_dir``, regenerated from its config
    (``progress``: tqdm bars, default as the config says).

    Raises ``ValueError`` when the directory has no config, or when the log the config makes
    is not the one on disk: other counts of ads, impressions or clicks, or other sums of
    ``p_true`` and ``p_true²`` (the sum alone is the calibrated CTR of every seed).
    """
    from model_export.data.synth import synthesize_world  # synth imports this module

    config = read_config(data_dir)
    if progress is not None:
        config = dataclasses.replace(config, progress=progress)
    log, world = synthesize_world(config)
    p_true = log.impressions["p_true"].to_numpy(dtype=np.float64)
    ours = LogFingerprint(len(log.ads), len(p_true), int(log.impressions["label"].sum()),
                          float(p_true.sum()), float((p_true**2).sum()))  # fmt: skip
    theirs = _log_fingerprint(Path(data_dir))
    if not ours.matches(theirs):
        raise ValueError(
            f"{data_dir}: the log on disk is not the one {CONFIG_FILE} makes (on disk {theirs}; "
            f"regenerated {ours}): written by another version of the generator, or edited"
        )
    return world


@dataclass(frozen=True)
class LogFingerprint:
    """What ``load_world`` compares between the log on disk and the regenerated one."""

    ads: int
    impressions: int
    clicks: int
    p_sum: float
    p_square_sum: float

    def matches(self, other: LogFingerprint) -> bool:
        counts = (self.ads, self.impressions, self.clicks)
        same_counts = counts == (other.ads, other.impressions, other.clicks)
        sums, other_sums = [self.p_sum, self.p_square_sum], [other.p_sum, other.p_square_sum]
        return same_counts and bool(np.allclose(sums, other_sums, rtol=1e-9, atol=0.0))

    def __str__(self) -> str:
        return (f"{self.ads:,} ads, {self.impressions:,} impressions, {self.clicks:,} clicks, "
                f"sum of p_true {self.p_sum:.9g}, of p_true² {self.p_square_sum:.9g}")  # fmt: skip


def _log_fingerprint(data_dir: Path) -> LogFingerprint:
    """The fingerprint of the log files in ``data_dir`` (one pass, no validation)."""
    for name in (ADS_FILE, IMPRESSIONS_FILE):
        if not (data_dir / name).exists():
            raise ValueError(f"{data_dir / name} not found")
    with (data_dir / ADS_FILE).open("rb") as f:
        n_ads = sum(1 for line in f if line.strip())
    n_imps, clicks, p_sum, p_square_sum = 0, 0, 0.0, 0.0
    with (data_dir / IMPRESSIONS_FILE).open("rb") as f:
        for line in f:
            if line.strip():
                row = orjson.loads(line)
                p = float(row.get("p_true", np.nan))
                n_imps, clicks = n_imps + 1, clicks + int(row.get("label", 0))
                p_sum, p_square_sum = p_sum + p, p_square_sum + p * p
    return LogFingerprint(n_ads, n_imps, clicks, p_sum, p_square_sum)
