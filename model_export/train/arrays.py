"""Click log → the arrays the model trains and evaluates on.

Uses the serving side's featurisation (service.features) for ad text, item text, context ids
and the ad prior, so training and serving cannot drift apart.
"""

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model_export.data.clicklog import ClickLog
from model_export.train.history import PAD, history_index
from service.features.context import ContextSpec, build_vocab
from service.features.price import price_features
from service.features.prior import ad_bucket, prior_features
from service.features.text import ad_text, item_text


@dataclass(frozen=True)
class FeatureSpec:
    """What serving needs to featurise like training did (goes into the bundle)."""

    context: ContextSpec
    id_buckets: int
    global_ctr: float
    prior_alpha: float
    ad_stats: pd.DataFrame  # index ad_id; columns clicks, impressions (training rows)
    global_cvr: float | None = None  # conversions per click of the training rows (if any)
    # click logit offset by ad id, fitted after training (``ad_offsets``); none while training
    ad_offsets: pd.Series = dataclasses.field(default_factory=lambda: pd.Series(dtype=float))


@dataclass
class Conversions:
    """Per impression, what the conversion task reads (all zero/NaN in a log without)."""

    converted: np.ndarray  # (N,) float32: clicked and converted by the log's cut
    delay_s: np.ndarray  # (N,) float64: click to conversion, NaN where none
    elapsed_s: np.ndarray  # (N,) float64: impression to the log's cut
    p_cvr_true: np.ndarray  # (N,) float64: true conversion probability of a click, NaN unknown
    eventually: np.ndarray  # (N,) float64: converts within the window, cut or not; NaN unknown

    def rows(self, rows: np.ndarray) -> "Conversions":
        return Conversions(self.converted[rows], self.delay_s[rows], self.elapsed_s[rows],
                           self.p_cvr_true[rows], self.eventually[rows])  # fmt: skip


def conversion_arrays(log: ClickLog) -> Conversions:
    imps = log.impressions
    ts = imps["ts"].to_numpy(dtype=np.float64)
    n = len(imps)
    p_cvr, eventually = (imps[c].to_numpy(np.float64) if c in imps else np.full(n, np.nan)
                         for c in ("p_cvr_true", "converted_eventually"))  # fmt: skip
    if not log.has_conversions:
        return Conversions(np.zeros(n, np.float32), np.full(n, np.nan), log.cut_ts - ts, p_cvr,
                           eventually)  # fmt: skip
    converted = imps["converted"].fillna(0).to_numpy(dtype=np.float32)
    conv_ts = imps["conversion_ts"].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    return Conversions(converted, np.where(converted > 0, conv_ts - ts, np.nan),
                       log.cut_ts - ts, p_cvr, eventually)  # fmt: skip


@dataclass
class Featurised:
    """One row per impression; text indices point into ``texts`` (PAD = -1)."""

    texts: list[str]
    ad_text: np.ndarray  # (N,)
    history: np.ndarray  # (N, H)
    context: np.ndarray  # (N, C)
    bucket: np.ndarray  # (N,)
    prior: np.ndarray  # (N, 2)
    price: np.ndarray  # (N, 2) float32, service.features.price
    offset: np.ndarray  # (N,) float32: the ad's click logit offset (train/ad_offsets.py)
    label: np.ndarray  # (N,) float32
    p_true: np.ndarray  # (N,) float64, NaN where unknown
    conversions: "Conversions"
    user_id: np.ndarray  # (N,) object
    ad_id: np.ndarray  # (N,) object
    split: np.ndarray  # (N,) object
    event_text: np.ndarray  # (n_events,) text index of every behaviour event
    row: np.ndarray  # (N,) int64: the impression's position in the log

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == split)


