"""The synthetic truth of a new ad text: the original's truth is the world's, a better offer
stated by its facts moves the logit by exactly the offers' difference, a text without the
ad's product loses the affinity term, and the offers of every catalog ad are read back."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit

from model_export.copy.checks import AdText
from model_export.copy.truth import TextTruth, offer_of, stated_offers
from model_export.data.clicklog import ClickLog
from model_export.data.synth import SynthConfig, synthesize_world
from model_export.data.synth_text import OFFERS
from model_export.data.synth_truth import affinity
from model_export.data.synth_world import SynthWorld, impression_affinity

CONFIG = replace(SynthConfig.small(), n_users=500, n_ads=120, n_impressions=10_000)
BEST, SIGN_UP, LEARN_MORE = 0, 6, 7  # "50% off", "Sign up today", "Learn more on our website"


@pytest.fixture(scope="module")
def synthesized() -> tuple[ClickLog, SynthWorld]:
    return synthesize_world(CONFIG)


@pytest.fixture(scope="module")
def truth(synthesized: tuple[ClickLog, SynthWorld]) -> TextTruth:
    return TextTruth(synthesized[1])


def _rows(log: ClickLog, n: int = 300) -> pd.DataFrame:
    """Audience rows: impressions of the log (user, time, context), many with affinity."""
    return log.impressions.sample(n, random_state=0).drop(columns=["ad_id", "p_true", "label"])


def _ad_with_offer(world: SynthWorld, offer: int) -> str:
    codes = np.flatnonzero(world.ads.offer == offer)
    assert len(codes), f"no ad with offer {offer} in this world"
    return str(world.ad_ids[codes[0]])


def test_every_catalog_ad_s_offer_and_product_are_read_from_its_text(
    synthesized: tuple[ClickLog, SynthWorld], truth: TextTruth
) -> None:
    world = synthesized[1]
    read = [offer_of(truth.original(str(a))) for a in world.ad_ids]
    assert read == world.ads.offer.tolist()
    assert set(read) == set(range(len(OFFERS)))  # every offer is checked here
    for ad_id in world.ad_ids[:40]:
        original = truth.original(str(ad_id))
        assert truth.product(str(ad_id)).lower() in original.title.lower()
        assert truth.names_product(str(ad_id), original)


def test_the_original_text_s_truth_is_the_world_s(
    synthesized: tuple[ClickLog, SynthWorld], truth: TextTruth
) -> None:
    log, world = synthesized
    rows = _rows(log)
    for ad_id in map(str, world.ad_ids[:10]):
        want, _ = world.truth(rows.assign(ad_id=ad_id))
        np.testing.assert_allclose(truth.p_true(ad_id, truth.original(ad_id), rows), want,
                                   rtol=1e-12, atol=0)  # fmt: skip
    logged = log.impressions.iloc[:200]  # and the log's own rows give the log's p_true
    ad_id = str(logged["ad_id"].iloc[0])
    same_ad = logged[logged["ad_id"] == ad_id]
    np.testing.assert_allclose(truth.p_true(ad_id, truth.original(ad_id), same_ad),
                               same_ad["p_true"], rtol=1e-12)  # fmt: skip


def test_a_better_offer_s_facts_raise_the_logit_by_its_effect(
    synthesized: tuple[ClickLog, SynthWorld], truth: TextTruth
) -> None:
    log, world = synthesized
    rows = _rows(log)
    ad_id = _ad_with_offer(world, SIGN_UP)
    original = truth.original(ad_id)
    pitch = original.description.split(". ", 1)[1]
    reworded = AdText(original.title, f"Save 50% for a limited time. {pitch}")  # 50% off, no phrase
    assert offer_of(reworded) == BEST
    base = logit(truth.p_true(ad_id, original, rows))
    moved = logit(truth.p_true(ad_id, reworded, rows))
    np.testing.assert_allclose(moved - base, OFFERS[BEST].effect - OFFERS[SIGN_UP].effect,
                               atol=1e-9)  # fmt: skip
    worse = AdText(original.title, f"Learn more online. {pitch}")
    lower = OFFERS[LEARN_MORE].effect - OFFERS[SIGN_UP].effect
    np.testing.assert_allclose(logit(truth.p_true(ad_id, worse, rows)) - base, lower, atol=1e-9)
    none = AdText(original.title, pitch)  # no offer at all: effect 0
    np.testing.assert_allclose(logit(truth.p_true(ad_id, none, rows)) - base,
                               -OFFERS[SIGN_UP].effect, atol=1e-9)  # fmt: skip


def test_a_text_without_the_product_loses_the_affinity(
    synthesized: tuple[ClickLog, SynthWorld], truth: TextTruth
) -> None:
    log, world = synthesized
    ad_id = str(log.impressions["ad_id"].value_counts().index[0])
    original = truth.original(ad_id)
    rows = log.impressions[log.impressions["ad_id"] == ad_id]  # shown to users who like it
    product = truth.product(ad_id)
    vague = AdText(original.title.lower().replace(product.lower(), "favourite thing"),
                   original.description)  # fmt: skip
    assert not truth.names_product(ad_id, vague)
    shouting = AdText(original.title.upper(), original.description)
    np.testing.assert_allclose(truth.p_true(ad_id, shouting, rows), rows["p_true"], rtol=1e-12)
    imps = world.impressions(rows)
    k_topic, k_vert = impression_affinity(world.history, world.ads, imps, CONFIG.history_len)
    term = affinity(k_topic, k_vert, CONFIG.topic_weight, CONFIG.vertical_weight)
    assert (term > 0).sum() > 10
    dropped = logit(truth.p_true(ad_id, vague, rows)) - logit(rows["p_true"].to_numpy())
    np.testing.assert_allclose(dropped, -term, atol=1e-9)


def test_several_offers_count_as_the_best_and_fact_less_ones_by_their_words() -> None:
    both = AdText("Sign up today", "Free shipping on every order, and BOGO on socks.")
    assert stated_offers(both) == [1, 4, 6] and offer_of(both) == 1
    assert offer_of(AdText("Try it free", "for a whole month")) is None  # the 30 days are lost
    assert offer_of(AdText("Start your free trial", "30-day, no card")) == 3
    assert offer_of(AdText("See the NEW  collection", "")) == 5
    assert offer_of(AdText("Sign-up bonus", "")) == 6
    assert offer_of(AdText("Signature style", "Learn more")) == 7
    assert offer_of(AdText("50% of people agree", "")) is None  # a percentage, not a discount


def test_an_unknown_ad_is_refused(truth: TextTruth) -> None:
    with pytest.raises(KeyError, match="not an ad of this world"):
        truth.original("no-such-ad")
