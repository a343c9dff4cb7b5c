"""Text of the synthetic platform: content titles, invented brands, ad titles and offers.

Content items are titles of articles, videos and product pages built from a topic's
subjects and products; ads are ``brand + product`` titles with an offer in the description.
The offer is the visible part of an ad's quality: its effect on the click logit is in
``OFFERS`` (ground truth, read by the generator, never by the model).
"""

from collections.abc import Sequence
from typing import NamedTuple, TypeVar

import numpy as np

from model_export.data.synth_catalog import Topic


class Offer(NamedTuple):
    """An offer phrase and its true effect on the click logit."""

    phrase: str
    effect: float
    retail: bool  # only for verticals that ship goods


OFFERS: tuple[Offer, ...] = (
    Offer("Limited-time deal: 50% off", 0.55, True),
    Offer("Buy one, get one free", 0.45, True),
    Offer("30% off your first order", 0.35, False),
    Offer("Try it free for 30 days", 0.30, False),
    Offer("Free shipping on every order", 0.25, True),
    Offer("New collection available now", 0.0, True),
    Offer("Sign up today", -0.15, False),
    Offer("Learn more on our website", -0.35, False),
)
T = TypeVar("T")
SERVICE_VERTICALS = frozenset({"Travel", "Finance", "Education"})

SUBJECT_TEMPLATES = (
    "{n} best {x} right now",
    "The beginner's guide to {x}",
    "Video: {x} explained in {m} minutes",
    "{n} mistakes people make with {x}",
    "Ask an expert: everything about {x}",
    "What I learned from a year of {x}",
    "Why everyone is talking about {x}",
    "The complete checklist for {x}",
    "{x}: what changed in {y}",
    "Video: {n} tips for {x}",
)
PRODUCT_TEMPLATES = (
    "Review: the {x} we tested for {m} weeks",
    "Product page: {x}",
    "Buying guide: choosing the right {x}",
    "Hands-on with the new {x}",
    "Video: unboxing the {x}",
)
AD_TEMPLATES = (
    "{brand} {x}",
    "The new {x} from {brand}",
    "{x} by {brand}",
    "Shop the {brand} {x}",
    "{brand}: the {x} everyone wants",
)
PITCHES = (
    "Trusted by over a million customers.",
    "Rated 4.8 out of 5 by our users.",
    "Designed with care, built to last.",
    "Made for people who love the details.",
    "Join thousands who already made the switch.",
    "Quality you can feel from day one.",
    "Loved by beginners and pros alike.",
    "Fast, simple and hassle-free.",
)
_BRAND_HEADS = (
    "Nor", "Vel", "Zan", "Kor", "Lumi", "Astra", "Brio", "Cove", "Dune", "Evo", "Fjor",
    "Halo", "Iro", "Juno", "Kest", "Lyra", "Mira", "Nova", "Orra", "Pax", "Quill", "Rivo",
    "Sola", "Tero", "Umbra", "Vanta", "Wren", "Xeno", "Yara", "Zeph",
)  # fmt: skip
_BRAND_TAILS = ("ly", "ora", "vik", "mont", "wave", "stone", "peak", "field", "nest", "craft")


def _pick(rng: np.random.Generator, options: Sequence[T]) -> T:
    return options[int(rng.integers(len(options)))]


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _fill(rng: np.random.Generator, template: str, x: str) -> str:
    n, m = rng.choice((5, 7, 10, 12, 15)), rng.choice((3, 5, 8, 10))
    return _capitalise(template.format(x=x, n=n, m=m, y=rng.choice((2023, 2024))))


def item_pool(rng: np.random.Generator, topic: Topic, n: int) -> list[str]:
    """Up to ``n`` distinct content titles of one topic (articles, videos, product pages)."""
    texts = [_fill(rng, t, s) for t in SUBJECT_TEMPLATES for s in topic.subjects]
    texts += [_fill(rng, t, p) for t in PRODUCT_TEMPLATES for p in topic.products]
    unique = list(dict.fromkeys(texts))
    order = rng.permutation(len(unique))[:n]
    return [unique[i] for i in order]


def brand_pools(rng: np.random.Generator, n_pools: int, per_pool: int) -> list[list[str]]:
    """Disjoint pools of invented brand names (one pool per vertical)."""
    names = [h + t for h in _BRAND_HEADS for t in _BRAND_TAILS]
    if n_pools * per_pool > len(names):
        raise ValueError(f"at most {len(names)} brand names, asked {n_pools * per_pool}")
    chosen = [names[i] for i in rng.permutation(len(names))[: n_pools * per_pool]]
    return [chosen[i * per_pool : (i + 1) * per_pool] for i in range(n_pools)]


def offer_choices(vertical: str) -> list[int]:
    """Indices into ``OFFERS`` that make sense for a vertical."""
    service = vertical in SERVICE_VERTICALS
    return [i for i, o in enumerate(OFFERS) if not (service and o.retail)]


class AdCopy(NamedTuple):
    title: str
    description: str
    offer: int  # index into OFFERS
    brand: str  # the advertiser


def ad_copy(
    rng: np.random.Generator, topic: Topic, brands: Sequence[str], offers: Sequence[int]
) -> AdCopy:
    """Title and description of one ad of a topic: brand, product, offer phrase, pitch."""
    product, brand = _pick(rng, topic.products), _pick(rng, brands)
    template, offer, pitch = _pick(rng, AD_TEMPLATES), _pick(rng, offers), _pick(rng, PITCHES)
    title = _capitalise(template.format(brand=brand, x=product))
    return AdCopy(title, f"{OFFERS[offer].phrase}. {pitch}", offer, brand)
