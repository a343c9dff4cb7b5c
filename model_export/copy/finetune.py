"""LoRA fine-tuning of the ad-copy generator on (ad, rewrite) pairs of a synthetic catalog.

Why LoRA on the attention projections: on one CPU thread the 135M model's full fine-tune would
update 135M weights per step; rank-8 adapters on q/k/v/o train about 0.9M and leave the shipped
weights untouched, so the adapter is a 3.5 MB directory merged at load time
(``generate.with_adapter``). Each example is the chat ``prompt.training_messages`` builds — the
exact chat the generator prompts with — and the loss is taken on the answer's tokens only
(``Title: …\\nDescription: …<|im_end|>``): the model learns the answer, not to recite the prompt.

Bounded in time (``max_minutes``) and steps (``max_steps``), deterministic for a seed on one
thread (LoRA's initialisation, dropout and the batch order all come from it).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from model_export.copy.checks import AdText
from model_export.copy.generate import ADAPTER_SETTINGS, peft_quietly, seeded
from model_export.copy.prompt import EXAMPLES, training_messages

Pair = tuple[AdText, AdText]
HELD_OUT_ADS = "held_out_ads.jsonl"
IGNORE = -100  # label of a token the loss skips (the prompt, the padding)


@dataclass(frozen=True)
class TuneConfig:
    """A run's settings. lr 2e-4 with rank 8 and alpha 16 is peft's usual LoRA start; batch 4
    keeps a step near a few seconds on one thread. Without the worked examples (``few_shot``
    False) a training chat is about 190 tokens instead of 370: twice the steps in the same time.
    """

    max_steps: int = 1000
    max_minutes: float = 20.0
    batch_size: int = 4
    learning_rate: float = 2e-4
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    seed: int = 0
    few_shot: bool = False  # train (and so prompt) with the worked examples in the chat


@dataclass
class TuneResult:
    """What a run did: per-step training losses, held-out loss before and after."""

    steps: int = 0
    seconds: float = 0.0
    train_pairs: int = 0
    losses: list[float] = field(default_factory=list)
    eval_loss_before: float | None = None
    eval_loss_after: float | None = None

    def curve(self, points: int = 20) -> list[tuple[int, float]]:
        """The loss curve as (last step, mean loss) over ``points`` equal windows of steps."""
        size = max(1, math.ceil(len(self.losses) / points))
        return [(min(i + size, len(self.losses)), sum(w) / len(w))
                for i in range(0, len(self.losses), size)
                for w in [self.losses[i : i + size]]]  # fmt: skip


def encode_pair(
    tokenizer: Any, ad: AdText, rewrite: AdText, few_shot: bool = False
) -> tuple[list[int], list[int]]:
    """Token ids of one example and its labels: the prompt masked, the answer and its end of
    turn learned. The prompt is tokenised as the generator tokenises it."""
    *chat, answer_turn = training_messages(ad, rewrite, examples=EXAMPLES if few_shot else ())
    prompt = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer = answer_turn["content"] + tokenizer.eos_token
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    return prompt_ids + answer_ids, [IGNORE] * len(prompt_ids) + answer_ids


def collate(examples: Sequence[tuple[list[int], list[int]]], pad_id: int) -> dict[str, Any]:
    """A right-padded batch; padding is masked from attention and from the loss."""
    width = max(len(ids) for ids, _ in examples)
    ids = [i + [pad_id] * (width - len(i)) for i, _ in examples]
    labels = [lab + [IGNORE] * (width - len(lab)) for _, lab in examples]
    mask = [[1] * len(i) + [0] * (width - len(i)) for i, _ in examples]
    return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
            "attention_mask": torch.tensor(mask)}  # fmt: skip


def with_lora(model: Any, config: TuneConfig) -> Any:
    """``model`` wrapped with fresh LoRA adapters (initialised from the seed); the base weights
    are frozen. Wraps in place: pass a copy of a model others use."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, target_modules=list(config.target_modules),
                      task_type="CAUSAL_LM")  # fmt: skip
    with seeded(config.seed), peft_quietly():
        return get_peft_model(model, lora)


@torch.no_grad()
def mean_loss(model: Any, examples: Sequence[tuple[list[int], list[int]]], pad_id: int) -> float:
    """The answer-token loss over ``examples`` (evaluation mode, batches of 4)."""
    model.eval()
    total, tokens = 0.0, 0
    for start in range(0, len(examples), 4):
        batch = collate(examples[start : start + 4], pad_id)
        count = int((batch["labels"][:, 1:] != IGNORE).sum())
        total += float(model(**batch).loss) * count
        tokens += count
    return total / max(tokens, 1)


