"""`adrank export`: a trained run → a verified model bundle."""

import argparse
from pathlib import Path

from model_export.commands.common import add_data_args

CHECK_ROWS = 20_000


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a run to an ONNX model bundle",
        description="Write encoder.onnx, ranker.onnx, the tokenizer, the ad prior table and "
        "manifest.json (dims, vocabularies, names, data summary, metrics, sha256 "
        "of every file). The ONNX graphs are checked against PyTorch on sample "
        "inputs (padded texts, full/partial/empty histories) and, with --data, on "
        "held-out test rows; export fails if pCTR differs by more than 1e-5.",
    )
    p.add_argument("run_dir", type=Path, help="a directory written by `adrank train`")
    p.add_argument("--out", type=Path, required=True, help="bundle directory, e.g. models/v1")
    p.add_argument("--version", default=None, help="model version (default: run name + time)")
    p.add_argument(
        "--int8",
        action="store_true",
        help="also write encoder.int8.onnx (per-channel dynamic quantisation) and "
        "measure its AUC cost on the held-out rows",
    )
    add_data_args(p, required=False)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from model_export.export.bundle import ExportOptions, export_bundle

    rows = _heldout_rows(args) if args.data else None
    manifest = export_bundle(args.run_dir, args.out, ExportOptions(args.version, args.int8, rows))
    parity = manifest.metrics["parity"]
    print(
        f"bundle {manifest.version} written to {args.out}; max |ΔpCTR| ONNX vs PyTorch "
        f"{max(v for k, v in parity.items() if k != 'encoder_max_abs_diff'):.1e}"
    )
    if "int8" in manifest.metrics:
        print(f"int8 encoder: {manifest.metrics['int8']}")


def _heldout_rows(args: argparse.Namespace):
    import numpy as np

    from model_export.data.sources import load_source, split_for
    from model_export.train.arrays import featurise, subset
    from model_export.train.run import load_spec

    log = load_source(args.data, args.cache_dir, args.skip_invalid)
    spec = load_spec(args.run_dir)
    feats, _ = featurise(
        log,
        split_for(log, args.protocol, args.seed),
        spec_history_len(args.run_dir),
        spec.prior_alpha,
        spec,
    )
    test = feats.rows("test")
    rng = np.random.default_rng(args.seed)
    return subset(feats, np.sort(rng.choice(test, min(CHECK_ROWS, len(test)), replace=False)))


def spec_history_len(run_dir: Path) -> int:
    from model_export.train.config import TrainConfig

    return TrainConfig.load(run_dir / "train_config.json").history_len
