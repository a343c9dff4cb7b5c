"""Checks on a generated variant of an ad's copy: facts kept, nothing new claimed, safe, short,
distinct and close to the original. Pure logic: no language model, no encoder.

The rules, applied by ``check_variant`` (each failed rule is one reason in ``Verdict.reasons``):

- ``fact_missing:<fact>`` — every fact of the original (title and description read together, so a
  fact may move between fields) is in the variant. Facts (``extract_facts``):
  money (``$61.96``, ``61.96 USD``, ``€5``; equal by currency and value, so ``$62`` is not
  ``$61.96`` and ``$61.90`` is ``$61.9``), discounts (``50% off``, ``save 50%``, ``50%
  discount`` → ``50% off``; ``buy one, get one free`` / ``BOGO``; ``free shipping``; ``free
  trial`` / ``try it free``), other percentages (``99%``), other numbers with their unit when the
  next word is a known unit (``30 days`` = ``30-day``, ``4.8 out of 5`` → ``4.8`` and ``5``;
  ``five`` … ``twelve`` read as digits, ``a million`` as ``1000000``; "one" is not a number, it
  is too often a pronoun; a number with letters stuck to it is a code: ``4K``, ``5G``), and
  brands. Qualifiers ("from", "only", "up to", "over") are not
  checked.
- ``new_claim:<fact>`` — the variant has no fact the original lacks: no new number, amount,
  percentage, discount or brand.
- Brands: with a caller-given set (e.g. the catalog's advertisers), the members of the set that
  occur in the text as whole words, case-insensitively (a variant naming another brand of the
  set is a new claim); with no set, the capitalised tokens of the text (``Velvik``, ``OLED``)
  except common sentence starters (``STARTERS``: "Shop", "The", "Get", …).
- ``unsafe`` — the title or description contains a word that better-profanity flags (its own
  word list with its letter substitutions), or that the caller's ``is_unsafe`` flags.
- ``too_long:title`` / ``too_long:description`` — a field is longer (in characters, after
  stripping outer whitespace) than ``Limits``.
- ``duplicate`` — title and description equal the original's, or an earlier variant's, after
  case folding and collapsing whitespace.
- ``too_dissimilar`` — the cosine of the original's and the variant's vectors (computed by the
  caller's encoder, passed in) is below ``Limits.min_similarity``; not checked without vectors.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

Vector = Sequence[float]
UnsafeFilter = Callable[[str], bool]


class AdText(NamedTuple):
    """The copy of one ad (the fields a variant rewrites)."""

    title: str
    description: str = ""


@dataclass(frozen=True)
class Limits:
    """Length limits per field and the similarity floor.

    Title ≤ 60 and description ≤ 90 characters: the synthetic catalog's longest title is 59 and
    its longest description (offer, pitch and "From $1,234.56.") 89, so a faithful rewrite of any
    catalog ad fits while a variant that pads its text does not; 90 is also the description limit
    of Google's responsive search ads. The similarity floor 0.6 is a starting point for the
    serving encoder's cosine (paraphrases of a short ad score well above it), to be tuned on the
    generated variants.
    """

    title: int = 60
    description: int = 90
    min_similarity: float = 0.6


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, order=True)
class Fact:
    """One checkable claim: ``kind`` is money, discount, percent, number or brand; ``key`` its
    canonical text (``$61.96``, ``50% off``, ``30 day``, ``Velvik``), which is what is compared."""

    kind: str
    key: str

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class Facts:
    """The facts of a text, in two sets: brands and the rest (numbers, amounts, discounts)."""

    brands: frozenset[Fact] = frozenset()
    claims: frozenset[Fact] = frozenset()

    @property
    def all(self) -> frozenset[Fact]:
        return self.brands | self.claims


@dataclass(frozen=True)
class Verdict:
    kept: bool
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Filtered:
    """``filter_variants``' answer: the kept variants in order, the dropped ones with reasons."""

    kept: list[AdText]
    dropped: list[tuple[AdText, list[str]]]


_STARTER_WORDS = (
    "a an the this that these our your my we you it its get shop buy try sign learn join new "
    "free rated made designed trusted loved quality fast limited discover meet save find order "
    "book start explore enjoy see now just only up from with for and or by all every best top "
    "great why what how over introducing upgrade make take treat give"
)
STARTERS = frozenset(_STARTER_WORDS.split())
_CURRENCY = {"$": "$", "€": "€", "£": "£", "usd": "$", "dollar": "$", "dollars": "$",
             "eur": "€", "euro": "€", "euros": "€", "gbp": "£"}  # fmt: skip
_UNITS = {"yr": "year", "yrs": "year", "hr": "hour", "hrs": "hour", "min": "minute",
          "mins": "minute", "lbs": "lb", "inches": "inch"}  # fmt: skip
