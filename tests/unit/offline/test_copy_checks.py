"""Checks on generated ad copy variants: crafted cases for each rule, with the reasons named."""

import pytest

from model_export.copy.checks import (
    AdText,
    Fact,
    Limits,
    check_variant,
    extract_facts,
    filter_variants,
)
from model_export.data.synth_text import OFFERS, PITCHES

ORIGINAL = AdText(
    "Shop the Velvik puppy food",
    "Limited-time deal: 50% off. Rated 4.8 out of 5 by our users. From $61.96.",
)
BRANDS = {"Velvik", "Korvik", "Brioly"}
FAITHFUL = AdText(
    "Velvik puppy food, now 50% off",
    "Rated 4.8 out of 5 by owners. A limited-time deal, from $61.96.",
)


def safe(_: str) -> bool:
    return False


def reasons(variant: AdText, **kw: object) -> list[str]:
    kw.setdefault("brands", BRANDS)
    kw.setdefault("is_unsafe", safe)
    return check_variant(ORIGINAL, variant, **kw).reasons  # type: ignore[arg-type]


def test_facts_of_a_catalog_ad() -> None:
    facts = extract_facts(ORIGINAL, BRANDS)
    assert facts.brands == {Fact("brand", "Velvik")}
    assert {str(f) for f in facts.claims} == {"50% off", "4.8", "5", "$61.96"}
    # with no brand set, the capitalised tokens that are not sentence starters
    assert {str(f) for f in extract_facts(ORIGINAL).brands} == {"Velvik"}


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Try it free for 30 days", "30-day free trial"),
        ("From $61.90", "only 61.9 USD"),
        ("Trusted by over a million customers", "1,000,000 customers trust us"),
        ("Save 30% today", "30 percent off today"),
        ("Buy one, get one free", "BOGO on every bag"),
        ("Five tips", "5 tips"),
    ],
)
def test_the_same_fact_in_other_words(a: str, b: str) -> None:
    assert extract_facts(a).claims == extract_facts(b).claims


def test_a_faithful_rewrite_is_kept() -> None:
    for brands in (BRANDS, None):
        verdict = check_variant(ORIGINAL, FAITHFUL, brands=brands, is_unsafe=safe)
        assert verdict.kept and verdict.reasons == []
    # and better-profanity (the default filter) passes it too
    assert check_variant(ORIGINAL, FAITHFUL, brands=BRANDS).kept


def test_a_changed_price_is_dropped() -> None:
    variant = FAITHFUL._replace(description="Rated 4.8 out of 5 by owners. Limited-time, $59.99.")
    assert reasons(variant) == ["fact_missing:$61.96", "new_claim:$59.99"]
    rounded = FAITHFUL._replace(description="Rated 4.8 out of 5 by owners. Limited-time, $62.")
    assert reasons(rounded) == ["fact_missing:$61.96", "new_claim:$62"]


def test_a_dropped_discount_is_dropped() -> None:
    assert reasons(FAITHFUL._replace(title="Velvik puppy food")) == ["fact_missing:50% off"]
    changed = FAITHFUL._replace(title="Velvik puppy food, now 60% off")
    assert reasons(changed) == ["fact_missing:50% off", "new_claim:60% off"]


def test_a_dropped_brand_or_number_is_dropped() -> None:
    assert reasons(FAITHFUL._replace(title="Puppy food, now 50% off")) == ["fact_missing:Velvik"]
    no_rating = FAITHFUL._replace(description="Loved by owners. A limited-time deal, from $61.96.")
    assert reasons(no_rating) == ["fact_missing:4.8", "fact_missing:5"]


def test_a_new_brand_is_dropped() -> None:
    variant = FAITHFUL._replace(title="Velvik puppy food, 50% off, as good as Korvik")
    assert reasons(variant) == ["new_claim:Korvik"]
    # with no brand set, a capitalised token the original does not have is a new brand
    other = FAITHFUL._replace(title="Velvik puppy food, 50% off, vet-approved by Purina")
    assert reasons(other, brands=None) == ["new_claim:Purina"]


