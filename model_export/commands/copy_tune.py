"""`adrank copy-tune`: LoRA fine-tuning of the ad-copy generator on a synthetic log's catalog."""

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    from model_export.copy.finetune import TuneConfig

    defaults = TuneConfig()
    p = sub.add_parser(
        "copy-tune",
        help="fine-tune the ad-copy generator (LoRA) on a synthetic catalog",
        description="Fine-tune SmolLM2-135M-Instruct (the copy extra's packaged model) with LoRA "
        "on pairs of ads of a synthetic log's catalog that rewrite one another (same brand, "
        "product, offer and price; another title template or pitch), bounded in steps and "
        "minutes, on one thread; writes the adapter and copy_tune.json (settings, loss curve) "
        "to --out. Load it with load_generator(adapter=OUT).",
    )
    p.add_argument("--data", type=Path, required=True, help="a synthetic log (its ads.jsonl)")
    p.add_argument("--out", type=Path, required=True, help="the adapter's directory")
    p.add_argument("--max-steps", type=int, default=defaults.max_steps,
                   help=f"(default {defaults.max_steps})")  # fmt: skip
    p.add_argument("--max-minutes", type=float, default=defaults.max_minutes,
                   help=f"(default {defaults.max_minutes:g})")  # fmt: skip
    p.add_argument("--seed", type=int, default=defaults.seed, help=f"(default {defaults.seed})")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size,
                   help=f"(default {defaults.batch_size})")  # fmt: skip
    p.add_argument("--learning-rate", type=float, default=defaults.learning_rate,
                   help=f"(default {defaults.learning_rate:g})")  # fmt: skip
    p.add_argument(
        "--rewrites-per-ad",
        type=int,
        default=2,
        help="catalog re-renderings per ad besides the mined pairs (default 2)",
    )
    p.add_argument(
        "--held-out",
        type=int,
        default=64,
        help="pairs held out (unseen ads) for the loss before/after (default 64)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    import copy

    from model_export.copy.finetune import TuneConfig, finetune
    from model_export.copy.generate import load_generator
    from model_export.copy.tune_data import training_pairs

    pairs = training_pairs(args.data, per_ad=args.rewrites_per_ad, seed=args.seed)
    if not pairs:
        raise SystemExit(f"no catalog ads to pair in {args.data / 'ads.jsonl'}")
    config = TuneConfig(max_steps=args.max_steps, max_minutes=args.max_minutes, seed=args.seed,
                        batch_size=args.batch_size, learning_rate=args.learning_rate)  # fmt: skip
    gen = load_generator(threads=args.threads)
    result = finetune(copy.deepcopy(gen.model), gen.tokenizer, pairs, config, args.out,
                      base=gen.name, held_out=args.held_out)  # fmt: skip
    print(f"{result.steps} steps in {result.seconds / 60:.1f} min on {result.train_pairs} pairs; "
          f"training loss {result.losses[0]:.3f} → {result.curve()[-1][1]:.3f}; held-out loss "
          f"{_loss(result.eval_loss_before)} → {_loss(result.eval_loss_after)}; "
          f"adapter in {args.out}")  # fmt: skip


def _loss(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