_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a": 1, "one": 1}  # fmt: skip
_SCALES = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_UNIT = (  # a known unit after the number, or no letter right after it (4K is a code)
    r"(?:[\s-]?(?P<unit>days?|weeks?|months?|years?|yrs?|hours?|hrs?|minutes?|mins?|nights?"
    r"|stars?|miles?|km|kg|lbs?|gb|tb|inch(?:es)?|ml|oz|packs?|pieces?|items?)\b|(?!\w))"
)
_NUMBER_WORD = r"(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("bogo", re.compile(r"\b(?:buy (?:one|1),? get (?:one|1)(?: free)?|bogo)\b", re.I)),
    ("free shipping", re.compile(r"\b(?:free (?:shipping|delivery)|ships? free)\b", re.I)),
    ("free trial", re.compile(r"\b(?:free trial|try (?:it |us )?(?:for )?free)\b", re.I)),
    ("money", re.compile(rf"(?P<cur>[$€£])\s?(?P<num>{_NUM})", re.I)),
    ("money", re.compile(rf"(?P<num>{_NUM})\s?(?P<cur>usd|eur|gbp|dollars?|euros?)\b", re.I)),
    ("percent", re.compile(
        rf"(?P<save>\bsave (?:up to )?)?(?P<num>{_NUM})\s?(?:%|percent\b|per cent\b)"
        r"(?P<off>\s(?:off|discount)\b)?", re.I)),
    ("scaled", re.compile(
        rf"\b(?P<num>{_NUM}|a|one|{_NUMBER_WORD})\s(?P<scale>thousand|million|billion)\b", re.I)),
    ("number", re.compile(rf"(?<![\w.])(?P<num>{_NUM}|\b{_NUMBER_WORD}\b){_UNIT}", re.I)),
    ("code", re.compile(r"(?<![\w.])\d+[a-z]+\b", re.I)),
)  # fmt: skip
_CAPITALISED = re.compile(r"\b[A-Z][\w&-]*")
_WS = re.compile(r"\s+")
_WORD = re.compile(r"[\w&-]+")


def _value(num: str) -> Decimal:
    word = _WORDS.get(num.lower())
    return Decimal(word) if word is not None else Decimal(num.replace(",", ""))


