"""The ``serve`` subcommand of the ``adrank`` CLI; its flags are parsed by adrank.serve_cli
(pydantic-settings: every setting is a flag and an ``ADRANK_*`` env var)."""

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "serve",
        help="run the ranking service (adrank serve --help lists every setting)",
        prefix_chars="+",  # pass every --flag through to the settings parser
        add_help=False,
    )
    parser.add_argument("flags", nargs=argparse.REMAINDER)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from adrank.serve_cli import main

    main(args.flags)
