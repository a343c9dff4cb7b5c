"""`adrank teacher`: fine-tune the cross-encoder teacher on a click log and write its soft
labels, for `adrank train --teacher RUN` to distil."""

import argparse
import dataclasses
from pathlib import Path

from model_export.commands.common import add_data_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    from model_export.teacher.config import TeacherConfig

    p = sub.add_parser(
        "teacher",
        help="fine-tune the cross-encoder teacher and write its soft labels",
        description="Fine-tune a cross-encoder over the user's recent behaviour texts and the "
        "ad text (with the context) on the log's clicks, starting from the packaged MiniLM: "
        "the lower layers run once per unique text (cached), the top --trainable-layers read "
        "the pair and are trained. Then label training impressions and as many unshown "
        "(user, ad) pairs (soft_labels.npz) and evaluate on the test split (teacher.json). "
        "CUDA when present. Re-running with the same --out resumes.",
    )
    add_data_args(p)
    p.add_argument("--out", type=Path, required=True, help="teacher run directory")
    p.add_argument(
        "--ensemble", type=Path, nargs="+", metavar="RUN",
        help="instead of the cross-encoder, the teacher is the mean click logit of these "
        "runs, trained on this --data and split (e.g. one recipe, several seeds; with "
        "--protocol cold-item the split depends on --seed): only --label-rows applies",
    )  # fmt: skip
    defaults = TeacherConfig()
    for f in dataclasses.fields(TeacherConfig):
        if f.name == "seed":
            continue  # add_data_args has it
        value = getattr(defaults, f.name)
        sampled = f.name in ("max_rows", "label_rows")
        p.add_argument(
            f"--{f.name.replace('_', '-')}",
            type=_rows if sampled else (str if value is None else type(value)),
            default=value,
            help=f"(default {value}{'; all: every row' if sampled else ''})",
        )
    p.set_defaults(run=run)


def _rows(raw: str) -> int | None:
    return None if raw == "all" else int(raw)


def run(args: argparse.Namespace) -> None:
    from model_export.data.sources import load_source, split_for
    from model_export.teacher.config import TeacherConfig
    from model_export.teacher.ensemble import ensemble_teacher
    from model_export.teacher.run import train_teacher

    log = load_source(args.data, args.cache_dir, args.skip_invalid)
    split = split_for(log, args.protocol, args.seed)
    if args.ensemble:
        summary = ensemble_teacher(log, split, args.ensemble, args.label_rows, args.seed,
                                   args.out)  # fmt: skip
        fitted = f"{len(args.ensemble)} runs averaged"
    else:
        cfg = TeacherConfig(
            **{f.name: getattr(args, f.name) for f in dataclasses.fields(TeacherConfig)}
        )
        summary = train_teacher(log, split, cfg, args.out)
        fitted = f"best validation AUC {summary['best_valid_auc']:.4f} at epoch " \
                 f"{summary['best_epoch']}"  # fmt: skip
    test = summary["test"]
    print(f"teacher: {fitted}; test AUC {test['auc']:.4f}, gAUC {test['gauc']:.4f}, "
          f"log loss {test['logloss']:.4f}; saved in {args.out}")  # fmt: skip
