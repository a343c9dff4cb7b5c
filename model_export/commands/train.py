"""`adrank train`: train the CTR model on a click log into a run directory."""

import argparse
from pathlib import Path

from model_export.commands.common import add_data_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the BERT CTR model",
        description="Train the CTR model. 'fast' mode (default) freezes the BERT encoder, caches "
        "its embeddings of every text once and trains the projection and ranking "
        "head: minutes on a CPU. 'finetune' mode trains the encoder too (GPU, or a "
        "small --max-train-rows sample on CPU). Validation AUC every epoch, early "
        "stopping, deterministic for a seed; re-running with the same --out resumes.",
    )
    add_data_args(p)
    p.add_argument("--out", type=Path, required=True, help="run directory (resumes if it exists)")
    p.add_argument("--mode", choices=("fast", "finetune"), default="fast")
    p.add_argument(
        "--encoder",
        default="minilm",
        help="'minilm' (packaged MiniLM-L6 weights), 'tiny' (random, tests) or a BERT folder",
    )
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument(
        "--first-stage-epochs",
        type=int,
        default=None,
        help="with topic clusters (--head 'clusters=[16,256]'), the most epochs of the "
        "first stage, which trains the text space the clusters are fitted on (default: --epochs)",
    )
    p.add_argument(
        "--patience", type=int, default=2, help="epochs without improvement before stopping"
    )
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument(
        "--second-stage-lr",
        type=float,
        default=None,
        help="with topic clusters, the learning rate of the second stage, which trains the "
        "head with the cluster counts on the first stage's frozen text space (default: --lr)",
    )
    p.add_argument(
        "--encoder-lr", type=float, default=3e-5, help="learning rate of BERT in finetune mode"
    )
    p.add_argument(
        "--trainable-layers",
        type=int,
        default=None,
        help="finetune mode: train only the top N BERT layers, the lower ones' token states "
        "computed once per unique text (practical on a CPU; default: every layer)",
    )
    p.add_argument("--history-len", type=int, default=32)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument(
        "--ad-prior",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="read each ad's own click history (hashed id, smoothed click rate); with "
        "--no-ad-prior every ad is scored from its text, as a new ad is",
    )
    p.add_argument(
        "--ad-offsets",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="after training, fit a click logit offset per ad seen in training: its clicks "
        "against the model's expected clicks, shrunk by empirical Bayes (shrinkage picked on "
        "the validation split)",
    )
    p.add_argument(
        "--ad-offset-alpha",
        type=float,
        help="the offsets' shrinkage: the prior's weight in clicks (default: picked on the "
        "validation split's log loss)",
    )
    p.add_argument(
        "--ad-offset-text-prior",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="shrink each ad's offset towards what the 1-2-grams of its text predict (a "
        "Poisson regression on all ads' training clicks) rather than towards 0, when that "
        "lowers the validation split's log loss",
    )
    p.add_argument(
        "--cell-offsets",
        nargs="+",
        default=[],
        metavar="CELL",
        help="after the ad offsets, a click logit offset per context cell, fitted in this "
        "order: two context fields or one and the ad's topic group (its coarsest topic "
        "cluster), e.g. device:slot age_band:topic (default: none)",
    )
    p.add_argument(
        "--id-dropout",
        type=float,
        default=0.2,
        help="share of training rows whose ad id and prior are hidden (cold-start practice)",
    )
    p.add_argument(
        "--pretrain-steps",
        type=int,
        default=600,
        help="steps of behaviour pretraining of the projection in fast mode (0 = none)",
    )
    p.add_argument(
        "--projection-lr-scale",
        type=float,
        default=0.1,
        help="the text projection's learning rate as a share of --lr (it keeps more of what "
        "behaviour pretraining taught it when it learns slowly)",
    )
    p.add_argument(
        "--max-train-rows", type=int, default=None, help="sample this many training rows"
    )
    p.add_argument(
        "--cvr-objective",
        choices=("esmm", "clicked_only", "click_space"),
        default="esmm",
        help="the conversion task (logs with conversions): ESMM over every impression; "
        "clicked_only, the conversion loss on clicked rows beside the click task (a "
        "baseline); click_space, the classic conversion model trained on clicked rows alone "
        "(a baseline, no click task); --head cvr=false turns it off",
    )
    p.add_argument(
        "--delay-correction",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="count a recent click's missing conversion by the share of conversions that "
        "could have arrived by the log's cut (a fitted delay model), not as a failure",
    )
    p.add_argument(
        "--attribution-days", type=float, default=30.0, help="the conversion attribution window"
    )
    p.add_argument(
        "--head",
        action="append",
        default=[],
        metavar="FIELD=JSON",
        help="a ranking-head setting (model_export.model.ranker.HeadConfig), repeatable: "
        "e.g. --head pair_attended=true --head 'hidden=[256,64]'",
    )
    p.add_argument(
        "--teacher",
        default=None,
        help="a teacher run directory (`adrank teacher`) to distil: its soft labels of "
        "training impressions and unshown pairs are learnt beside the clicks",
    )
    p.add_argument(
        "--distill",
        choices=("kl", "margin_mse", "in_batch"),
        default="kl",
        help="with --teacher: kl, the teacher's click probability on both rows of a pair; "
        "margin_mse, its logit margin of the logged ad over the unshown one; in_batch, its "
        "logit margins between the training impressions of each step (no unshown pairs, "
        "no extra cost)",
    )
    p.add_argument("--distill-weight", type=float, default=1.0, help="with --teacher")
    p.set_defaults(run=run)


