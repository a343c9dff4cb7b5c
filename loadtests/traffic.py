"""The pure parts of adrank's load: a synthetic ad platform's users, catalog and requests.

Shared by the locust file and the benchmark driver; no HTTP, no locust, no gevent here.
Texts come from the synthetic generator's wording (``model_export.data.synth_text``, which
needs only numpy), so loads read like the ads and behaviour the model was trained on.

    world = build_world(TrafficConfig(ads=2000, users=1000), seed=0)
    body = rank_request(rng, world, request_id="r-1")  # a POST /rank body (a dict)
"""

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import numpy as np

from model_export.data.synth_catalog import VERTICALS, Topic
from model_export.data.synth_text import ad_copy, brand_pools, item_pool, offer_choices

DEVICES = ("mobile", "desktop", "tablet")
SLOTS = ("feed", "search", "sidebar", "in_article")
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
GENDERS = ("f", "m", "x")
COUNTRIES = ("us", "gb", "de", "fr", "in", "br", "jp", "ca", "au", "es")
ITEMS_PER_TOPIC = 30
Json = dict[str, Any]  # a request body
STAGES = ("total_ms", "redis_ms", "queue_ms", "score_ms", "encode_ms", "batch_size")
START_TS = 1_735_689_600  # behaviour history before this moment (2025-01-01)


@dataclass(frozen=True)
class TrafficConfig:
    """What the fleet of ad servers sends."""

    ads: int = 2000  # the catalog the service knows (seeded through PUT /ads)
    users: int = 1000  # users with a behaviour history (seeded through POST /events)
    events_per_user: int = 8
    unseen_share: float = 0.03  # candidates the service has not seen yet (sent with text)
    min_candidates: int = 50
    max_candidates: int = 500
    zipf_s: float = 1.1  # skew of users' popularity (requests per user ∝ rank^-s)
    deadline_ms: float = 250.0  # timeout_ms of every /rank request (OpenRTB tmax)
    events_per_batch: int = 5  # behaviour events per POST /events of the live stream


class ZipfSampler:
    """Ranks 0..n-1 drawn with probability ∝ (rank + 1)^-s (a bounded Zipf law)."""

    def __init__(self, n: int, s: float) -> None:
        if n < 1:
            raise ValueError("a Zipf law needs at least one rank")
        weights = np.arange(1, n + 1, dtype=np.float64) ** -s
        self.cdf = np.cumsum(weights) / weights.sum()

    def sample(self, rng: np.random.Generator, size: int | None = None) -> np.ndarray:
        draws = rng.random(size if size is not None else 1)
        return np.minimum(np.searchsorted(self.cdf, draws, side="right"), len(self.cdf) - 1)

    def one(self, rng: np.random.Generator) -> int:
        return int(self.sample(rng)[0])


