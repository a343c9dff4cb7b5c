"""Synthetic click logs with a known click probability: ``synthesize(SynthConfig()) -> ClickLog``.

A realistic ad platform: ads of invented brands across verticals and their fine topics (see
``synth_catalog``), users with a few drifting interests whose behaviour events (titles of
articles, videos and product pages they viewed or clicked) interleave in time with their ad
impressions, ads that launch over time (so test data holds cold ads), and partly targeted ad
delivery. Each impression's click probability ``p_true`` follows ``synth_truth``; its label is
drawn from it. Part of the truth (the fine topic) is visible only in text.

Ground-truth columns the model must not read (documented here, kept for tests and analysis):
``ads.topic``, ``ads.quality`` (latent logit effect), ``ads.launch_ts`` and ``events.topic``.
Same seed → identical log; the sub-steps draw from independent seeded streams.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from model_export.data.clicklog import CONTEXT_PREFIX, ClickLog
from model_export.data.synth_catalog import VERTICALS
from model_export.data.synth_sampling import (
    Ads,
    Catalog,
    Events,
    Impressions,
    Users,
    make_ads,
    make_catalog,
    make_events,
    make_impressions,
    make_users,
)
from model_export.data.synth_text import OFFERS
from model_export.data.synth_truth import (
    AGE_BANDS,
    AGE_VERTICAL_STD,
    COUNTRIES,
    DEVICES,
    GENDERS,
    SLOTS,
    affinity,
    calibrate_base,
    context_effect,
    sigmoid,
    topic_counts,
)

CONTEXT_FIELDS = ["hour", "weekday", "device", "slot", "position", "age_band", "gender", "country"]
TOPICS: list[str] = [t for v in VERTICALS for t in VERTICALS[v]]
TOPIC_VERTICAL: dict[str, str] = {t: v for v in VERTICALS for t in VERTICALS[v]}


@dataclass(frozen=True)
class SynthConfig:
    """Size, time range and truth of a synthetic log. Defaults: ~300k impressions."""

    seed: int = 7
    n_users: int = 10_000
    n_ads: int = 1_200
    n_impressions: int = 300_000
    events_per_user: float = 60.0  # mean over users (activity-skewed), over the whole range
    days: int = 30
    start_ts: int = 1_704_067_200  # 2024-01-01 00:00 UTC, a Monday
    history_len: int = 32  # H: the events the truth (and the model) looks at
    target_ctr: float = 0.03
    items_per_topic: int = 30  # distinct content titles per fine topic
    brands_per_vertical: int = 8
    cold_user_frac: float = 0.05  # users with no behaviour events at all
    late_user_frac: float = 0.3  # users who join after the first day
    noise_event_frac: float = 0.15  # events off the user's interests
    click_event_frac: float = 0.3  # behaviour events of type "click" (else "view")
    ads_at_start: float = 0.55  # ads live from the first second; the rest launch over time
    topic_targeted: float = 0.15  # impressions whose ad is drawn from a user's interest topic
    vertical_targeted: float = 0.3  # ... from a user's interest vertical
    fresh_frac: float = 0.12  # ... from ads launched in the last ``fresh_days``
    fresh_days: float = 4.0
    topic_weight: float = 1.2  # a in a·log1p(k_topic)
    vertical_weight: float = 0.3  # b in b·log1p(k_vert)
    quality_std: float = 0.2  # per-ad latent quality (logit)
    progress: bool = True  # tqdm bars on stderr

    @classmethod
    def small(cls, seed: int = 7) -> "SynthConfig":
        """A quick config for tests: 40k impressions, 1,500 users, 300 ads."""
        return cls(seed=seed, n_users=1_500, n_ads=300, n_impressions=40_000, progress=False)

    @property
    def end_ts(self) -> int:
        return self.start_ts + self.days * 86_400


def synthesize(config: SynthConfig | None = None) -> ClickLog:
    """Generate the click log of ``config`` (defaults when None); deterministic per seed."""
    config = config or SynthConfig()
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(6)]
    with tqdm(total=6, desc="synth", disable=not config.progress, leave=False) as bar:
        catalog = make_catalog(streams[0], config)
        bar.update()
        users = make_users(streams[1], config, catalog)
        ads = make_ads(streams[2], config, catalog)
        bar.update()
        events = make_events(streams[3], config, catalog, users)
        bar.update()
        imps = make_impressions(streams[4], config, catalog, users, ads)
        bar.update()
        p_true = click_probability(streams[5], config, catalog, ads, events, imps)
        labels = (streams[5].random(len(p_true)) < p_true).astype(np.int8)
        bar.update()
        log = ClickLog(
            name=f"synthetic-{config.seed}",
            ads=_ads_frame(catalog, ads),
            events=_events_frame(catalog, users, events),
            impressions=_impressions_frame(users, ads, imps, p_true, labels),
            context_fields=list(CONTEXT_FIELDS),
        )
        bar.update()
    return log


def click_probability(
    rng: np.random.Generator,
    config: SynthConfig,
    catalog: Catalog,
    ads: Ads,
    events: Events,
    imps: Impressions,
) -> np.ndarray:
    """The true click probability of every impression (see ``synth_truth``)."""
    ad_topic, ad_vertical = ads.topic[imps.ad], ads.vertical[imps.ad]
    ev = pd.DataFrame(
        {"user_id": events.user, "ts": events.ts, "topic": events.topic,
         "vertical": catalog.topic_vertical[events.topic]}
    )  # fmt: skip
    im = pd.DataFrame(
        {"user_id": imps.user, "ts": imps.ts, "topic": ad_topic, "vertical": ad_vertical}
    )
    k_topic, k_vert = topic_counts(ev, im, config.history_len, progress=config.progress)
    age_vertical = rng.normal(0.0, AGE_VERTICAL_STD, (len(AGE_BANDS), len(catalog.verticals)))
    offer_effect = np.array([o.effect for o in OFFERS])[ads.offer[imps.ad]]
    logit = (
        affinity(k_topic, k_vert, config.topic_weight, config.vertical_weight)
        + offer_effect
        + ads.quality[imps.ad]
        + context_effect(imps.context(), ad_vertical, age_vertical)
    )
    return sigmoid(calibrate_base(logit, config.target_ctr) + logit)


def affinity_counts(log: ClickLog, history_len: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth ``(k_topic, k_vert)`` of each impression of a synthesized log, recomputed
    from the ``topic`` columns of its ads and events (for tests and analysis)."""
    code = {t: i for i, t in enumerate(TOPICS)}
    vertical = np.array([list(VERTICALS).index(TOPIC_VERTICAL[t]) for t in TOPICS])
    ev_topic = log.events["topic"].map(code).to_numpy(dtype=np.int64)
    ad_topic = log.ads.set_index("ad_id")["topic"].map(code)
    im_topic = ad_topic.reindex(log.impressions["ad_id"]).to_numpy(dtype=np.int64)
    ev = pd.DataFrame(
        {"user_id": log.events["user_id"], "ts": log.events["ts"], "topic": ev_topic,
         "vertical": vertical[ev_topic]}
    )  # fmt: skip
    im = pd.DataFrame(
        {"user_id": log.impressions["user_id"], "ts": log.impressions["ts"],
         "topic": im_topic, "vertical": vertical[im_topic]}
    )  # fmt: skip
    return topic_counts(ev, im, history_len)