def test_a_new_number_or_offer_is_dropped() -> None:
    variant = FAITHFUL._replace(title="Velvik puppy food, 50% off, 10,000 fans")
    assert reasons(variant) == ["new_claim:10000"]
    shipping = FAITHFUL._replace(title="Velvik puppy food, 50% off, free shipping")
    assert reasons(shipping) == ["new_claim:free shipping"]


def test_an_unsafe_word_is_dropped() -> None:
    variant = FAITHFUL._replace(title="Damn good Velvik puppy food, 50% off")
    assert check_variant(ORIGINAL, variant, brands=BRANDS).reasons == ["unsafe"]
    # a caller's own filter replaces the package's
    assert reasons(FAITHFUL, is_unsafe=lambda text: "puppy" in text) == ["unsafe"]


def test_too_long_fields_are_dropped() -> None:
    long_title = FAITHFUL._replace(title="Velvik puppy food, now 50% off, " + "tasty " * 6)
    assert len(long_title.title) > Limits().title
    assert reasons(long_title) == ["too_long:title"]
    long_description = FAITHFUL._replace(description=FAITHFUL.description + " Yum" * 8)
    assert reasons(long_description) == ["too_long:description"]
    assert reasons(FAITHFUL, limits=Limits(title=20, description=40)) == [
        "too_long:title",
        "too_long:description",
    ]


def test_the_limits_fit_the_catalogs_longest_description() -> None:
    offer = max((o.phrase for o in OFFERS), key=len)
    pitch = max(PITCHES, key=len)
    assert len(f"{offer}. {pitch} From $9,999.99.") <= Limits().description


def test_a_copy_of_the_original_is_a_duplicate() -> None:
    shouted = AdText("  SHOP the velvik   Puppy Food ", ORIGINAL.description.upper())
    assert reasons(shouted) == ["duplicate"]
    assert reasons(shouted, brands=None) == ["duplicate"]


def test_a_copy_of_an_earlier_variant_is_a_duplicate() -> None:
    again = AdText(FAITHFUL.title.lower(), "  " + FAITHFUL.description.replace(" ", "  "))
    result = filter_variants(ORIGINAL, [FAITHFUL, again], brands=BRANDS, is_unsafe=safe)
    assert result.kept == [FAITHFUL]
    assert result.dropped == [(again, ["duplicate"])]


def test_below_the_similarity_floor_is_dropped() -> None:
    assert reasons(FAITHFUL, vectors=([1.0, 0.0], [0.0, 1.0])) == ["too_dissimilar"]
    assert reasons(FAITHFUL, vectors=([1.0, 0.0], [0.9, 0.1])) == []
    close = AdText("Velvik puppy food at 50% off", FAITHFUL.description)

    def encode(text: AdText) -> list[float]:  # a toy encoder: the variant far from the rest
        return [0.0, 1.0] if text == FAITHFUL else [1.0, 0.1]

    result = filter_variants(ORIGINAL, [FAITHFUL, close], brands=BRANDS, encode=encode,
                             is_unsafe=safe)  # fmt: skip
    assert result.kept == [close]
    assert result.dropped == [(FAITHFUL, ["too_dissimilar"])]
    precomputed = filter_variants(ORIGINAL, [FAITHFUL, close], brands=BRANDS,
                                  vectors=[[1, 0], [0, 1], [1, 0.1]], is_unsafe=safe)  # fmt: skip
    assert precomputed == result


def test_vectors_must_match_the_variants() -> None:
    with pytest.raises(ValueError, match="one per variant"):
        filter_variants(ORIGINAL, [FAITHFUL], vectors=[[1.0, 0.0]], is_unsafe=safe)
    with pytest.raises(ValueError, match="not both"):
        filter_variants(ORIGINAL, [FAITHFUL], vectors=[[1.0], [1.0]], encode=lambda t: [1.0])


def test_every_failed_rule_is_named() -> None:
    variant = AdText("Korvik puppy food " + "x" * 60, ORIGINAL.description)
    assert reasons(variant, vectors=([1.0, 0.0], [0.0, 1.0])) == [
        "fact_missing:Velvik",
        "new_claim:Korvik",
        "too_long:title",
        "too_dissimilar",
    ]