def _batches(count: int, size: int, generator: torch.Generator) -> Any:
    """Index batches, endlessly, a fresh permutation each epoch."""
    while True:
        order = torch.randperm(count, generator=generator).tolist()
        for start in range(0, count - size + 1, size):
            yield order[start : start + size]


def train(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[Pair],
    config: TuneConfig,
    held_out: Sequence[Pair] = (),
    progress: bool = True,
) -> TuneResult:
    """Train the LoRA adapters of ``model`` (a ``with_lora`` model) on ``pairs`` until
    ``max_steps`` or ``max_minutes``, whichever comes first."""
    pad = tokenizer.eos_token_id
    examples = [encode_pair(tokenizer, a, b, config.few_shot) for a, b in pairs]
    evals = [encode_pair(tokenizer, a, b, config.few_shot) for a, b in held_out]
    result = TuneResult(train_pairs=len(examples))
    result.eval_loss_before = mean_loss(model, evals, pad) if evals else None
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate)
    batches = _batches(len(examples), min(config.batch_size, len(examples)),
                       torch.Generator().manual_seed(config.seed))  # fmt: skip
    start, deadline = time.monotonic(), time.monotonic() + config.max_minutes * 60
    bar = tqdm(total=config.max_steps, desc="copy-tune", unit="step", disable=not progress)
    model.train()
    with seeded(config.seed):
        while result.steps < config.max_steps and time.monotonic() < deadline:
            loss = _step(model, optimizer, collate([examples[i] for i in next(batches)], pad))
            result.losses.append(loss)
            result.steps += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}")
    bar.close()
    result.seconds = time.monotonic() - start
    result.eval_loss_after = mean_loss(model, evals, pad) if evals else None
    return result


def _step(model: Any, optimizer: torch.optim.Optimizer, batch: dict[str, Any]) -> float:
    optimizer.zero_grad()
    loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def save(model: Any, out: Path, config: TuneConfig, result: TuneResult, base: str) -> Path:
    """The adapter (peft's files) and ``copy_tune.json``: the settings, the losses, the time."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), save_embedding_layers=False)  # only the LoRA weights
    summary = {"base": base, "config": asdict(config), "steps": result.steps,
               "seconds": round(result.seconds, 1), "train_pairs": result.train_pairs,
               "first_loss": result.losses[0] if result.losses else None,
               "final_loss": result.curve()[-1][1] if result.losses else None,
               "eval_loss_before": result.eval_loss_before,
               "eval_loss_after": result.eval_loss_after, "curve": result.curve()}  # fmt: skip
    (out / ADAPTER_SETTINGS).write_text(json.dumps(summary, indent=2) + "\n")
    return out


def split_pairs(pairs: Sequence[Pair], held_out: int, seed: int) -> tuple[list[Pair], list[Pair]]:
    """(training, held-out) pairs, at least ``held_out`` held out (when there are that many);
    held-out pairs share no source ad with training ones, so their loss is on unseen ads."""
    per_source = Counter(a for a, _ in pairs)
    sources = sorted(per_source)
    order = torch.randperm(len(sources), generator=torch.Generator().manual_seed(seed)).tolist()
    chosen: set[AdText] = set()
    for i in order:
        if sum(per_source[s] for s in chosen) >= held_out:
            break
        chosen.add(sources[i])
    return [p for p in pairs if p[0] not in chosen], [p for p in pairs if p[0] in chosen]


def finetune(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[Pair],
    config: TuneConfig,
    out: Path,
    base: str,
    held_out: int = 64,
    progress: bool = True,
) -> TuneResult:
    """The whole run: hold out ``held_out`` pairs, add LoRA to ``model`` (in place), train,
    save the adapter, its summary and the held-out ads to ``out``."""
    train_set, eval_set = split_pairs(pairs, held_out, config.seed)
    peft_model = with_lora(model, config)
    result = train(peft_model, tokenizer, train_set, config, eval_set, progress)
    save(peft_model, out, config, result, base)
    write_held_out(out, eval_set)
    return result


def write_held_out(out: Path, held_out: Sequence[Pair]) -> Path:
    """``held_out_ads.jsonl``: the source ads of the held-out pairs, none of them the source
    of a training pair, for judging the adapter on ads it was not trained to rewrite (a mined
    twin of one, same brand, product and offer at another price, may be in training)."""
    sources = dict.fromkeys(a for a, _ in held_out)
    lines = [json.dumps({"title": a.title, "description": a.description}) for a in sources]
    path = Path(out) / HELD_OUT_ADS
    path.write_text("".join(line + "\n" for line in lines))
    return path
