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
    "model_export.commands.teacher",
    "model_export.commands.evaluate",
    "model_export.commands.export",
    "model_export.commands.load",
    "model_export.commands.experiment",
    "model_export.commands.simulate",
    "model_export.commands.copy",
    "model_export.commands.copy_tune",
    "service.cli",
)
OWN_PACKAGES = frozenset({"adrank", "service", "model_export"})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adrank",
        description="Ad ranking with a BERT click-through-rate model: offline data, training, "
        "evaluation and ONNX export, and the online ranking service.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            importlib.import_module(name).add_parser(sub)
        except ModuleNotFoundError as exc:
            if _not_installed(name, exc):
                continue  # a command this install does not ship, or whose extra it lacks
            raise
    return parser


def _not_installed(command: str, exc: ModuleNotFoundError) -> bool:
    """The command's package is absent, or a third-party dependency of it (the serving
    install has model_export but not the train extra's pandas or torch); a missing module
    of our own inside a shipped package is a bug and is raised."""
    missing = exc.name or ""
    return command.startswith(missing) or missing.split(".")[0] not in OWN_PACKAGES


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
