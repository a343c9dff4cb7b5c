"""The benchmark driver: one command runs a fixed matrix and writes one report.

    .venv/bin/python -m loadtests.bench --bundle models/default            # ~10–15 min
    .venv/bin/python -m loadtests.bench --bundle models/default --quick    # smoke run

It starts a real Redis and, as processes, the bare FastAPI endpoint (``bare``: parses the
same payload, does nothing; ``bare-2w``: the same in two uvicorn workers) and four service
variants: ``rank`` (one worker, batching on),
``rank-nobatch`` (``--batch.max-requests 1``), ``rank-2w-reuseport`` (two workers, one
SO_REUSEPORT socket each) and ``rank-2w-shared`` (two workers on one shared socket, as
uvicorn's ``--workers`` does). It seeds the catalog and users through the API, warms the
caches, then measures /rank with 100 candidates (seen ads, bids, a 1 s deadline):

1. closed loop: every variant at 1, 16 and 64 clients, alternately (``--rounds`` × ``--seconds``);
2. open loop: the /rank variants at Poisson rates (``--rates``), latency from the scheduled
   send; a variant stops after its first saturated rate (<90% delivered or >1% errors);
3. the encoder path: new ads/s through PUT /ads (64 per call) against the raw onnxruntime
   encoder over the same texts.

Outputs in ``--out`` (default reports/bench/): bench.md, latency_vs_throughput.png and
results.json; the tables are printed too.
"""

import argparse
import json
import math
import shlex
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
import uvloop

from loadtests.bench_encoder import encoder_path
from loadtests.bench_procs import HOST, VARIANTS, Running, Variant, seed, start_all, stop_all
from loadtests.httpload import Result, encode_post, run_closed_loop, run_open_loop
from loadtests.report import (
    EncoderPoint,
    Point,
    cpu_shares,
    plot,
    render_markdown,
    saturated,
    stage_medians,
)
from loadtests.traffic import TrafficConfig, World, build_world, poisson_offsets, rank_request
from service.bundle.loader import load_bundle
from tests.support.processes import RedisProcess

RATES = [50, 100, 200, 300, 400, 500, 650, 800, 1000, 1300]
QUICK = {"concurrency": [1, 16], "rates": [20, 60], "seconds": 0.5, "open_seconds": 1.0,
         "rounds": 1, "warmup_s": 0.5, "ads": 200, "users": 50, "events_per_user": 5,
         "encoder_batches": 2, "encoder_rounds": 1}  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add = p.add_argument
    add("--bundle", required=True, type=Path, help="model bundle directory")
    add("--out", type=Path, default=Path("reports/bench"), help="where the report goes")
    add("--quick", action="store_true", help="tiny durations and sizes: a smoke run")
    add("--variants", nargs="+", default=[v.name for v in VARIANTS], help="a subset to run")
    add(
        "--extra",
        type=extra_variant,
        action="append",
        default=[],
        metavar="NAME=FLAGS",
        help="one more service variant, e.g. 'rank-c1=--model.ranker-concurrency 1' "
        "(adrank serve flags; repeatable); 'rank-prev@DIR=' runs the code of the "
        "checkout DIR (a previous build, e.g. from git worktree add DIR HEAD~1)",
    )
    add("--concurrency", type=int, nargs="+", default=[1, 16, 64], help="closed-loop clients")
    add("--rates", type=float, nargs="+", default=RATES, help="open-loop requests/s")
    add("--seconds", type=float, default=5.0, help="per closed-loop slice")
    add("--open-seconds", type=float, default=6.0, help="per open-loop rate")
    add("--rounds", type=int, default=2, help="closed-loop alternations")
    add("--warmup-s", type=float, default=3.0, help="warm-up per variant (16 clients)")
    add("--candidates", type=int, default=100)
    add("--timeout-ms", type=float, default=1000.0, help="the requests' deadline")
    add("--ads", type=int, default=1000, help="catalog size")
    add("--users", type=int, default=1000, help="users with a history")
    add("--events-per-user", type=int, default=20)
    add("--connections", type=int, default=256, help="open-loop connection cap")
    add("--encoder-batches", type=int, default=20, help="PUT /ads calls per encoder round")
    add("--encoder-batch", type=int, default=64, help="new ads per PUT /ads")
    add("--encoder-rounds", type=int, default=2)
    args = p.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    return args


OWN_BUNDLES = ("--experiment", "--bundle")  # flags of a variant that serves other bundles


def extra_variant(spec: str) -> Variant:
    """``NAME[@DIR]=FLAGS`` → a service variant started with those ``adrank serve`` flags,
    from the code of the checkout ``DIR`` when given."""
    name, sep, flags = spec.partition("=")
    name, at, root = name.partition("@")
    if not sep or not name.startswith("rank"):
        raise argparse.ArgumentTypeError("expected rank-NAME=FLAGS (a name starting with rank)")
    if at and not (Path(root) / "adrank" / "serve_cli.py").is_file():
        raise argparse.ArgumentTypeError(f"{root} is not an adrank checkout")
    parsed = tuple(shlex.split(flags))
    return Variant(name, parsed, Path(root).resolve()) if at else Variant(name, parsed)


def rank_requests(world: World, port: int, args: argparse.Namespace, n: int = 500) -> list[bytes]:
    rng = np.random.default_rng(1)
    bodies = (rank_request(rng, world, f"bench-{i}", args.candidates, 0.0) for i in range(n))
    return [encode_post(HOST, port, "/rank", orjson.dumps(b)) for b in bodies]


