"""Vocabulary of the synthetic ad platform: verticals, their fine topics and topic wording.

Each vertical (the coarse ``category`` an ad carries) holds several fine topics. A topic's
wording appears only in text: ``products`` name what its ads sell, ``subjects`` name what its
content items (articles, videos, product pages) are about. Wording is chosen so topics of
one vertical read differently ("trail running shoes" vs "yoga mat"), since the click truth
depends on the fine topic while the category field reveals only the vertical.
"""

from typing import NamedTuple

from model_export.data.synth_vocab_retail import RAW_VERTICALS as _RETAIL
from model_export.data.synth_vocab_services import RAW_VERTICALS as _SERVICES


class Topic(NamedTuple):
    """Wording of one fine topic: ad products and content subjects (noun phrases)."""

    products: tuple[str, ...]
    subjects: tuple[str, ...]


VERTICAL_ORDER = (
    "Travel",
    "Fashion",
    "Sports & Outdoors",
    "Finance",
    "Gaming",
    "Food Delivery",
    "Electronics",
    "Home & Garden",
    "Beauty",
    "Auto",
    "Education",
    "Health & Fitness",
    "Pets",
)


def _topic(raw: tuple[str, str]) -> Topic:
    """A topic from its two ``|``-separated lists."""
    products, subjects = raw
    return Topic(tuple(products.split("|")), tuple(subjects.split("|")))


_RAW = {**_RETAIL, **_SERVICES}
VERTICALS: dict[str, dict[str, Topic]] = {
    v: {name: _topic(raw) for name, raw in _RAW[v].items()} for v in VERTICAL_ORDER
}