def context_frame(log: ClickLog) -> pd.DataFrame:
    """Context columns by field name, hour/weekday derived from ts where absent."""
    imps = log.impressions
    frame = pd.DataFrame(
        {
            f: imps[log.context_column(f)]
            for f in log.context_fields
            if log.context_column(f) in imps
        }
    )
    ts = imps["ts"].to_numpy(dtype=np.int64)
    derived = {"hour": (ts // 3600) % 24, "weekday": (ts // 86400 + 3) % 7}  # = time_context
    for name, values in derived.items():
        if name not in frame:
            frame[name] = values
    return frame


def fit_spec(
    log: ClickLog, ctx: pd.DataFrame, train: np.ndarray, alpha: float, ad_prior: bool = True
) -> FeatureSpec:
    """Vocabularies, id buckets and ad statistics from the training rows only. Without
    ``ad_prior`` no ad's statistics are kept: every ad is scored as one never seen (bucket
    0, the global prior), in training and in serving alike."""
    fields = tuple(sorted(ctx.columns))
    vocab = {f: build_vocab(ctx[f].to_numpy()[train]) for f in fields}
    imps = log.impressions.iloc[train]
    stats = imps.groupby("ad_id")["label"].agg(["sum", "count"])
    stats.columns = ["clicks", "impressions"]
    buckets = int(min(2**18, max(1024, 2 ** int(np.ceil(np.log2(2 * len(stats) + 1))))))
    if not ad_prior:
        stats = stats.iloc[:0]
    global_cvr = None
    if log.has_conversions and imps["label"].sum() > 0:
        global_cvr = float(imps["converted"].fillna(0).sum() / imps["label"].sum())
    return FeatureSpec(
        ContextSpec(fields, vocab), buckets, float(imps["label"].mean()), alpha, stats, global_cvr
    )


def ad_prices(log: ClickLog) -> pd.Series:
    """Each ad's price by ad id (NaN where it has none; all NaN for a log without prices)."""
    ads = log.ads.set_index("ad_id")
    if "price" not in ads:
        return pd.Series(np.nan, index=ads.index)
    return pd.to_numeric(ads["price"], errors="coerce")


def ad_prior_arrays(
    spec: FeatureSpec, ad_ids: np.ndarray, labels: np.ndarray, leave_one_out: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bucket and prior features per row; rows marked ``leave_one_out`` drop their own label."""
    stats = spec.ad_stats.reindex(ad_ids)
    known = stats["impressions"].notna().to_numpy()
    clicks = stats["clicks"].fillna(0).to_numpy(dtype=np.float64) - labels * leave_one_out * known
    imps = stats["impressions"].fillna(0).to_numpy(dtype=np.float64) - leave_one_out * known
    prior = prior_features(clicks, imps, spec.global_ctr, spec.prior_alpha)
    buckets = pd.Series(
        [ad_bucket(a, spec.id_buckets) for a in spec.ad_stats.index],
        index=spec.ad_stats.index,
        dtype=np.int64,
    )
    bucket = buckets.reindex(ad_ids).fillna(0).to_numpy(dtype=np.int64)
    return bucket, prior


def featurise(
    log: ClickLog,
    split: np.ndarray,
    history_len: int,
    alpha: float,
    spec: FeatureSpec | None = None,
    ad_prior: bool = True,
) -> tuple[Featurised, FeatureSpec]:
    """Featurise every impression whose split label is train/valid/test (others are dropped);
    ``spec`` is fitted on the training rows when not given (``ad_prior``: see ``fit_spec``)."""
    keep = np.isin(split, ["train", "valid", "test"])
    ctx = context_frame(log)
    spec = spec or fit_spec(log, ctx, np.flatnonzero(split == "train"), alpha, ad_prior)
    imps = log.impressions
    ads = log.ads.set_index("ad_id")
    texts_ad = [
        ad_text(t, d or "", c or "")
        for t, d, c in zip(ads["title"], ads["description"], ads["category"], strict=True)
    ]
    texts_ev = [item_text(t) for t in log.events["text"]]
    codes, texts = pd.factorize(pd.Series(texts_ad + texts_ev), sort=False)
    ad_code = pd.Series(codes[: len(texts_ad)], index=ads.index)
    ev_code = codes[len(texts_ad) :]
    hist = history_index(log.events, imps, history_len)
    hist = np.where(hist == PAD, PAD, ev_code[np.clip(hist, 0, None)] if len(ev_code) else PAD)
    labels = imps["label"].to_numpy(dtype=np.float64)
    ad_ids = imps["ad_id"].to_numpy(dtype=object)
    bucket, prior = ad_prior_arrays(spec, ad_ids, labels, (split == "train").astype(np.float64))
    context = np.stack(
        [spec.context.encode_column(f, ctx[f].to_numpy()) for f in spec.context.fields], axis=1
    )
    p_true = (
        imps["p_true"].to_numpy(dtype=np.float64)
        if "p_true" in imps
        else np.full(len(imps), np.nan)
    )
    feats = Featurised(
        texts=list(texts),
        ad_text=ad_code.reindex(ad_ids).to_numpy(dtype=np.int64),
        history=hist.astype(np.int64),
        context=context,
        bucket=bucket,
        prior=prior,
        price=price_features(ad_prices(log).reindex(ad_ids).to_numpy(np.float64)),
        offset=spec.ad_offsets.reindex(ad_ids).fillna(0.0).to_numpy(np.float32),
        label=labels.astype(np.float32),
        p_true=p_true,
        conversions=conversion_arrays(log),
        user_id=imps["user_id"].to_numpy(dtype=object),
        ad_id=ad_ids,
        split=split.astype(object),
        event_text=np.asarray(ev_code, dtype=np.int64),
        row=np.arange(len(imps), dtype=np.int64),
    )
    return subset(feats, np.flatnonzero(keep)), spec


def subset(f: Featurised, rows: np.ndarray) -> Featurised:
    return Featurised(
        f.texts,
        f.ad_text[rows],
        f.history[rows],
        f.context[rows],
        f.bucket[rows],
        f.prior[rows],
        f.price[rows],
        f.offset[rows],
        f.label[rows],
        f.p_true[rows],
        f.conversions.rows(rows),
        f.user_id[rows],
        f.ad_id[rows],
        f.split[rows],
        f.event_text,
        f.row[rows],
    )


def with_ads(f: Featurised, rows: np.ndarray, ad_rows: np.ndarray) -> Featurised:
    """Rows ``rows`` of ``f`` (user, history, context) shown the ads of rows ``ad_rows``
    instead: pairs the log never showed, for a teacher to label. Their labels are unknown."""
    out, ads = subset(f, rows), subset(f, ad_rows)
    return dataclasses.replace(
        out, ad_text=ads.ad_text, bucket=ads.bucket, prior=ads.prior, price=ads.price,
        offset=ads.offset, ad_id=ads.ad_id, label=np.full(len(rows), np.nan, np.float32),
        p_true=np.full(len(rows), np.nan),
    )  # fmt: skip


def positions(f: Featurised, rows: np.ndarray) -> np.ndarray:
    """Indices into ``f`` of the impressions at log positions ``rows`` (-1 where absent)."""
    at = np.clip(np.searchsorted(f.row, rows), 0, max(len(f.row) - 1, 0))
    found = (f.row[at] == rows) if len(f.row) else np.zeros(len(rows), bool)
    return np.where(found, at, -1)
