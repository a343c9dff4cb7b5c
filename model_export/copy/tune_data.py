"""Fine-tuning pairs for the ad-copy generator: (ad, rewrite) pairs of the synthetic catalog.

A synthetic ad is ``template(brand, product)`` for the title and ``offer. pitch From $price.``
for the description (``model_export.data.synth_text.ad_copy``, the price added by
``synth.synthesize``). Two ads are rewrites of one another when they share brand, product and
offer and differ in template or pitch. The catalog holds few such pairs (102 ordered pairs among
the 1,200 ads of data/synth-default), so each ad is also re-rendered with the catalog's own
grammar: another title template and a pitch stating the same facts (the same pitch when it has
numbers, "Rated 4.8 out of 5"; any fact-free pitch otherwise). A rewrite always keeps the
source's price (the two ads of a mined pair were priced apart, a rewrite may not change a
price), and every pair is kept only if the checks of ``checks.check_variant`` accept the rewrite:
the model is taught only what the filter lets through.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from model_export.copy.checks import AdText, check_variant, extract_facts
from model_export.data.synth_catalog import VERTICALS
from model_export.data.synth_text import AD_TEMPLATES, OFFERS, PITCHES

Pair = tuple[AdText, AdText]
_DESCRIPTION = re.compile(r"^(?P<offer>.+?)\. (?P<pitch>.+?\.)(?: From (?P<price>\S+?)\.)?$")


class CatalogAd(NamedTuple):
    """The parts a synthetic ad is made of."""

    template: str
    brand: str
    product: str
    offer: str
    pitch: str
    price: str  # "$89.90", or "" when the log has no prices

    def text(self) -> AdText:
        title = self.template.format(brand=self.brand, x=self.product)
        price = f" From {self.price}." if self.price else ""
        return AdText(title[:1].upper() + title[1:], f"{self.offer}. {self.pitch}{price}")


def _template_pattern(template: str) -> re.Pattern[str]:
    pattern = re.escape(template).replace(r"\{brand\}", r"(?P<brand>[^\s:]+)")
    return re.compile("^" + pattern.replace(r"\{x\}", r"(?P<x>.+?)") + "$", re.I)


_TEMPLATES = [(t, _template_pattern(t)) for t in AD_TEMPLATES]
_OFFERS = {o.phrase for o in OFFERS}
_PRODUCTS = {
    p.lower(): p for topics in VERTICALS.values() for t in topics.values() for p in t.products
}


def parse_catalog_ad(ad: AdText) -> CatalogAd | None:
    """The parts of a synthetic catalog ad, or None for a text the grammar did not make."""
    m = _DESCRIPTION.match(ad.description)
    if m is None or m["offer"] not in _OFFERS or m["pitch"] not in PITCHES:
        return None
    for template, pattern in _TEMPLATES:
        t = pattern.match(ad.title)
        product = _PRODUCTS.get(t["x"].lower()) if t is not None else None
        if t is not None and product is not None:  # the catalog's casing: "{x} by …" capitalises
            return CatalogAd(
                template, t["brand"], product, m["offer"], m["pitch"], m["price"] or ""
            )
    return None


def read_catalog(data_dir: Path) -> list[CatalogAd]:
    """The ads of a synthetic log's ads.jsonl that the catalog grammar reads."""
    lines = (Path(data_dir) / "ads.jsonl").read_text().splitlines()
    rows = (json.loads(line) for line in lines if line.strip())
    parsed = (parse_catalog_ad(AdText(r["title"], r.get("description") or "")) for r in rows)
    return [ad for ad in parsed if ad is not None]


def mined_pairs(ads: Iterable[CatalogAd]) -> list[Pair]:
    """Ordered pairs of distinct ads with the same brand, product and offer, the rewrite priced
    as the source."""
    groups: dict[tuple[str, str, str], list[CatalogAd]] = defaultdict(list)
    for ad in ads:
        groups[(ad.brand.lower(), ad.product.lower(), ad.offer)].append(ad)
    return [(a.text(), b._replace(price=a.price).text())
            for group in groups.values() for a in group for b in group if a is not b]  # fmt: skip


def _same_fact_pitches(pitch: str) -> list[str]:
    """Pitches that state exactly the facts ``pitch`` states."""
    facts = extract_facts(pitch, brands=()).all
    return [p for p in PITCHES if extract_facts(p, brands=()).all == facts]


def rerendered_pairs(ads: Iterable[CatalogAd], per_ad: int, seed: int) -> list[Pair]:
    """Up to ``per_ad`` rewrites of each ad: another template, a pitch with the same facts."""
    rng = np.random.default_rng(seed)
    pairs: list[Pair] = []
    for ad in ads:
        templates = [t for t in AD_TEMPLATES if t != ad.template]
        pitches = _same_fact_pitches(ad.pitch)
        for i in rng.permutation(len(templates))[:per_ad]:
            pitch = pitches[int(rng.integers(len(pitches)))]
            pairs.append((ad.text(), ad._replace(template=templates[i], pitch=pitch).text()))
    return pairs


def accepted(pairs: Iterable[Pair]) -> list[Pair]:
    """The pairs whose rewrite passes every check against its source (duplicates of the source
    included: the same title and description are no rewrite)."""
    return [(a, b) for a, b in pairs if check_variant(a, b, is_unsafe=lambda _: False).kept]


def training_pairs(data_dir: Path, per_ad: int = 2, seed: int = 0) -> list[Pair]:
    """Every accepted pair of a synthetic log's catalog, mined ones first, then re-rendered."""
    ads = read_catalog(data_dir)
    return accepted(mined_pairs(ads)) + accepted(rerendered_pairs(ads, per_ad, seed))
