"""Vectorised sampling of the synthetic platform's population: catalog, users, ads, behaviour
events and impressions, as integer code arrays (``synth`` turns them into a ``ClickLog``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from model_export.data.synth_catalog import VERTICALS
from model_export.data.synth_text import ad_copy, brand_pools, item_pool, offer_choices
from model_export.data.synth_truth import (
    AGE_SHARE,
    COUNTRY_SHARE,
    DEVICE_SHARE,
    GENDER_SHARE,
    HOUR_TRAFFIC,
    POSITION_SHARE,
    SLOT_SHARE,
)

if TYPE_CHECKING:
    from model_export.data.synth import SynthConfig

MAX_INTERESTS = 4
SIBLING_INTEREST = 0.8  # chance that a user's second interest shares the first one's vertical
DEVICE_LOYALTY = 0.8  # impressions on the user's usual device


@dataclass(frozen=True)
class Catalog:
    """Verticals, fine topics (contiguous per vertical) and content items of each topic."""

    verticals: tuple[str, ...]
    topics: tuple[str, ...]
    topic_vertical: np.ndarray
    vertical_first: np.ndarray  # first topic id of each vertical
    vertical_size: np.ndarray
    item_text: np.ndarray  # object array of titles
    item_first: np.ndarray  # first item id of each topic
    item_count: np.ndarray


@dataclass(frozen=True)
class Users:
    interests: np.ndarray  # (U, MAX_INTERESTS) topic ids
    weight_start: np.ndarray  # (U, MAX_INTERESTS) interest weights at the start ...
    weight_end: np.ndarray  # ... and at the end of the range: interests drift linearly
    activity: np.ndarray  # relative rate of events and impressions (mean 1)
    start_day: np.ndarray  # the day the user joins
    cold: np.ndarray  # no behaviour events at all
    attrs: dict[str, np.ndarray]  # codes: age, gender, country, device (usual device)


@dataclass(frozen=True)
class Ads:
    topic: np.ndarray
    vertical: np.ndarray
    launch: np.ndarray  # unix seconds
    popularity: np.ndarray  # relative delivery weight (log-normal skew)
    quality: np.ndarray  # latent logit effect
    offer: np.ndarray  # index into synth_text.OFFERS
    brand: np.ndarray  # the advertiser's name (it is in the title)
    title: np.ndarray
    description: np.ndarray


@dataclass(frozen=True)
class Events:
    user: np.ndarray
    ts: np.ndarray
    item: np.ndarray
    topic: np.ndarray
    click: np.ndarray  # bool: click (else view)


@dataclass(frozen=True)
class Impressions:
    user: np.ndarray
    ts: np.ndarray
    ad: np.ndarray
    device: np.ndarray
    slot: np.ndarray
    position: np.ndarray  # 1-based
    age: np.ndarray

    def context(self) -> dict[str, np.ndarray]:
        """Code arrays the truth's context effect reads."""
        hour = (self.ts // 3600) % 24
        return {"hour": hour, "device": self.device, "slot": self.slot,
                "position": self.position, "age": self.age}  # fmt: skip


def make_catalog(rng: np.random.Generator, config: SynthConfig) -> Catalog:
    verticals = tuple(VERTICALS)
    pairs = [(v, t) for v, name in enumerate(verticals) for t in VERTICALS[name]]
    topic_vertical = np.array([v for v, _ in pairs])
    pools = [item_pool(rng, VERTICALS[verticals[v]][t], config.items_per_topic) for v, t in pairs]
    count = np.array([len(p) for p in pools])
    sizes = np.bincount(topic_vertical)
    return Catalog(
        verticals=verticals,
        topics=tuple(t for _, t in pairs),
        topic_vertical=topic_vertical,
        vertical_first=np.concatenate([[0], np.cumsum(sizes)[:-1]]),
        vertical_size=sizes,
        item_text=np.array([text for pool in pools for text in pool], dtype=object),
        item_first=np.concatenate([[0], np.cumsum(count)[:-1]]),
        item_count=count,
    )


def make_users(rng: np.random.Generator, config: SynthConfig, catalog: Catalog) -> Users:
    n, n_topics = config.n_users, len(catalog.topics)
    interests = np.argsort(rng.random((n, n_topics)), axis=1)[:, :MAX_INTERESTS]
    sibling = _sibling_topic(rng, catalog, interests[:, 0])
    interests[:, 1] = np.where(rng.random(n) < SIBLING_INTEREST, sibling, interests[:, 1])
    n_interests = rng.integers(2, MAX_INTERESTS + 1, n)
    late = rng.random(n) < config.late_user_frac
    activity = rng.lognormal(0.0, 0.6, n)
    return Users(
        interests=interests,
        weight_start=_interest_weights(rng, n_interests),
        weight_end=_interest_weights(rng, n_interests),
        activity=activity / activity.mean(),
        start_day=np.where(late, rng.integers(0, config.days - 1, n), 0),
        cold=rng.random(n) < config.cold_user_frac,
        attrs={
            "age": rng.choice(len(AGE_SHARE), n, p=AGE_SHARE),
            "gender": rng.choice(len(GENDER_SHARE), n, p=GENDER_SHARE),
            "country": rng.choice(len(COUNTRY_SHARE), n, p=COUNTRY_SHARE),
            "device": rng.choice(len(DEVICE_SHARE), n, p=DEVICE_SHARE),
        },
    )


def _sibling_topic(rng: np.random.Generator, catalog: Catalog, topic: np.ndarray) -> np.ndarray:
    """Another topic of the same vertical as each of ``topic``."""
    vertical = catalog.topic_vertical[topic]
    first, size = catalog.vertical_first[vertical], catalog.vertical_size[vertical]
    return first + (topic - first + 1 + rng.integers(0, size - 1)) % size


def _interest_weights(rng: np.random.Generator, n_interests: np.ndarray) -> np.ndarray:
    """Dirichlet(1) weights over each user's first ``n_interests`` interest slots."""
    raw = rng.gamma(1.0, size=(len(n_interests), MAX_INTERESTS))
    raw *= np.arange(MAX_INTERESTS)[None, :] < n_interests[:, None]
    return raw / raw.sum(axis=1, keepdims=True)


def sample_interest(
    rng: np.random.Generator, config: SynthConfig, users: Users, user: np.ndarray, ts: np.ndarray
) -> np.ndarray:
    """One interest topic per row, drawn by the user's interest weights at time ``ts``."""
    frac = ((ts - config.start_ts) / (config.end_ts - config.start_ts))[:, None]
    weights = users.weight_start[user] * (1 - frac) + users.weight_end[user] * frac
    cum = np.cumsum(weights, axis=1)
    slot = (rng.random(len(user))[:, None] * cum[:, -1:] >= cum).sum(axis=1)
    return users.interests[user, np.minimum(slot, MAX_INTERESTS - 1)]


def sample_ts(rng: np.random.Generator, config: SynthConfig, start_day: np.ndarray) -> np.ndarray:
    """Unix seconds on days ``start_day..days-1`` (uniform), hours by ``HOUR_TRAFFIC``."""
    n = len(start_day)
    day = start_day + (rng.random(n) * (config.days - start_day)).astype(np.int64)
    hour = rng.choice(24, n, p=HOUR_TRAFFIC)
    second = rng.integers(0, 3600, n)
    return (config.start_ts + day * 86_400 + hour * 3600 + second).astype(np.int64)


def _active_share(config: SynthConfig, users: Users) -> np.ndarray:
    return users.activity * (config.days - users.start_day) / config.days


def make_ads(rng: np.random.Generator, config: SynthConfig, catalog: Catalog) -> Ads:
    n, n_topics = config.n_ads, len(catalog.topics)
    topic = rng.permutation(np.arange(n) % n_topics)
    vertical = catalog.topic_vertical[topic]
    launch = config.start_ts + rng.integers(1, config.days * 86_400, n)
    launch = np.where(rng.random(n) < config.ads_at_start, config.start_ts, launch)
    launch[0] = config.start_ts  # some ad is always live
    brands = brand_pools(rng, len(catalog.verticals), config.brands_per_vertical)
    copies = [
        ad_copy(
            rng,
            VERTICALS[catalog.verticals[v]][catalog.topics[t]],
            brands[v],
            offer_choices(catalog.verticals[v]),
        )
        for t, v in zip(topic, vertical, strict=True)
    ]
    return Ads(
        topic=topic,
        vertical=vertical,
        launch=launch.astype(np.int64),
        popularity=rng.lognormal(0.0, 1.0, n),
        quality=rng.normal(0.0, config.quality_std, n),
        offer=np.array([c.offer for c in copies], dtype=np.int64),
        brand=np.array([c.brand for c in copies], dtype=object),
        title=np.array([c.title for c in copies], dtype=object),
        description=np.array([c.description for c in copies], dtype=object),
    )


def make_events(
    rng: np.random.Generator, config: SynthConfig, catalog: Catalog, users: Users
) -> Events:
    """Behaviour events, mostly on the user's (drifting) interests; sorted by time."""
    lam = config.events_per_user * _active_share(config, users)
    count = rng.poisson(lam) * ~users.cold
    user = np.repeat(np.arange(config.n_users), count)
    ts = sample_ts(rng, config, users.start_day[user])
    topic = sample_interest(rng, config, users, user, ts)
    noise = rng.random(len(user)) < config.noise_event_frac
    topic = np.where(noise, rng.integers(0, len(catalog.topics), len(user)), topic)
    rank = (rng.random(len(user)) ** 1.5 * catalog.item_count[topic]).astype(np.int64)
    item = catalog.item_first[topic] + rank  # popular items first within a topic
    click = rng.random(len(user)) < config.click_event_frac
    order = np.lexsort((user, ts))
    return Events(user[order], ts[order], item[order], topic[order], click[order])


def make_impressions(
    rng: np.random.Generator, config: SynthConfig, catalog: Catalog, users: Users, ads: Ads
) -> Impressions:
    """Impressions of partly targeted ads with their context; sorted by time."""
    n = config.n_impressions
    share = _active_share(config, users)
    user = rng.choice(config.n_users, n, p=share / share.sum())
    ts = sample_ts(rng, config, users.start_day[user])
    order = np.lexsort((user, ts))
    user, ts = user[order], ts[order]
    ad = _pick_ads(rng, config, catalog, users, ads, user, ts)
    other_device = rng.choice(len(DEVICE_SHARE), n, p=DEVICE_SHARE)
    device = np.where(rng.random(n) < DEVICE_LOYALTY, users.attrs["device"][user], other_device)
    return Impressions(
        user=user,
        ts=ts,
        ad=ad,
        device=device,
        slot=rng.choice(len(SLOT_SHARE), n, p=SLOT_SHARE),
        position=rng.choice(len(POSITION_SHARE), n, p=POSITION_SHARE) + 1,
        age=users.attrs["age"][user],
    )


def _pick_ads(
    rng: np.random.Generator,
    config: SynthConfig,
    catalog: Catalog,
    users: Users,
    ads: Ads,
    user: np.ndarray,
    ts: np.ndarray,
) -> np.ndarray:
    """The ad of each impression: targeted to an interest topic or vertical, a fresh ad, or
    any live ad, each drawn by popularity among ads launched by then."""
    n, no_group = len(user), np.zeros(len(ads.topic), dtype=np.int64)
    interest = sample_interest(rng, config, users, user, ts)
    picked, _ = sample_live_ads(rng, ads, no_group, np.zeros(n, dtype=np.int64), ts)
    fresh_s = int(config.fresh_days * 86_400)
    options = [
        (config.topic_targeted, ads.topic, interest, None),
        (config.vertical_targeted, ads.vertical, catalog.topic_vertical[interest], None),
        (config.fresh_frac, no_group, np.zeros(n, dtype=np.int64), fresh_s),
    ]
    shares = [o[0] for o in options]
    strategy = rng.choice(len(options) + 1, n, p=[*shares, 1.0 - sum(shares)])
    for code, (_, ad_group, group, window_s) in enumerate(options):
        idx, ok = sample_live_ads(rng, ads, ad_group, group, ts, window_s)
        use = (strategy == code) & ok
        picked[use] = idx[use]
    return picked


def sample_live_ads(
    rng: np.random.Generator,
    ads: Ads,
    ad_group: np.ndarray,
    group: np.ndarray,
    ts: np.ndarray,
    window_s: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, an ad of ``group`` launched by ``ts`` (and after ``ts - window_s`` when given),
    drawn by popularity; ``ok`` is False where no ad qualifies (the index is then arbitrary)."""
    t0 = min(int(ads.launch.min()), int(ts.min()) - (window_s or 0))
    span = max(int(ads.launch.max()), int(ts.max())) - t0 + 2
    order = np.lexsort((ads.launch, ad_group))
    key = ad_group[order] * span + (ads.launch[order] - t0)
    hi = np.searchsorted(key, group * span + (ts - t0), side="right")
    since = ts - window_s - t0 if window_s is not None else np.zeros_like(ts)
    lo = np.searchsorted(key, group * span + since, side="left")
    cum = np.concatenate([[0.0], np.cumsum(ads.popularity[order])])
    u = cum[lo] + rng.random(len(ts)) * (cum[hi] - cum[lo])
    pos = np.clip(np.searchsorted(cum, u, side="right") - 1, lo, np.maximum(hi - 1, lo))
    return order[np.minimum(pos, len(order) - 1)], hi > lo
