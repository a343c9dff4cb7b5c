"""One ad's copy end to end on the tiny bundle and the log it was trained on: the audience of
the log's test rows (each user's behaviour before the row, the row's context), a scripted
generator's variants checked (dropped with reasons), the survivors scored by the real model
and by the synthetic truth. The generator is the only stand-in: its variants are chosen so
each check and each truth term is exercised."""

from pathlib import Path

import numpy as np
import pytest

from model_export.copy.audiences import (
    data_audience,
    events_before,
    parse_audience,
    sample_test_rows,
)
from model_export.copy.checks import AdText
from model_export.copy.pipeline import CopyAd, CopyResult, ScoredText, rewrite_ad
from model_export.copy.truth import TextTruth, offer_of
from model_export.data.clicklog import ClickLog
from model_export.data.synth import SynthConfig, synthesize_world
from model_export.data.synth_text import OFFERS
from model_export.data.synth_world import SynthWorld
from service.bundle.loader import Bundle, load_bundle
from service.copy.audience import TextScore, VariantScorer
from tests.support.tiny_bundle import TINY_SYNTH

SIGN_UP, NEW_COLLECTION = 6, 5


@pytest.fixture(scope="module")
def synthesized() -> tuple[ClickLog, SynthWorld]:
    return synthesize_world(SynthConfig(seed=7, **TINY_SYNTH))  # the tiny bundle's own log


@pytest.fixture(scope="module")
def bundle(tiny_bundle: Path) -> Bundle:
    return load_bundle(tiny_bundle)


@pytest.fixture(scope="module")
def scorer(bundle: Bundle) -> VariantScorer:
    return VariantScorer.from_bundle(bundle)


class ScriptedGenerator:
    name = "scripted"

    def __init__(self, variants: list[AdText]) -> None:
        self.script = variants
        self.calls: list[tuple[AdText, int, int]] = []

    def variants(self, ad: AdText, n: int, seed: int) -> list[AdText]:
        self.calls.append((ad, n, seed))
        return self.script[:n]


def test_the_data_audience_is_each_user_as_the_model_saw_them(
    synthesized: tuple[ClickLog, SynthWorld], bundle: Bundle, scorer: VariantScorer
) -> None:
    log = synthesized[0]
    audience, rows = data_audience(log, bundle, scorer.encoder, 40, seed=1)
    assert len(audience) == len(rows) == 40 and rows["user_id"].is_unique
    assert audience.user_ids == tuple(rows["user_id"])
    assert (rows["ts"] >= log.impressions["ts"].quantile(0.9) - 1).all()  # the test split
    h = bundle.manifest.dims.history_len
    before = events_before(log.events, rows)
    for u, row in enumerate(rows.itertuples()):
        mine = log.events[(log.events["user_id"] == row.user_id) & (log.events["ts"] < row.ts)]
        assert audience.mask[u].sum() == min(len(mine), h)
        assert (before[before["user_id"] == row.user_id]["ts"] < row.ts).all()
        if len(mine):  # the newest first, as `adrank load` encodes it
            newest = mine.sort_values("ts").iloc[-1]["text"]
            want = scorer.encoder.encode([newest])[0].astype(np.float16).astype(np.float32)
            np.testing.assert_allclose(audience.history[u, 0], want, atol=2e-3)  # batch ≠ alone
        context = {"device": row.ctx_device, "slot": row.ctx_slot, "position": row.ctx_position,
                   "age_band": row.ctx_age_band, "gender": row.ctx_gender,
                   "country": row.ctx_country}  # fmt: skip
        assert (audience.context[u] == bundle.context.encode(context, ts=row.ts)).all()
    assert (audience.mask.sum(axis=1) == 0).sum() < 40  # most users have behaviour
    again, _ = data_audience(log, bundle, scorer.encoder, 40, seed=1)
    assert again.user_ids == audience.user_ids
    assert sample_test_rows(log, 40, seed=2)["user_id"].tolist() != list(audience.user_ids)