def _plain(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _fact(kind: str, m: re.Match[str]) -> Fact:
    """The fact one match of ``_PATTERNS[kind]`` states, in canonical form."""
    if kind in ("bogo", "free shipping", "free trial"):
        return Fact("discount", "buy one get one free" if kind == "bogo" else kind)
    if kind == "code":
        return Fact("number", m[0].upper())
    value = _value(m["num"])
    if kind == "money":
        cents = value != value.to_integral_value()
        return Fact("money", f"{_CURRENCY[m['cur'].lower()]}{value:,.2f}" if cents
                    else f"{_CURRENCY[m['cur'].lower()]}{value:,.0f}")  # fmt: skip
    if kind == "percent":
        off = m["save"] or m["off"]
        return Fact("discount" if off else "percent", f"{_plain(value)}%" + (" off" if off else ""))
    if kind == "scaled":
        return Fact("number", _plain(value * _SCALES[m["scale"].lower()]))
    unit = (m["unit"] or "").lower()
    unit = _UNITS.get(unit, unit.rstrip("s") if unit.endswith("s") and len(unit) > 2 else unit)
    return Fact("number", f"{_plain(value)} {unit}".strip())


def _claims(text: str) -> tuple[frozenset[Fact], str]:
    """Numbers, amounts, percentages and discounts, and the text with their spans blanked; each
    span counts once, the first pattern that reads it wins (``$61.96`` is money, not also the
    number 61.96)."""
    found: set[Fact] = set()
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            found.add(_fact(kind, m))
        text = pattern.sub(lambda m: " " * len(m[0]), text)
    return frozenset(found), text


def _joined(text: AdText | str) -> str:
    return text if isinstance(text, str) else f"{text.title}\n{text.description}"


def brand_candidates(text: AdText | str) -> frozenset[str]:
    """Brands when the caller gives none: capitalised tokens outside the claims' spans (not
    "USD", "BOGO") that are not ``STARTERS`` (the part before a hyphen is what is looked up, so
    "Limited-time" is a starter)."""
    tokens = _CAPITALISED.findall(_claims(_joined(text))[1])
    return frozenset(t for t in tokens if t.split("-")[0].lower() not in STARTERS)


def extract_facts(text: AdText | str, brands: Collection[str] | None = None) -> Facts:
    """The facts of an ad's title and description (see the module's docstring). Brands are the
    members of ``brands`` that occur as whole words, case-insensitively, in the spelling of
    ``brands``; with ``brands=None``, ``brand_candidates`` of the text."""
    joined = _joined(text)
    names = brand_candidates(joined) if brands is None else brands
    found = frozenset(
        Fact("brand", b) for b in names if re.search(rf"(?<!\w){re.escape(b)}(?!\w)", joined, re.I)
    )
    return Facts(found, _claims(joined)[0])


def _pair_facts(
    original: AdText, variant: AdText, brands: Collection[str] | None
) -> tuple[Facts, Facts]:
    """Both texts' facts, brands read with one list: the caller's, or else the original's
    candidates plus the variant's candidates that are not words of the original in any case
    (its new brands: "PUPPY" in a shouted rewrite of "Velvik puppy food" is not one)."""
    if brands is not None:
        return extract_facts(original, brands), extract_facts(variant, brands)
    known = brand_candidates(original)
    text = _joined(original)
    words = {w.casefold() for w in _WORD.findall(text) + re.findall(r"[\w&]+", text)}
    extra = {b for b in brand_candidates(variant) if b.casefold() not in words}
    return extract_facts(original, known), extract_facts(variant, known | extra)


def _fact_reasons(original: Facts, variant: Facts) -> list[str]:
    missing = sorted(original.all - variant.all)
    new = sorted(variant.all - original.all)
    return [f"fact_missing:{f}" for f in missing] + [f"new_claim:{f}" for f in new]


_profanity: UnsafeFilter | None = None


def default_unsafe(text: str) -> bool:
    """better-profanity's word list (its own instance, loaded once on first use; about 8 ms a
    call on a catalog ad, one call per variant)."""
    global _profanity
    if _profanity is None:
        from better_profanity import Profanity

        checker = Profanity()
        checker.load_censor_words()
        _profanity = checker.contains_profanity
    return _profanity(text)


def _length_reasons(variant: AdText, limits: Limits) -> list[str]:
    sizes = (("title", variant.title, limits.title),
             ("description", variant.description, limits.description))  # fmt: skip
    return [f"too_long:{name}" for name, text, limit in sizes if len(text.strip()) > limit]


def _fold(text: str) -> str:
    return _WS.sub(" ", text).strip().casefold()


def dedup_key(text: AdText) -> tuple[str, str]:
    """What two copies must share to be duplicates: the fields, case-folded, spaces collapsed."""
    return _fold(text.title), _fold(text.description)


def cosine(a: Vector, b: Vector) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def check_variant(
    original: AdText,
    variant: AdText,
    *,
    brands: Collection[str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    vectors: tuple[Vector, Vector] | None = None,
    earlier: Collection[tuple[str, str]] = (),
    is_unsafe: UnsafeFilter = default_unsafe,
) -> Verdict:
    """Every rule on one variant. ``vectors`` = (original's, variant's) encoder vectors, if the
    similarity floor is to be checked; ``earlier`` = ``dedup_key`` of variants already seen."""
    reasons = _fact_reasons(*_pair_facts(original, variant, brands))
    if is_unsafe(f"{variant.title}\n{variant.description}"):
        reasons.append("unsafe")
    reasons += _length_reasons(variant, limits)
    key = dedup_key(variant)
    if key == dedup_key(original) or key in earlier:
        reasons.append("duplicate")
    if vectors is not None and cosine(*vectors) < limits.min_similarity:
        reasons.append("too_dissimilar")
    return Verdict(not reasons, reasons)


def _variant_vectors(
    original: AdText,
    variants: Sequence[AdText],
    encode: Callable[[AdText], Vector] | None,
    vectors: Sequence[Vector] | None,
) -> list[tuple[Vector, Vector] | None]:
    if encode is not None and vectors is not None:
        raise ValueError("pass encode or vectors, not both")
    if encode is not None:
        vectors = [encode(original), *(encode(v) for v in variants)]
    if vectors is None:
        return [None] * len(variants)
    if len(vectors) != len(variants) + 1:
        raise ValueError(f"vectors: the original's then one per variant, {len(variants) + 1} "
                         f"expected, {len(vectors)} given")  # fmt: skip
    return [(vectors[0], v) for v in vectors[1:]]


def filter_variants(
    original: AdText,
    variants: Sequence[AdText],
    *,
    brands: Collection[str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    encode: Callable[[AdText], Vector] | None = None,
    vectors: Sequence[Vector] | None = None,
    is_unsafe: UnsafeFilter = default_unsafe,
) -> Filtered:
    """``check_variant`` on each variant in order; a variant equal to an earlier one (kept or
    not) is a duplicate. Similarity from ``encode`` (called on the original and each variant) or
    precomputed ``vectors`` (the original's first, then one per variant), or not checked."""
    pairs = _variant_vectors(original, variants, encode, vectors)
    kept: list[AdText] = []
    dropped: list[tuple[AdText, list[str]]] = []
    seen: set[tuple[str, str]] = set()
    for variant, pair in zip(variants, pairs, strict=True):
        verdict = check_variant(original, variant, brands=brands, limits=limits, vectors=pair,
                                earlier=seen, is_unsafe=is_unsafe)  # fmt: skip
        seen.add(dedup_key(variant))
        if verdict.kept:
            kept.append(variant)
        else:
            dropped.append((variant, verdict.reasons))
    return Filtered(kept, dropped)
