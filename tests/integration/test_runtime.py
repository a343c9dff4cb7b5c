"""The text encoder and ranker on the real tiny bundle, with real onnxruntime."""

from pathlib import Path

import numpy as np
import pytest

from service.bundle.loader import load_bundle
from service.runtime import providers
from service.runtime.encoder import TextEncoder
from service.runtime.ranker import Ranker

TEXTS = [
    "Sport: trail running shoes. Light and waterproof",
    "tea",
    "Kitchen: espresso machine with milk frother, stainless steel, fifteen bar pump pressure",
    "a b c d e f",
]


@pytest.fixture(scope="module")
def encoder(tiny_bundle: Path) -> TextEncoder:
    return TextEncoder.from_bundle(load_bundle(tiny_bundle), providers=("auto",))


def test_encoder_returns_vectors_in_input_order(encoder: TextEncoder) -> None:
    together = encoder.encode(TEXTS)
    assert together.shape == (len(TEXTS), encoder.d) and together.dtype == np.float32
    one_by_one = np.vstack([encoder.encode([t]) for t in TEXTS])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)


def test_token_budget_splits_batches_without_changing_results(encoder: TextEncoder) -> None:
    small = TextEncoder(encoder.session, encoder.tokenizer, encoder.length_buckets, encoder.d,
                        max_tokens_per_batch=32)  # fmt: skip
    vectors, stats = small.encode_with_stats(TEXTS * 3)
    assert stats.batches >= 6 and 0 <= stats.padding_ratio < 1
    np.testing.assert_allclose(vectors, encoder.encode(TEXTS * 3), atol=1e-5)
    assert encoder.encode([]).shape == (0, encoder.d)


def test_ranker_scores_a_flat_batch_like_separate_calls(tiny_bundle: Path) -> None:
    ranker = Ranker.from_bundle(load_bundle(tiny_bundle))
    rng = np.random.default_rng(0)
    inputs = ranker.dummy_inputs(users=2, pairs=5)
    inputs.history[:] = rng.normal(size=inputs.history.shape)
    inputs.history_mask[0, :3] = 1
    inputs.candidates[:] = rng.normal(size=inputs.candidates.shape)
    p, att, _ = ranker.run(inputs)
    assert p.shape == (5,) and att.shape == (5, ranker.history_len)
    assert np.all((p > 0) & (p < 1))
    assert np.allclose(att[inputs.user_index == 1], 0, atol=1e-6)  # all-zero mask: no weight


def test_cpu_is_used_and_said_when_cuda_is_listed_but_cannot_run(
    tiny_bundle: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """What onnxruntime-gpu does on a machine without CUDA libraries: it lists CUDA, then
    runs on CPU. The service must end up on CPU and say so."""
    monkeypatch.setattr(
        providers.ort, "get_available_providers", lambda: [providers.CUDA, providers.CPU]
    )
    assert providers.wanted_providers(["auto"], providers.ort.get_available_providers())[0] == (
        providers.CUDA
    )
    with caplog.at_level("WARNING"):
        enc = TextEncoder.from_bundle(load_bundle(tiny_bundle), providers=("auto",))
    assert enc.providers == [providers.CPU]
    assert not providers.uses_cuda(enc.session)
    assert "CUDAExecutionProvider" in caplog.text and "CPUExecutionProvider" in caplog.text
    assert enc.encode(["still works"]).shape == (1, enc.d)


def test_the_ranker_adds_each_ads_offset_to_its_click_logit(tiny_bundle: Path) -> None:
    """``ad_offset`` moves the click logit by exactly itself and nothing else: not the
    attention, not pCVR."""
    ranker = Ranker.from_bundle(load_bundle(tiny_bundle))
    rng = np.random.default_rng(1)
    inputs = ranker.dummy_inputs(users=2, pairs=5)
    inputs.history[:] = rng.normal(size=inputs.history.shape)
    inputs.history_mask[:, :4] = 1
    inputs.candidates[:] = rng.normal(size=inputs.candidates.shape)
    before = ranker.run(inputs)
    inputs.ad_offset[:] = [0.0, 1.0, -1.0, 0.5, -2.0]
    after = ranker.run(inputs)

    def logit(p: np.ndarray) -> np.ndarray:
        return np.log(p / (1 - p)).astype(np.float64)

    np.testing.assert_allclose(logit(after.p_ctr) - logit(before.p_ctr), inputs.ad_offset,
                               atol=1e-3)  # fmt: skip
    np.testing.assert_array_equal(after.attention, before.attention)
    assert before.p_cvr is not None and after.p_cvr is not None
    np.testing.assert_array_equal(after.p_cvr, before.p_cvr)