def point(r: Running, mode: str, load: float, result: Result, cpu: dict[int, float],
          bodies: list[bytes] | None = None) -> Point:  # fmt: skip
    s = result.summary()
    metrics = [orjson.loads(b)["metrics"] for b in bodies or [] if b.startswith(b'{"request_id"')]
    shares = cpu_shares({}, cpu) if len(cpu) > 1 else []
    cpu_ms = sum(cpu.values()) / result.ok * 1000 if cpu and result.ok else math.nan
    return Point(r.variant.name, mode, load, s["rps"], s["p50_ms"], s["p95_ms"], s["p99_ms"],
                 result.errors, stage_medians(metrics), shares, cpu_ms=cpu_ms)  # fmt: skip


async def timed_closed(r: Running, reqs: list[bytes], clients: int, seconds: float,
                       keep: list[bytes], cpu: dict[int, float]) -> Result:  # fmt: skip
    before = r.cpu_seconds()
    result = await run_closed_loop(HOST, r.port, reqs, clients, seconds, keep)
    for pid, t in r.cpu_seconds().items():
        cpu[pid] = cpu.get(pid, 0.0) + t - before.get(pid, t)
    return result


async def closed_loop(args: argparse.Namespace, running: list[Running],
                      reqs: dict[str, list[bytes]]) -> list[Point]:  # fmt: skip
    points = []
    for clients in args.concurrency:
        acc: dict[str, tuple[Result, list[bytes], dict[int, float]]] = {
            r.variant.name: (Result(), [], {}) for r in running
        }
        for _ in range(args.rounds):
            for r in running:  # alternately
                total, keep, cpu = acc[r.variant.name]
                total.add(await timed_closed(r, reqs[r.variant.name], clients, args.seconds,
                                             keep, cpu))  # fmt: skip
        for r in running:
            total, keep, cpu = acc[r.variant.name]
            points.append(point(r, "closed", clients, total, cpu, keep))
    return points


async def open_loop(args: argparse.Namespace, running: list[Running],
                    reqs: dict[str, list[bytes]]) -> list[Point]:  # fmt: skip
    points, active = [], [r for r in running if not r.bare]
    rng = np.random.default_rng(2)
    for rate in args.rates:
        for r in list(active):  # alternately, rate by rate
            before = r.cpu_seconds()
            offsets = poisson_offsets(rate, args.open_seconds, rng).tolist()
            result = await run_open_loop(HOST, r.port, reqs[r.variant.name], offsets,
                                         args.connections)  # fmt: skip
            cpu = {pid: t - before.get(pid, t) for pid, t in r.cpu_seconds().items()}
            p = point(r, "open", rate, result, cpu)
            p.sent_rps = len(offsets) / args.open_seconds
            p.saturated = saturated(p.sent_rps, p.rps, result.errors, result.ok)
            points.append(p)
            if p.saturated:
                active.remove(r)
    return points


async def measure(args: argparse.Namespace, running: list[Running], world: World) -> list[Point]:
    reqs = {r.variant.name: rank_requests(world, r.port, args) for r in running}
    for r in running:
        await run_closed_loop(HOST, r.port, reqs[r.variant.name], 16, args.warmup_s)
    return await closed_loop(args, running, reqs) + await open_loop(args, running, reqs)


def run(args: argparse.Namespace) -> tuple[list[Point], list[EncoderPoint], dict[str, object]]:
    variants = (*(v for v in VARIANTS if v.name in args.variants), *args.extra)
    config = TrafficConfig(ads=args.ads, users=args.users, events_per_user=args.events_per_user,
                           deadline_ms=args.timeout_ms)  # fmt: skip
    world = build_world(config, seed=0)
    tmp = Path(tempfile.mkdtemp(prefix="adrank-bench-"))
    redis, running = RedisProcess(tmp), list[Running]()
    redis.start()
    try:
        running = start_all(variants, args.bundle, redis.url, tmp)
        services = [r for r in running if not r.bare]
        started = time.perf_counter()
        for r in services:  # every bundle's vectors: a variant's own (--bundle, experiment)
            if r is services[0] or any(f.startswith(OWN_BUNDLES) for f in r.variant.flags):
                seed(r.url, world)
        meta = {"seed_s": time.perf_counter() - started, "logs": str(tmp)}
        points = uvloop.run(measure(args, running, world))
        encoder = encoder_path(services[0].url, args.bundle, world, args.encoder_batches,
                               args.encoder_batch, args.encoder_rounds)  # fmt: skip
    finally:
        stop_all(running)
        redis.stop()
    return points, encoder, meta


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    started = time.time()
    points, encoder, meta = run(args)
    meta |= {"date": time.strftime("%Y-%m-%d %H:%M", time.localtime(started)),
             "wall_s": time.time() - started, "bundle": load_bundle(args.bundle).version,
             "load_before": " ".join(load_before),
             "load_after": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
             "args": {k: str(v) for k, v in vars(args).items()}}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    text = render_markdown(meta, points, encoder)
    (args.out / "bench.md").write_text(text)
    plot(points, args.out / "latency_vs_throughput.png")
    results = {"meta": meta, "points": [p.as_dict() for p in points],
               "encoder": [vars(e) | {"rate": e.rate} for e in encoder]}  # fmt: skip
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(text)


if __name__ == "__main__":
    main()
