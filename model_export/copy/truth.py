"""The synthetic platform's true click probability of a NEW text of one of its ads.

The click truth (``data/synth_truth.py``) is ``logit = base + offer + quality + affinity +
context``. A new text of an existing ad keeps the ad's quality and, shown to the same user at
the same time in the same context, the context term; what the text says changes two terms:

- ``offer``: the effect of the offer of ``synth_text.OFFERS`` the text states. An offer is
  stated when the text has all of its facts (``checks.extract_facts`` of its phrase: ``50%
  off``; ``buy one get one free``; ``30% off``; ``free trial`` and ``30 day``; ``free
  shipping``), or, for the offers without facts, its key words (``new collection``, ``sign
  up``, ``learn more``). A text stating several takes the best of them (the one with the
  largest effect); a text stating none has an offer effect of 0.
- ``affinity``: holds only while the text names the ad's product (the catalog's product
  string of the ad's topic that its original title names, case-insensitively, as whole
  words); a text that drops it loses its fine topic, and the affinity term is 0.

Everything else is the world's own: ``SynthWorld.impressions`` reads the rows, the affinity
counts come from ``impression_affinity`` and the logit from ``ClickTruth.logit`` — so the
original text's truth is exactly ``SynthWorld.truth``'s.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from model_export.copy.checks import AdText, extract_facts
from model_export.data.synth_catalog import VERTICALS
from model_export.data.synth_text import OFFERS
from model_export.data.synth_truth import OFFER_EFFECT, sigmoid
from model_export.data.synth_world import SynthWorld, impression_affinity

# the key words that state an offer whose phrase states no fact
KEY_WORDS = {"New collection available now": "new collection", "Sign up today": "sign up",
             "Learn more on our website": "learn more"}  # fmt: skip


def _offer_facts(phrase: str) -> frozenset[str]:
    return frozenset(f.key for f in extract_facts(phrase, brands=()).claims)


OFFER_FACTS: tuple[frozenset[str], ...] = tuple(_offer_facts(o.phrase) for o in OFFERS)
OFFER_WORDS: dict[int, str] = {
    i: KEY_WORDS[o.phrase] for i, o in enumerate(OFFERS) if not OFFER_FACTS[i]
}


def _joined(text: AdText) -> str:
    return f"{text.title}\n{text.description}"


def _names(text: str, words: str) -> bool:
    """``words`` occur in ``text`` as whole words, case-insensitively (any spacing or a
    hyphen between them)."""
    parts = [re.escape(w) for w in words.split()]
    return re.search(r"(?<!\w)" + r"[\s-]+".join(parts) + r"(?!\w)", text, re.I) is not None


def stated_offers(text: AdText) -> list[int]:
    """The indices into ``OFFERS`` of every offer the text states."""
    facts = {f.key for f in extract_facts(text, brands=()).claims}
    joined = _joined(text)
    return [
        i
        for i, needed in enumerate(OFFER_FACTS)
        if (needed and needed <= facts) or (i in OFFER_WORDS and _names(joined, OFFER_WORDS[i]))
    ]


def offer_of(text: AdText) -> int | None:
    """The offer the text states (the best of several), None when it states none."""
    stated = stated_offers(text)
    return max(stated, key=lambda i: OFFERS[i].effect) if stated else None


def offer_effect(text: AdText) -> float:
    """The click logit effect of the offer the text states (0 without one)."""
    offer = offer_of(text)
    return 0.0 if offer is None else float(OFFER_EFFECT[offer])


class TextTruth:
    """True click probabilities of new texts of the world's ads (see the module's docstring)."""

    def __init__(self, world: SynthWorld) -> None:
        self.world = world
        self._code = {str(a): i for i, a in enumerate(world.ad_ids)}

    def code(self, ad_id: str) -> int:
        if ad_id not in self._code:
            raise KeyError(f"ad {ad_id!r} is not an ad of this world")
        return self._code[ad_id]

    def original(self, ad_id: str) -> AdText:
        ads, a = self.world.ads, self.code(ad_id)
        return AdText(str(ads.title[a]), str(ads.description[a]))

    def product(self, ad_id: str) -> str:
        """The product string of the ad's topic its title names (the longest, if several)."""
        ads, catalog, a = self.world.ads, self.world.catalog, self.code(ad_id)
        topic = VERTICALS[catalog.verticals[ads.vertical[a]]][catalog.topics[ads.topic[a]]]
        named = [p for p in topic.products if _names(str(ads.title[a]), p)]
        if not named:
            raise ValueError(f"ad {ad_id!r}: its title names none of its topic's products")
        return max(named, key=len)

    def names_product(self, ad_id: str, text: AdText) -> bool:
        return _names(_joined(text), self.product(ad_id))

    def p_true(self, ad_id: str, text: AdText, rows: pd.DataFrame) -> np.ndarray:
        """The true click probability of ``text`` as the copy of ``ad_id`` for each row of
        ``rows`` (the log's impression columns ``user_id``, ``ts``, ``ctx_*``; their
        ``ad_id``, if any, is ignored)."""
        return self.p_true_many(ad_id, [text], rows)[0]

    def p_true_many(self, ad_id: str, texts: Sequence[AdText], rows: pd.DataFrame) -> np.ndarray:
        """(texts, rows): ``p_true`` of several texts, the world's terms computed once."""
        world, a = self.world, self.code(ad_id)
        imps = world.impressions(rows.assign(ad_id=ad_id))
        k_topic, k_vert = impression_affinity(
            world.history, world.ads, imps, world.config.history_len
        )
        no_topic = np.zeros_like(k_topic)
        with_affinity = world.click.logit(world.ads, imps, k_topic, k_vert)
        without = world.click.logit(world.ads, imps, no_topic, no_topic)
        own_offer = float(OFFER_EFFECT[world.ads.offer[a]])
        out = np.empty((len(texts), len(rows)))
        for i, text in enumerate(texts):
            logit = with_affinity if self.names_product(ad_id, text) else without
            out[i] = sigmoid(world.click.base + logit + (offer_effect(text) - own_offer))
        return out
