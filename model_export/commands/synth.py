"""`adrank synth`: synthetic click logs with a known click probability."""

import argparse
import dataclasses
import time
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    from model_export.data.synth import SynthConfig

    p = sub.add_parser(
        "synth",
        help="generate synthetic click logs with a known truth",
        description="Generate a synthetic ad platform's logs (ads, behaviour events, "
        "impressions with context and clicks drawn from a known "
        "probability p_true) in the adrank input format, and synth_config.json, "
        "from which the world that made them can be regenerated.",
    )
    p.add_argument("--out", type=Path, required=True, help="output directory")
    defaults = SynthConfig()
    for f in dataclasses.fields(SynthConfig):
        value = getattr(defaults, f.name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            p.add_argument(
                f"--{f.name.replace('_', '-')}",
                type=type(value),
                default=value,
                help=f"(default {value})",
            )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from model_export.data.io import write_clicklog
    from model_export.data.synth import SynthConfig, synthesize
    from model_export.data.synth_world import write_config

    names = {f.name for f in dataclasses.fields(SynthConfig)}
    cfg = SynthConfig(**{k: v for k, v in vars(args).items() if k in names})
    start = time.perf_counter()
    log = synthesize(cfg)
    write_clicklog(log, args.out)
    write_config(cfg, args.out)  # what load_world regenerates the world from
    summary = log.summary()
    print(
        f"wrote {summary['impressions']:,} impressions, {summary['events']:,} events, "
        f"{summary['ads']:,} ads to {args.out} (CTR {summary['ctr']:.3%}) "
        f"in {time.perf_counter() - start:.1f} s"
    )
