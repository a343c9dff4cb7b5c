"""The `adrank` command: offline subcommands from model_export, `serve` from service.

Each subcommand module has ``add_parser(subparsers)`` and sets ``run``; heavy imports wait
until a command runs.
"""

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS = (
    "model_export.commands.synth",
    "model_export.commands.convert",
    "model_export.commands.train",
    "model_export.commands.evaluate",
    "model_export.commands.export",
    "model_export.commands.load",
    "service.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adrank",
        description="Ad ranking with a BERT click-through-rate model: offline data, training, "
        "evaluation and ONNX export, and the online ranking service.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # a command this install does not ship
            raise
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