def _ids(prefix: str, n: int) -> np.ndarray:
    return np.array([f"{prefix}{i}" for i in range(n)], dtype=object)


def _ads_frame(catalog: Catalog, ads: Ads) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ad_id": _ids("a", len(ads.topic)),
            "title": ads.title,
            "description": ads.description,
            "category": np.asarray(catalog.verticals, dtype=object)[ads.vertical],
            "topic": np.asarray(catalog.topics, dtype=object)[ads.topic],
            "quality": ads.quality,
            "launch_ts": ads.launch,
        }
    )


def _events_frame(catalog: Catalog, users: Users, events: Events) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": _ids("u", len(users.activity))[events.user],
            "item_id": _ids("i", len(catalog.item_text))[events.item],
            "text": catalog.item_text[events.item],
            "type": np.where(events.click, "click", "view").astype(object),
            "ts": events.ts,
            "topic": np.asarray(catalog.topics, dtype=object)[events.topic],
        }
    )


def _impressions_frame(
    users: Users, ads: Ads, imps: Impressions, p_true: np.ndarray, labels: np.ndarray
) -> pd.DataFrame:
    user_attr = users.attrs
    ctx = {
        "hour": (imps.ts // 3600) % 24,
        "weekday": (imps.ts // 86_400 + 3) % 7,  # 1970-01-01 was a Thursday
        "device": np.asarray(DEVICES, dtype=object)[imps.device],
        "slot": np.asarray(SLOTS, dtype=object)[imps.slot],
        "position": imps.position,
        "age_band": np.asarray(AGE_BANDS, dtype=object)[user_attr["age"][imps.user]],
        "gender": np.asarray(GENDERS, dtype=object)[user_attr["gender"][imps.user]],
        "country": np.asarray(COUNTRIES, dtype=object)[user_attr["country"][imps.user]],
    }
    frame = {
        "user_id": _ids("u", len(users.activity))[imps.user],
        "ad_id": _ids("a", len(ads.topic))[imps.ad],
        "ts": imps.ts,
        "label": labels,
        "p_true": p_true.astype(np.float64),
    }
    frame.update({CONTEXT_PREFIX + name: values for name, values in ctx.items()})
    return pd.DataFrame(frame)
