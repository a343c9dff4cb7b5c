"""Fine-tuning pairs from a synthetic catalog: the catalog grammar read back, mined and
re-rendered rewrites keep brand, product, offer, price and facts, the checks gate every pair."""

import json
from pathlib import Path

import pytest

from model_export.copy.checks import AdText, extract_facts
from model_export.copy.tune_data import (
    CatalogAd,
    accepted,
    mined_pairs,
    parse_catalog_ad,
    read_catalog,
    rerendered_pairs,
    training_pairs,
)
from model_export.data.synth_text import AD_TEMPLATES, OFFERS, PITCHES

SHOES = CatalogAd("{brand} {x}", "Velvik", "trail running shoes", "Limited-time deal: 50% off",
                  "Rated 4.8 out of 5 by our users.", "$89.90")  # fmt: skip


@pytest.mark.parametrize("template", AD_TEMPLATES)
@pytest.mark.parametrize("pitch", PITCHES)
def test_every_template_and_pitch_reads_back(template: str, pitch: str) -> None:
    ad = SHOES._replace(template=template, pitch=pitch)
    assert parse_catalog_ad(ad.text()) == ad


def test_a_capitalised_product_keeps_the_catalogs_casing() -> None:
    ad = CatalogAd("{x} by {brand}", "Brioly", "SAT prep course", "Sign up today",
                   "Fast, simple and hassle-free.", "$99.00")  # fmt: skip
    assert ad.text().title == "SAT prep course by Brioly"
    assert parse_catalog_ad(ad.text()) == ad
    razor = parse_catalog_ad(AdText("Double-edge safety razor by Kestora",
                                    "Sign up today. Fast, simple and hassle-free."))  # fmt: skip
    assert razor is not None and razor.product == "double-edge safety razor" and not razor.price


@pytest.mark.parametrize(
    "ad",
    [
        AdText("Velvik trail running shoes", "Huge sale today. Rated 4.8 out of 5 by our users."),
        AdText("Velvik's amazing trail running shoes", SHOES.text().description),
        AdText("Velvik magic carpet", SHOES.text().description),  # not a catalog product
    ],
)
def test_texts_the_grammar_did_not_make_are_none(ad: AdText) -> None:
    assert parse_catalog_ad(ad) is None


def test_mined_pairs_share_brand_product_and_offer_and_keep_the_price() -> None:
    twin = SHOES._replace(template="Shop the {brand} {x}", pitch="Fast, simple and hassle-free.",
                          price="$79.00")  # fmt: skip
    other_offer = SHOES._replace(offer=OFFERS[1].phrase)
    pairs = mined_pairs([SHOES, twin, other_offer])
    assert pairs == [(SHOES.text(), twin._replace(price="$89.90").text()),
                     (twin.text(), SHOES._replace(price="$79.00").text())]  # fmt: skip


def test_rerendered_pairs_change_the_title_and_keep_the_facts() -> None:
    plain = SHOES._replace(pitch="Designed with care, built to last.")
    pairs = rerendered_pairs([SHOES, plain], per_ad=3, seed=0)
    assert len(pairs) == 6
    for source, rewrite in pairs:
        assert source.title != rewrite.title
        assert extract_facts(source, {"Velvik"}) == extract_facts(rewrite, {"Velvik"})
    assert all("Rated 4.8 out of 5" in r.description for s, r in pairs if "4.8" in s.description)
    assert rerendered_pairs([SHOES], per_ad=3, seed=0) == pairs[:3]  # deterministic


def test_the_checks_gate_the_pairs() -> None:
    long_title = AdText("Velvik: the trail running shoes everyone wants, in every size",
                        SHOES.text().description)  # fmt: skip
    new_price = AdText(
        "Shop the Velvik trail running shoes",
        "Limited-time deal: 50% off. Rated 4.8 out of 5 by our users. From $9.90.",
    )
    same = SHOES.text()
    good = SHOES._replace(template="{x} by {brand}").text()
    pairs = [(same, long_title), (same, new_price), (same, same), (same, good)]
    assert accepted(pairs) == [(same, good)]


def test_training_pairs_of_an_ads_file(tmp_path: Path) -> None:
    rows = [{"ad_id": "a0", "title": t.title, "description": t.description}
            for t in (SHOES.text(), SHOES._replace(template="{x} by {brand}").text(),
                      AdText("Not a catalog ad", "Whatever."))]  # fmt: skip
    (tmp_path / "ads.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert len(read_catalog(tmp_path)) == 2
    pairs = training_pairs(tmp_path, per_ad=1, seed=0)
    assert pairs[:2] == [(rows_text(rows[0]), rows_text(rows[1])),
                         (rows_text(rows[1]), rows_text(rows[0]))]  # fmt: skip
    assert len(pairs) == 4


def rows_text(row: dict[str, str]) -> AdText:
    return AdText(row["title"], row["description"])