def test_one_ad_is_generated_checked_and_scored_by_model_and_truth(
    synthesized: tuple[ClickLog, SynthWorld], bundle: Bundle, scorer: VariantScorer
) -> None:
    log, world = synthesized
    truth = TextTruth(world)
    ad_id = str(world.ad_ids[np.flatnonzero(world.ads.offer == SIGN_UP)[0]])
    original = truth.original(ad_id)
    pitch = original.description.split(". ", 1)[1]
    product = truth.product(ad_id)
    brand = str(world.ads.brand[truth.code(ad_id)])
    better = AdText(original.title, f"New collection available now. {pitch}")
    shorter = AdText(original.title.upper(), f"Sign up today! {pitch}")
    no_product = AdText(original.title.lower().replace(product.lower(), "pick"),
                        original.description)  # fmt: skip
    script = [
        better,
        AdText(original.title, f"Sign up today and save 20%. {pitch}"),  # a new claim
        AdText(original.title, original.description),  # the original again
        shorter,
        better,  # a duplicate of the first
        AdText(f"{original.title} by Zanvik", original.description),  # another catalog brand
        no_product,
    ]
    gen = ScriptedGenerator(script)
    audience, rows = data_audience(log, bundle, scorer.encoder, 30, seed=0)
    brands = {str(b) for b in world.ads.brand} | {"Zanvik"}
    category = str(log.ads.set_index("ad_id").loc[ad_id, "category"])
    ad = CopyAd(ad_id, original, category)
    result = rewrite_ad(ad, gen, scorer, audience, n=8, seed=3, brands=brands, truth=truth,
                        truth_rows=rows)  # fmt: skip
    assert gen.calls == [(original, 8, 3)] and result.generated == 7 and result.asked == 8
    assert [s.text for s in result.kept] == [better, shorter, no_product]
    reasons = {t: r for t, r in result.dropped}
    assert reasons[script[1]] == ["new_claim:20% off"]
    assert reasons[script[2]] == ["duplicate"] and reasons[script[4]] == ["duplicate"]
    assert "new_claim:Zanvik" in reasons[script[5]]
    assert brand in brands and result.audience_users == 30
    # the model's scores: the same as scoring those texts directly
    texts = [ad.encoder_input(t) for t in (original, better, shorter, no_product)]
    p = scorer.score(texts, audience)
    np.testing.assert_allclose([s.score.mean_pctr for s in (result.original, *result.kept)],
                               p.mean(axis=1), rtol=1e-6)  # fmt: skip
    assert result.original.score.uplift == 0
    # the truth: the original's is the world's, the variants move by their terms
    want, _ = world.truth(rows.assign(ad_id=ad_id))
    assert result.original.true_mean == pytest.approx(want.mean(), rel=1e-12)
    assert result.original.true_uplift == 0
    new_offer, same, lost = result.kept
    assert offer_of(better) == NEW_COLLECTION
    assert new_offer.true_uplift > 0 and OFFERS[NEW_COLLECTION].effect > OFFERS[SIGN_UP].effect
    assert same.true_uplift == pytest.approx(0, abs=1e-12)  # same offer and product
    assert lost.true_uplift < 0  # the product is gone: no affinity
    best = max(result.kept, key=lambda s: s.score.mean_pctr)
    assert result.best is best


def _scored(uplift: float, mean: float) -> ScoredText:
    return ScoredText(AdText(f"t{uplift}"), TextScore(mean, uplift, 0, 0, 0, 0))


def test_the_best_variant_is_chosen_only_when_it_beats_the_original() -> None:
    ad = CopyAd("a", AdText("t"))
    original = _scored(0.0, 0.1)
    lower, higher = _scored(-0.2, 0.08), _scored(-0.1, 0.09)
    result = CopyResult(ad, original, [lower, higher], [], 3, 2, 10)
    assert result.best is higher and result.chosen is None
    up = _scored(0.05, 0.105)
    assert CopyResult(ad, original, [lower, up, higher], [], 3, 3, 10).chosen is up
    assert CopyResult(ad, original, [], [], 3, 0, 10).best is None


@pytest.mark.parametrize(
    ("text", "kind", "size", "path"),
    [("redis:200", "redis", 200, None), ("users:ids.txt", "users", None, Path("ids.txt")),
     ("data:data/synth:small:50", "data", 50, Path("data/synth:small"))],
)  # fmt: skip
def test_audience_specs(text: str, kind: str, size: int | None, path: Path | None) -> None:
    spec = parse_audience(text)
    assert (spec.kind, spec.size, spec.path) == (kind, size, path)


@pytest.mark.parametrize("text", ["redis", "redis:0", "redis:x", "users:", "data:dir", "s3:x"])
def test_bad_audience_specs_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="audience"):
        parse_audience(text)
