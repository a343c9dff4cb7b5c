"""`adrank simulate`: drive a running service with the synthetic platform's traffic and check
the experiment report against the known truth."""

import argparse
import os
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="drive a local service with synthetic traffic; check its experiment report",
        description="Send /rank requests drawn from a synthetic platform's world (users, times, "
        "contexts and candidate ads as its log draws them, mixed cpm/cpc/cpa or cpc bids) at "
        "Poisson arrival times to a service on this machine, draw the shown ads' impressions, "
        "clicks and conversions from their true probabilities and post them to /events with "
        "their revenue, then run the experiment report on the service's Redis and set it "
        "beside the truth: each arm's expected CTR, the true lift against the control and "
        "whether the report's interval covers it. --repeat M runs M repetitions, each with a "
        "fresh experiment name and salt (PUT /admin/arms): the share called significant (the "
        "false positive rate of an A/A experiment, the power of an A/B one) and the coverage "
        "share. Writes summary.json, summary.md and each repetition's report to --out. "
        "Loopback URLs only. The service should be warmed with the data's ads and users "
        "first (adrank load).",
    )
    p.add_argument("--url", default="http://127.0.0.1:8000", help="the service (loopback only)")
    p.add_argument(
        "--data",
        type=Path,
        default=Path("data/synth-default"),
        help="a directory written by `adrank synth` (with synth_config.json)",
    )
    p.add_argument("--requests", type=int, default=None, help="requests per repetition")
    p.add_argument("--rate", type=float, default=50.0, help="requests per second (Poisson)")
    p.add_argument("--seconds", type=float, default=None, help="at most this long a repetition")
    p.add_argument("--candidates", type=int, default=100, help="ads per request")
    p.add_argument("--slots", type=int, default=3, help="shown ads per request (top_k)")
    p.add_argument("--bids", choices=("mixed", "cpc"), default="mixed")
    p.add_argument("--window-days", type=int, default=1, help="requests on the data's last days")
    p.add_argument("--repeat", type=int, default=1, help="repetitions (A/A and A/B studies)")
    p.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/0", help="the service's Redis (the report)"
    )
    p.add_argument("--prefix", default="adrank:", help="the service's redis.key_prefix")
    p.add_argument(
        "--admin-key",
        default=os.environ.get("ADRANK_SIMULATE_ADMIN_KEY"),
        help="admin API key for /admin/arms (default $ADRANK_SIMULATE_ADMIN_KEY)",
    )
    p.add_argument(
        "--api-key",
        default=os.environ.get("ADRANK_SIMULATE_API_KEY"),
        help="API key for /rank and /events (default $ADRANK_SIMULATE_API_KEY, else the admin key)",
    )
    p.add_argument(
        "--keep-experiment",
        action="store_true",
        help="run in the service's current experiment (no fresh name and salt; its earlier "
        "counts enter the report)",
    )
    p.add_argument("--concurrency", type=int, default=32, help="requests in flight at most")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0, help="random seed of bids, requests, outcomes")
    p.add_argument("--out", type=Path, default=Path("reports/simulate"))
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from model_export.experiment.simulate import SimulateOptions, render_markdown, simulate
    from model_export.experiment.traffic import TrafficOptions

    requests = args.requests if args.requests is not None or args.seconds else 1000
    try:
        options = SimulateOptions(
            url=args.url,
            data=args.data,
            redis_url=args.redis_url,
            requests=requests,
            rate=args.rate,
            seconds=args.seconds,
            traffic=TrafficOptions(args.candidates, args.slots, args.bids, args.window_days),
            repeat=args.repeat,
            prefix=args.prefix,
            admin_key=args.admin_key,
            api_key=args.api_key,
            seed=args.seed,
            out=args.out,
            alpha=args.alpha,
            concurrency=args.concurrency,
            keep_experiment=args.keep_experiment,
            progress=not args.no_progress,
        )
    except ValueError as exc:
        raise SystemExit(f"adrank simulate: {exc}") from None
    import httpx

    try:
        summary = simulate(options)
    except httpx.HTTPError as exc:
        raise SystemExit(f"adrank simulate: {args.url}: {type(exc).__name__}: {exc}") from None
    except RuntimeError as exc:  # an admin route refused (its status and answer are in it)
        raise SystemExit(f"adrank simulate: {exc}") from None
    if options.repeat == 1 and summary["repetition"][0].get("report"):
        print(summary["repetition"][0]["report"])
    print(render_markdown(summary))
    print(f"summary and reports in {args.out}")
