"""Arguments several commands share."""

import argparse
from pathlib import Path

from model_export.data.sources import PROTOCOLS
from model_export.train.run import DEFAULT_CACHE


def add_data_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument(
        "--data",
        required=required,
        help="a directory in the adrank input format (docs/data-format.md), "
        "or 'movielens' for MovieLens 100k",
    )
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="standard",
        help="split: 'standard' = last 10%% of time is test, the 10%% before it "
        "validation; 'cold-item' = 20%% of items withheld from training",
    )
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip and count invalid input rows instead of stopping at the first",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE,
        help="downloads and cached text embeddings (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