def poisson_offsets(rate: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Send times (seconds from the start) of a Poisson arrival process of ``rate`` per second
    over ``seconds``: exponential gaps, so bursts and lulls happen as they do in production."""
    if rate <= 0 or seconds <= 0:
        return np.zeros(0)
    expected = int(rate * seconds)
    gaps = rng.exponential(1.0 / rate, size=expected + 6 * int(np.sqrt(expected)) + 16)
    times = np.cumsum(gaps)
    while times[-1] < seconds:  # a rare long tail: draw more
        times = np.concatenate([times, times[-1] + np.cumsum(rng.exponential(1.0 / rate, 64))])
    return times[times < seconds]


@dataclass(frozen=True)
class User:
    user_id: str
    topics: tuple[int, ...]  # indices into World.topics: the user's interests
    attrs: dict[str, str]  # age_band, gender, country


@dataclass
class World:
    """The synthetic platform: topics' content items, the known catalog and the users."""

    topics: list[tuple[str, Topic]]  # (vertical, topic wording)
    items: list[list[str]]  # content titles per topic
    brands: list[list[str]]  # per vertical (index into VERTICALS)
    ads: list[Json]  # the seen catalog: ad_id, title, description, category
    users: list[User]
    popularity: ZipfSampler  # over users, most popular first
    config: TrafficConfig
    fresh: Iterator[int] = field(default_factory=count)  # numbers of never-seen ads
    fresh_prefix: str = field(default_factory=lambda: f"lt-new-{secrets.token_hex(4)}-")


def build_world(config: TrafficConfig, seed: int = 0) -> World:
    rng = np.random.default_rng(seed)
    verticals = list(VERTICALS)
    topics = [(v, t) for v in verticals for t in VERTICALS[v].values()]
    items = [item_pool(rng, t, ITEMS_PER_TOPIC) for _, t in topics]
    brands = brand_pools(rng, len(verticals), 8)
    world = World(topics, items, brands, [], [], ZipfSampler(config.users, config.zipf_s), config)
    world.ads = [new_ad(rng, world, f"lt-ad-{i}") for i in range(config.ads)]
    world.users = [_user(rng, len(topics), f"lt-user-{u}") for u in range(config.users)]
    return world


def _user(rng: np.random.Generator, n_topics: int, user_id: str) -> User:
    interests = rng.choice(n_topics, size=int(rng.integers(1, 4)), replace=False)
    attrs = {"age_band": str(rng.choice(AGE_BANDS)), "gender": str(rng.choice(GENDERS)),
             "country": str(rng.choice(COUNTRIES))}  # fmt: skip
    return User(user_id, tuple(int(t) for t in interests), attrs)


def new_ad(rng: np.random.Generator, world: World, ad_id: str) -> Json:
    """An ad of a random topic: invented brand, product, offer and pitch."""
    topic_i = int(rng.integers(len(world.topics)))
    vertical, topic = world.topics[topic_i]
    v = list(VERTICALS).index(vertical)
    copy = ad_copy(rng, topic, world.brands[v], offer_choices(vertical))
    return {"ad_id": ad_id, "title": copy.title, "description": copy.description,
            "category": vertical}  # fmt: skip


def user_events(
    rng: np.random.Generator, world: World, user: User, n: int, end_ts: float
) -> list[Json]:
    """``n`` behaviour events of ``user``, 10 minutes apart, the last at ``end_ts``: mostly
    of the user's interests, some (15%) off them."""
    events: list[Json] = []
    for j in range(n):
        noise = rng.random() < 0.15
        topic = int(rng.integers(len(world.topics))) if noise else int(rng.choice(user.topics))
        k = int(rng.integers(len(world.items[topic])))
        events.append({"user_id": user.user_id, "item_id": f"lt-i{topic}-{k}",
                       "text": world.items[topic][k],
                       "type": "click" if rng.random() < 0.3 else "view",
                       "ts": end_ts - (n - 1 - j) * 600.0})  # fmt: skip
    return events


def seed_batches(
    world: World, ads_per_batch: int = 250, events_per_batch: int = 1000, seed: int = 1
) -> tuple[list[Json], list[Json]]:
    """The PUT /ads bodies of the catalog and the POST /events bodies of users' histories."""
    rng = np.random.default_rng(seed)
    ads = [{"ads": world.ads[i : i + ads_per_batch]}
           for i in range(0, len(world.ads), ads_per_batch)]  # fmt: skip
    n = world.config.events_per_user
    events = [e for u in world.users for e in user_events(rng, world, u, n, START_TS)]
    bodies = [{"events": events[i : i + events_per_batch]}
              for i in range(0, len(events), events_per_batch)]  # fmt: skip
    return ads, bodies


def candidate_count(rng: np.random.Generator, config: TrafficConfig) -> int:
    return int(rng.integers(config.min_candidates, config.max_candidates + 1))


def rank_request(
    rng: np.random.Generator, world: World, request_id: str, candidates: int | None = None,
    unseen_share: float | None = None,
) -> Json:  # fmt: skip
    """A POST /rank body: a Zipf-popular user, context, bids, a deadline, and ``candidates``
    ads (50–500 by default) of which ``unseen_share`` are new ads sent with their text (fewer
    when the catalog is smaller than the seen part)."""
    cfg = world.config
    n = candidates if candidates is not None else candidate_count(rng, cfg)
    share = cfg.unseen_share if unseen_share is None else unseen_share
    unseen = int(rng.binomial(n, share)) if share > 0 else 0
    seen = min(n - unseen, len(world.ads))
    ads = [
        {"ad_id": world.ads[int(i)]["ad_id"]}
        for i in rng.choice(len(world.ads), size=seen, replace=False)
    ]
    ads += [new_ad(rng, world, f"{world.fresh_prefix}{next(world.fresh)}") for _ in range(unseen)]
    bids = np.round(rng.lognormal(0.0, 0.6, size=len(ads)), 3).tolist()
    for ad, bid in zip(ads, bids, strict=True):
        ad["bid"] = bid
    user = world.users[world.popularity.one(rng)]
    return {"user_id": user.user_id, "request_id": request_id,
            "context": request_context(rng, user), "candidates": ads,
            "timeout_ms": cfg.deadline_ms}  # fmt: skip


def request_context(rng: np.random.Generator, user: User) -> Json:
    return {"hour": int(rng.integers(24)), "weekday": int(rng.integers(7)),
            "device": str(rng.choice(DEVICES, p=[0.6, 0.3, 0.1])),
            "slot": str(rng.choice(SLOTS)), "position": int(rng.integers(1, 6)),
            **user.attrs}  # fmt: skip


def events_request(rng: np.random.Generator, world: World, ts: float) -> Json:
    """A POST /events body of the live stream: a few events of Zipf-popular users."""
    n = world.config.events_per_batch
    users = [world.users[int(u)] for u in world.popularity.sample(rng, n)]
    return {"events": [user_events(rng, world, u, 1, ts)[0] for u in users]}


def rank_problem(status: int, answer: object, candidates: int) -> str | None:
    """Why a /rank answer counts as a failure (None when it is a good answer): any status but
    200 (a 503 shed included), a degraded answer, or a ranking that lost candidates."""
    if status != 200:
        return f"HTTP {status}"
    if not isinstance(answer, dict) or not isinstance(answer.get("metrics"), dict):
        return "not a /rank answer"
    if answer.get("degraded"):
        return f"degraded: {','.join(answer.get('degraded_reasons') or ['?'])}"
    ranked = answer.get("ranked")
    if not isinstance(ranked, list) or len(ranked) != candidates:
        return f"ranked {len(ranked) if isinstance(ranked, list) else 0} of {candidates}"
    missing = [s for s in STAGES if s not in answer["metrics"]]
    return f"metrics lack {','.join(missing)}" if missing else None
