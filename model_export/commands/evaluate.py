"""`adrank evaluate`: metrics, baselines, report and plots of a trained run."""

import argparse
from pathlib import Path

from model_export.commands.common import add_data_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a run against baselines",
        description="AUC, group AUC (per user), log loss and calibration error of the run's "
        "model on a split, next to baselines trained on the same split: the "
        "popularity prior, optionally DeepCTR-Torch's DIN (--din), and the oracle "
        "where the true click probability is known (synthetic data). Also on the "
        "cold-start subset (ads never seen in training). With conversions: per task "
        "(CTR, CVR over every impression, CTCVR) beside ctr_only, --baseline runs and, with "
        "--library-baselines, DeepCTR-Torch's ESMM and MMoE, and "
        "on a synthetic log the revenue of mixed cpm/cpc/cpa auctions against the oracle "
        "(conversions.md). Writes report.json, report.md and PNG plots (ROC, reliability "
        "diagrams, training curves, revenue).",
    )
    p.add_argument("run_dir", type=Path, help="a directory written by `adrank train`")
    add_data_args(p)
    p.add_argument("--split", choices=("train", "valid", "test"), default="test")
    p.add_argument("--din", action="store_true", help="also train and score DeepCTR-Torch's DIN")
    p.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="NAME=RUN_DIR",
        help="with conversions: another run to compare per task on the same split, e.g. "
        "clicked_only=runs/clicked-only (repeatable)",
    )
    p.add_argument(
        "--library-baselines",
        action="store_true",
        help="with conversions: also train DeepCTR-Torch's ESMM and MMoE on id features and "
        "compare them per task (rows deepctr_esmm, deepctr_mmoe; about 40 s on 300k impressions)",
    )
    p.add_argument("--out", type=Path, default=None, help="report directory (default RUN_DIR/eval)")
    p.set_defaults(run=run)


def _named_run(item: str) -> tuple[str, Path]:
    name, sep, path = item.partition("=")
    if not sep or not name or not Path(path).is_dir():
        raise SystemExit(f"--baseline {item!r}: expected NAME=RUN_DIR with an existing RUN_DIR")
    return name, Path(path)


def run(args: argparse.Namespace) -> None:
    from model_export.data.sources import load_source, split_for
    from model_export.evaluate.options import EvalOptions
    from model_export.evaluate.pipeline import evaluate_run
    from model_export.evaluate.report import markdown_table

    log = load_source(args.data, args.cache_dir, args.skip_invalid)
    split = split_for(log, args.protocol, args.seed)
    out = args.out or args.run_dir / "eval"
    from model_export.data.synth_world import CONFIG_FILE

    baselines = dict(_named_run(item) for item in args.baseline)
    world = Path(args.data) if (Path(args.data) / CONFIG_FILE).is_file() else None
    options = EvalOptions(args.split, args.din, args.seed, args.cache_dir, baselines, world,
                          library_baselines=args.library_baselines)  # fmt: skip
    results = evaluate_run(args.run_dir, log, split, out, options)
    print(markdown_table(results))
    conversions = out / "conversions.md"
    if conversions.is_file():
        print(conversions.read_text())
    print(f"report and plots in {out}")
