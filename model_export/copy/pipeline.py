"""One ad's copy, end to end: generate variants, check them, score the survivors for an
audience with the serving model, and (on the synthetic platform) with the truth.

``rewrite_ad``: ``gen.variants(ad, n, seed)`` → ``checks.filter_variants`` (the catalog's brands;
the similarity floor on the bundle encoder's vectors) → ``VariantScorer`` over the audience
(the original and the kept variants, every one as an ad the model has not seen) → a
``CopyResult``. With a ``TextTruth`` and the audience's rows, each scored text also gets its
true mean click probability over the same rows and its true uplift over the original's.

The best variant is the kept one with the highest mean predicted CTR; it is chosen (replaces
the original) when its predicted uplift is positive.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from model_export.copy.checks import DEFAULT_LIMITS, AdText, Limits, filter_variants
from model_export.copy.truth import TextTruth
from service.copy.audience import Audience, TextScore, VariantScorer, summarise
from service.features.text import ad_text


class Generator(Protocol):
    """What ``generate.CopyGenerator`` offers the pipeline."""

    name: str

    def variants(self, ad: AdText, n: int, seed: int) -> list[AdText]: ...


@dataclass(frozen=True)
class CopyAd:
    """An ad to rewrite: its copy and the category the encoder reads beside it."""

    ad_id: str
    text: AdText
    category: str = ""

    def encoder_input(self, text: AdText) -> str:
        """What the bundle's encoder reads for a copy of this ad."""
        return ad_text(text.title, text.description, self.category)


@dataclass(frozen=True)
class ScoredText:
    """A text (the original or a kept variant) with its predicted scores and, given a truth,
    its true mean click probability and true uplift over the original."""

    text: AdText
    score: TextScore
    true_mean: float | None = None
    true_uplift: float | None = None


@dataclass(frozen=True)
class CopyResult:
    ad: CopyAd
    original: ScoredText
    kept: list[ScoredText]  # in the generator's order
    dropped: list[tuple[AdText, list[str]]]  # with the checks' reasons
    asked: int  # variants asked of the generator
    generated: int  # variants it returned (parsed)
    audience_users: int
    generator: str = ""

    @property
    def best(self) -> ScoredText | None:
        """The kept variant with the highest mean predicted CTR (the first of equals)."""
        if not self.kept:
            return None
        return max(self.kept, key=lambda s: s.score.mean_pctr)

    @property
    def chosen(self) -> ScoredText | None:
        """The best variant when the model predicts it beats the original, else None."""
        best = self.best
        return best if best is not None and best.score.uplift > 0 else None


def kept_rows(variants: Sequence[AdText], kept: Sequence[AdText]) -> list[int]:
    """The positions in ``variants`` of the kept ones: ``filter_variants`` keeps the objects it
    was given, in order (matched in order, so an object given twice counts where it was kept,
    its first time: a repeat is a duplicate)."""
    rows: list[int] = []
    for i, variant in enumerate(variants):
        if len(rows) < len(kept) and variant is kept[len(rows)]:
            rows.append(i)
    return rows


def true_scores(
    truth: TextTruth, ad_id: str, texts: Sequence[AdText], rows: pd.DataFrame
) -> list[tuple[float, float]]:
    """(true mean click probability, true uplift over ``texts[0]``) of each text over rows."""
    means = truth.p_true_many(ad_id, texts, rows).mean(axis=1)
    return [(float(m), float(m / means[0] - 1.0)) for m in means]


def rewrite_ad(
    ad: CopyAd,
    gen: Generator,
    scorer: VariantScorer,
    audience: Audience,
    *,
    n: int,
    seed: int,
    brands: Collection[str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    truth: TextTruth | None = None,
    truth_rows: pd.DataFrame | None = None,
) -> CopyResult:
    """Generate, check and score ``n`` variants of one ad (see the module's docstring)."""
    if not len(audience):
        raise ValueError("the audience is empty: nobody to score the variants for")
    variants = gen.variants(ad.text, n, seed)
    vectors = scorer.vectors([ad.encoder_input(t) for t in (ad.text, *variants)])
    listed = [v.tolist() for v in vectors]  # the checks' cosine takes plain sequences
    checked = filter_variants(ad.text, variants, brands=brands, limits=limits, vectors=listed)
    rows = [0, *(1 + i for i in kept_rows(variants, checked.kept))]
    texts = [ad.text, *checked.kept]
    scores = summarise(scorer.score_vectors(vectors[rows], audience))
    truths: list[tuple[float | None, float | None]] = [(None, None)] * len(texts)
    if truth is not None and truth_rows is not None:
        truths = list(true_scores(truth, ad.ad_id, texts, truth_rows))
    scored = [ScoredText(t, s, *tr) for t, s, tr in zip(texts, scores, truths, strict=True)]
    return CopyResult(ad, scored[0], scored[1:], checked.dropped, n, len(variants),
                      len(audience), gen.name)  # fmt: skip


def best_uplifts(results: Sequence[CopyResult]) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, true) uplift of each ad's best variant, over the ads that have one (true
    NaN where no truth was given)."""
    best = [r.best for r in results if r.best is not None]
    predicted = np.array([b.score.uplift for b in best])
    true = np.array([np.nan if b.true_uplift is None else b.true_uplift for b in best])
    return predicted, true