def head_settings(items: list[str]) -> dict[str, object]:
    """``FIELD=JSON`` items → HeadConfig fields and their JSON values."""
    import dataclasses

    import orjson

    from model_export.model.ranker import HeadConfig

    fields = {f.name for f in dataclasses.fields(HeadConfig)}
    settings: dict[str, object] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or name not in fields:
            raise SystemExit(f"--head {item!r}: expected FIELD=JSON, FIELD one of "
                             f"{', '.join(sorted(fields))}")  # fmt: skip
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise SystemExit(f"--head {item!r}: {raw!r} is not JSON") from None
        settings[name] = value
    return settings


def config_from_args(args: argparse.Namespace):
    from model_export.model.ranker import HeadConfig
    from model_export.train.config import TrainConfig

    return TrainConfig(
        mode=args.mode,
        encoder=args.encoder,
        history_len=args.history_len,
        max_tokens=args.max_tokens,
        ad_prior=args.ad_prior,
        ad_offsets=args.ad_offsets,
        ad_offset_alpha=args.ad_offset_alpha,
        ad_offset_text_prior=args.ad_offset_text_prior,
        cell_offsets=tuple(args.cell_offsets),
        id_dropout=args.id_dropout,
        pretrain_steps=args.pretrain_steps,
        projection_lr_scale=args.projection_lr_scale,
        epochs=args.epochs,
        first_stage_epochs=args.first_stage_epochs,
        patience=args.patience,
        batch_size=args.batch_size,
        lr=args.lr,
        second_stage_lr=args.second_stage_lr,
        encoder_lr=args.encoder_lr,
        trainable_layers=args.trainable_layers,
        seed=args.seed,
        max_train_rows=args.max_train_rows,
        cvr_objective=args.cvr_objective,
        delay_correction=args.delay_correction,
        attribution_days=args.attribution_days,
        teacher=args.teacher,
        distill=args.distill,
        distill_weight=args.distill_weight,
        head=HeadConfig.from_dict(head_settings(args.head)),
    )


def run(args: argparse.Namespace) -> None:
    from model_export.data.sources import load_source, split_for
    from model_export.train.run import train_run

    log = load_source(args.data, args.cache_dir, args.skip_invalid)
    split = split_for(log, args.protocol, args.seed)
    result = train_run(log, split, config_from_args(args), args.out, args.cache_dir)
    print(
        f"best validation AUC {result['best_valid_auc']:.4f} at epoch {result['best_epoch']}; "
        f"run saved in {args.out}"
    )
