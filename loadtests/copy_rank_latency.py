"""/rank latency while a variants job runs, side by side with the idle service, in one run.

One sequential client sends ``/rank`` (100 cached candidates) to a service on BUNDLE with its
default generator; each phase is 20 s idle, then one ``POST /ads/{id}/variants`` job polled
until it ends, /rank measured all the while. Prints a table of p50/p95/p99 per phase.

    python -m loadtests.copy_rank_latency --bundle models/default
"""

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

from tests.support.processes import RedisProcess, ServiceProcess

IDLE_S = 20.0


def seed_service(client: httpx.Client) -> dict:
    """100 ads with text and a user with behaviour; the /rank body that ranks them."""
    ads = [{"ad_id": f"a{i}", "title": f"Product {i} trail shoes", "category": "Sport",
            "description": "Light and waterproof. From $59.99."} for i in range(100)]  # fmt: skip
    client.put("/ads", json={"ads": ads}).raise_for_status()
    for u in range(20):
        events = [{"user_id": f"u{u}", "item_id": f"i{k}", "text": f"item {k} of {u}",
                   "type": "click", "ts": 1_700_000_000 + k} for k in range(5)]  # fmt: skip
        client.post("/events", json={"events": events}).raise_for_status()
    return {"user_id": "u1", "candidates": [{"ad_id": a["ad_id"]} for a in ads]}


def latencies(client: httpx.Client, body: dict, stop: Callable[[], bool]) -> np.ndarray:
    """Milliseconds of sequential /rank calls until ``stop()``; every answer must be a 200."""
    out = []
    while not stop():
        start = time.perf_counter()
        answer = client.post("/rank", json=body)
        out.append((time.perf_counter() - start) * 1e3)
        assert answer.status_code == 200, answer.text
    return np.array(out)


def row(phase: str, ms: np.ndarray) -> str:
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return f"| {phase} | {len(ms):,} | {p50:.2f} | {p95:.2f} | {p99:.2f} |"


def job_done(client: httpx.Client, url: str) -> Callable[[], bool]:
    return lambda: client.get(url).json()["status"] in ("done", "failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=Path("models/default"))
    parser.add_argument("--flags", nargs="*", default=[], help="extra adrank serve flags")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    redis = RedisProcess(tmp)
    redis.start()
    service = ServiceProcess(args.bundle, redis.url, tmp / "service.log", *args.flags)
    try:
        client = httpx.Client(base_url=service.url, timeout=30)
        body = seed_service(client)
        warm_up = iter(range(200))
        latencies(client, body, lambda: next(warm_up, None) is None)
        print("| phase | /rank requests | p50 ms | p95 ms | p99 ms |\n|---|---:|---:|---:|---:|")
        for phase, variants in (("job 1, 8 variants (worker start + load)", 8),
                                ("job 2, 16 variants (warm worker)", 16)):  # fmt: skip
            end = time.monotonic() + IDLE_S
            print(row("idle", latencies(client, body, lambda e=end: time.monotonic() > e)))
            job = client.post("/ads/a1/variants", json={"variants": variants, "seed": 1})
            job.raise_for_status()
            print(row(phase, latencies(client, body, job_done(client, job.json()["status_url"]))))
    finally:
        service.stop()
        redis.stop()


if __name__ == "__main__":
    main()
