"""Resident memory of one service worker with one bundle, with two bundles as two experiment
arms, and with one arm plus a shadow bundle: each started fresh, sent ``--requests`` /rank
calls of 100 of the catalog's ads, and read from ``/proc/<pid>/status``. Prints a Markdown
table.

    python -m loadtests.arms_memory --bundle models/default --second models/weak \\
        --data data/synth-default --redis-url unix:///tmp/redis.sock
"""

import argparse
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.processes import free_port


def configs(second: Path) -> dict[str, list[str]]:
    arms = [{"name": "control", "weight": 0.5},
            {"name": "second", "weight": 0.5, "bundle_path": str(second.resolve())}]
    return {
        "one bundle": [],
        "two arms, two bundles": ["--experiment.arms", json.dumps(arms)],
        "one arm + a shadow bundle": ["--experiment.shadow",
                                      json.dumps({"bundle_path": str(second.resolve())})],
    }  # fmt: skip


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def measure(args: argparse.Namespace, flags: list[str]) -> tuple[float, float]:
    """RSS (MB) once ready and after the requests."""
    port = free_port()
    cmd = [sys.executable, "-m", "adrank.cli", "serve", "--bundle", str(args.bundle),
           "--redis.url", args.redis_url, "--server.port", str(port), *flags]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ads = [json.loads(line)["ad_id"] for line in (args.data / "ads.jsonl").open()]
    rng = random.Random(1)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            _wait_ready(client, proc)
            ready = rss_mb(proc.pid)
            for _ in range(args.requests):
                body = {"user_id": f"u{rng.randrange(10_000)}",
                        "candidates": [{"ad_id": a} for a in rng.sample(ads, 100)]}  # fmt: skip
                client.post("/rank", json=body).raise_for_status()
            return ready, rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def _wait_ready(client: httpx.Client, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(240):
        if proc.poll() is not None:
            raise RuntimeError("the service exited")
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the service did not get ready")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--bundle", type=Path, required=True, help="the (control) bundle")
    p.add_argument("--second", type=Path, required=True, help="the second arm's / shadow bundle")
    p.add_argument("--data", type=Path, required=True, help="a directory with ads.jsonl")
    p.add_argument("--redis-url", required=True)
    p.add_argument("--requests", type=int, default=400)
    args = p.parse_args(argv)
    print("| service | RSS ready (MB) | RSS after the requests (MB) |\n|---|---:|---:|")
    for name, flags in configs(args.second).items():
        ready, after = measure(args, flags)
        print(f"| {name} | {ready:.0f} | {after:.0f} |", flush=True)


if __name__ == "__main__":
    main()
