"""Synthetic click logs with a known click probability: ``synthesize(SynthConfig()) -> ClickLog``.

A realistic ad platform: ads of invented brands across verticals and their fine topics (see
``synth_catalog``), users with a few drifting interests whose behaviour events (titles of
articles, videos and product pages they viewed or clicked) interleave in time with their ad
impressions, ads that launch over time (so test data holds cold ads), and partly targeted ad
delivery. Each impression's click probability ``p_true`` follows ``synth_truth``; its label is
drawn from it. Part of the truth (the fine topic) is visible only in text.

With ``cvr_mean > 0`` (the default) clicks also convert, with the known probability
``p_cvr_true`` of ``synth_conversion`` and a delay per advertiser; the log is cut at
``cut_ts``, so a recent click's conversion may not be in it yet. Impressions then carry the
labels ``converted`` and ``conversion_ts`` (the documented format) and ads their
``advertiser`` and ``price``; the price ends the ad's description ("From $89.90."), the one
visible part of what drives conversions besides the offer and the context. The conversion
step draws from streams of its own: clicks are the same with or without it.

Ground-truth columns the model must not read (documented here, kept for tests and analysis):
``ads.topic``, ``ads.quality`` (latent logit effect), ``ads.launch_ts`` and ``events.topic``;
with conversions also ``impressions.p_cvr_true``, ``p_ctcvr_true`` (= ``p_true·p_cvr_true``),
``converted_eventually`` (converts within the attribution window, cut or not: for judging
delay correction), ``ads.price_level``, ``ads.landing_quality`` (latent conversion logit
effect), ``ads.delay_fast_share`` and ``ads.delay_slow_median_s`` (the advertiser's delays).
Same seed → identical log; the sub-steps draw from independent seeded streams.
``synthesize_world`` also returns the world that made the log (``synth_world.SynthWorld``): the
truth of any impression, logged or not.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from model_export.data.clicklog import CONTEXT_PREFIX, ClickLog
from model_export.data.synth_catalog import VERTICALS
from model_export.data.synth_conversion import Conversions, make_conversions
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
from model_export.data.synth_truth import (
    AGE_BANDS,
    COUNTRIES,
    DEVICES,
    GENDERS,
    SLOTS,
    make_click_truth,
    topic_counts,
)
from model_export.data.synth_world import SynthWorld, event_topics, impression_affinity

CONVERSION_STREAMS = 4  # ads, users, advertisers, draws (synth_conversion.make_conversions)
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
    # conversions (synth_conversion); 0 leaves them out: no conversion columns at all
    cvr_mean: float = 0.1  # expected conversions per click (Ali-CCP: 0.005; shops: 0.02-0.1)
    intent_std: float = 0.8  # per-user purchase intent (conversion logit)
    landing_std: float = 0.3  # per-ad latent landing-page quality (conversion logit)
    delay_within_hour: float = 0.35  # share of conversions within an hour of the click
    delay_within_day: float = 0.5  # ... within a day
    attribution_days: float = 30.0  # a conversion later than this after its click never counts
    cut_lag_days: float = 0.0  # the log is cut this long after the end of the range
    progress: bool = True  # tqdm bars on stderr

    @classmethod
    def small(cls, seed: int = 7) -> "SynthConfig":
        """A quick config for tests: 40k impressions, 1,500 users, 300 ads."""
        return cls(seed=seed, n_users=1_500, n_ads=300, n_impressions=40_000, progress=False)

    @property
    def end_ts(self) -> int:
        return self.start_ts + self.days * 86_400

    @property
    def cut_ts(self) -> int:
        """When the log is cut: conversions after it are not in it."""
        return self.end_ts + round(self.cut_lag_days * 86_400)


def synthesize(config: SynthConfig | None = None) -> ClickLog:
    """Generate the click log of ``config`` (defaults when None); deterministic per seed."""
    return synthesize_world(config)[0]


def synthesize_world(config: SynthConfig | None = None) -> tuple[ClickLog, SynthWorld]:
    """The click log of ``config`` (defaults when None) and the world that made it."""
    config = config or SynthConfig()
    # the first six are the click log's; spawning more leaves them as they were
    seeds = np.random.SeedSequence(config.seed).spawn(6 + CONVERSION_STREAMS)
    streams = [np.random.default_rng(s) for s in seeds]
    steps = 6 + (config.cvr_mean > 0)
    with tqdm(total=steps, desc="synth", disable=not config.progress, leave=False) as bar:
        catalog = make_catalog(streams[0], config)
        bar.update()
        users = make_users(streams[1], config, catalog)
        ads = make_ads(streams[2], config, catalog)
        bar.update()
        events = make_events(streams[3], config, catalog, users)
        bar.update()
        imps = make_impressions(streams[4], config, catalog, users, ads)
        bar.update()
        history = event_topics(catalog, events)
        k_topic, k_vert = impression_affinity(
            history, ads, imps, config.history_len, config.progress
        )
        n_verticals = len(catalog.verticals)
        click = make_click_truth(streams[5], config, n_verticals, ads, imps, k_topic, k_vert)
        p_true = click.probability(ads, imps, k_topic, k_vert)
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
        conversion = None
        if config.cvr_mean > 0:
            conversions = make_conversions(
                streams[6:], config, catalog, ads, imps, k_topic, p_true, labels == 1
            )
            _add_conversions(log, ads, conversions, p_true)
            conversion = conversions.truth
            bar.update()
    world = SynthWorld(
        config=config,
        catalog=catalog,
        users=users,
        ads=ads,
        events=events,
        history=history,
        user_ids=pd.Index(_ids("u", config.n_users)),
        ad_ids=pd.Index(_ids("a", config.n_ads)),
        click=click,
        conversion=conversion,
    )
    return log, world


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


def _add_conversions(log: ClickLog, ads: Ads, conversions: Conversions, p_true: np.ndarray) -> None:
    """The conversion labels and truth as new columns after the click log's own (the labels
    with the dtypes ``read_clicklog`` gives them)."""
    merchants, delays = conversions.truth.merchants, conversions.delays
    advertiser = merchants.advertiser
    log.ads["advertiser"] = ads.brand
    log.ads["price"] = merchants.price
    priced = zip(log.ads["description"], merchants.price, strict=True)
    log.ads["description"] = [f"{d} From ${p:,.2f}." for d, p in priced]
    log.ads["price_level"] = merchants.price_level
    log.ads["landing_quality"] = merchants.landing
    log.ads["delay_fast_share"] = delays.fast_share[advertiser]
    log.ads["delay_slow_median_s"] = np.exp(delays.slow_log_median[advertiser])
    imps, converted = log.impressions, conversions.converted
    imps["converted"] = pd.array(converted.astype(np.int8), dtype="Int8")
    imps["conversion_ts"] = pd.arrays.IntegerArray(conversions.conversion_ts, mask=~converted)
    imps["p_cvr_true"] = conversions.p_cvr
    imps["p_ctcvr_true"] = p_true * conversions.p_cvr
    imps["converted_eventually"] = conversions.eventually.astype(np.int8)
