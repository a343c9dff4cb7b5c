"""`adrank convert-mind`: MIND news-recommendation logs → the adrank input format."""

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert-mind",
        help="convert MIND behaviors.tsv + news.tsv to the adrank format",
        description="Convert logs in the MIND format (behaviors.tsv: impressions with the "
        "user's click history; news.tsv: the items) into ads.jsonl, events.jsonl "
        "and impressions.jsonl (docs/data-format.md). Invalid lines stop the "
        "conversion with file:line:field, or are skipped and counted with "
        "--skip-invalid.",
    )
    p.add_argument("mind_dir", type=Path, help="directory with behaviors.tsv and news.tsv")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip and count invalid lines instead of stopping at the first",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from model_export.data.mind import convert_mind

    report = convert_mind(args.mind_dir, args.out, skip_invalid=args.skip_invalid)
    print(report.format())
