"""Where one /rank worker's time goes under load: which thread holds the GIL, and doing what.

    .venv/bin/python -m loadtests.gil_profile --bundle models/default --clients 64

Starts a real Redis and one service worker as the bench does, seeds the catalog and users
through the API, drives ``/rank`` (100 known candidates, bids) with closed-loop clients, and
samples the worker with py-spy twice while the load runs: every thread, idle or not (each
thread's sample count is the window's wall time), then only the thread that holds the GIL.
Prints each thread's share of wall time holding the GIL and, for the event loop, the functions
that time goes to (inclusive); keeps both samplings as collapsed stacks in ``--out`` (open them
in https://www.speedscope.app). One worker serves at most 1 / (GIL time per request).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import uvloop

from loadtests.bench import rank_requests
from loadtests.bench_procs import HOST, VARIANTS, Running, seed, start_all, stop_all
from loadtests.httpload import run_closed_loop
from loadtests.traffic import TrafficConfig, build_world
from tests.support.processes import RedisProcess

LOOP_THREAD = "MainThread"
LOOP_ENTRY = "Runner.run ("  # asyncio.Runner.run: callbacks and tasks run below it
LOOP_OWN = "(the event loop's own code: uvloop's sockets and scheduling)"
PY_SPY = shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.defpath}")


@dataclass(frozen=True)
class Stack:
    thread: str  # e.g. "MainThread", "adrank-ranker_0"
    frames: tuple[str, ...]  # outermost first, "function (file)" without line numbers
    count: int


def parse_collapsed(text: str) -> list[Stack]:
    """py-spy's ``--format raw --threads`` output: ``thread (tid): name;frame;frame N`` lines."""
    stacks = []
    for line in text.splitlines():
        if not line.strip():
            continue
        path, count = line.rsplit(" ", 1)
        head, *frames = path.split(";")
        thread = head.split(": ", 1)[-1]
        names = [_function(f) for f in frames]
        stacks.append(Stack(thread, tuple(names[_below_loop(names) :]), int(count)))
    return stacks


def _below_loop(names: list[str]) -> int:
    """Where the frames run by the event loop start (past the process's entry chain)."""
    for i, name in enumerate(names):
        if name.startswith(LOOP_ENTRY):
            return i + 1
    return 0


def _function(frame: str) -> str:
    """``name (file:line)`` → ``name (file)``: one entry per function, not per line."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def per_thread(stacks: Iterable[Stack]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for s in stacks:
        counts[s.thread] += s.count
    return counts


def inclusive(stacks: Iterable[Stack], thread: str) -> Counter[str]:
    """Samples of ``thread`` per function anywhere on the stack (each counted once per stack)."""
    counts: Counter[str] = Counter()
    for s in stacks:
        if s.thread == thread:
            for name in set(s.frames) or (LOOP_OWN,):
                counts[name] += s.count
    return counts


def gil_table(gil: list[Stack], instants: int, rps: float) -> str:
    """Share of wall time each thread holds the GIL, and that time per request."""
    ms_per_request = 1000 / rps if rps else float("nan")
    lines = ["| thread | holds the GIL (share of wall time) | ms per request |", "|---|---:|---:|"]
    held = per_thread(gil)
    for thread, n in [*held.most_common(), ("all threads", sum(held.values()))]:
        share = n / instants
        lines.append(f"| {thread} | {share:.1%} | {share * ms_per_request:.3f} |")
    return "\n".join(lines)


def function_table(gil: list[Stack], instants: int, rps: float, top: int = 30) -> str:
    """The event loop's GIL time by function (inclusive), in µs per request."""
    us_per_request = 1e6 / rps if rps else float("nan")
    loop_total = per_thread(gil)[LOOP_THREAD]
    lines = ["| function | share of the loop's GIL time | µs per request |", "|---|---:|---:|"]
    for name, n in inclusive(gil, LOOP_THREAD).most_common(top):
        lines.append(f"| `{name}` | {n / max(loop_total, 1):.1%} | "
                     f"{n / instants * us_per_request:.0f} |")  # fmt: skip
    return "\n".join(lines)


def sample(pid: int, out: Path, seconds: int, gil_only: bool) -> subprocess.Popen[bytes]:
    if PY_SPY is None:
        raise RuntimeError("py-spy is not installed: pip install -e '.[loadtest]'")
    mode = "--gil" if gil_only else "--idle"
    cmd = [PY_SPY, "record", "--pid", str(pid), "--rate", "200", "--duration", str(seconds),
           "--threads", "--nonblocking", "--format", "raw", "--output", str(out), mode]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def profile(r: Running, reqs: list[bytes], args: argparse.Namespace) -> str:
    pid = r.worker_pids()[0]
    uvloop.run(run_closed_loop(HOST, r.port, reqs, args.clients, args.warmup_s))
    samples, rps = {}, 0.0
    for gil_only in (False, True):
        path = args.out / ("gil.txt" if gil_only else "threads.txt")
        spy = sample(pid, path, args.seconds, gil_only)
        result = uvloop.run(run_closed_loop(HOST, r.port, reqs, args.clients, args.seconds + 1))
        _, err = spy.communicate()
        if spy.returncode != 0:
            raise RuntimeError(f"py-spy failed: {err.decode()[-2000:]}")
        samples[gil_only] = parse_collapsed(path.read_text())
        rps = result.ok / result.seconds
    instants = max(per_thread(samples[False]).values())
    return (f"One worker, {args.clients} clients, {args.candidates} candidates: {rps:,.0f} "
            f"requests/s while sampling the GIL ({instants:,} instants per thread over "
            f"{args.seconds:g} s).\n\n{gil_table(samples[True], instants, rps)}\n\n"
            f"The event loop's GIL time, by function (inclusive):\n\n"
            f"{function_table(samples[True], instants, rps)}\n")  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add = p.add_argument
    add("--bundle", required=True, type=Path, help="model bundle directory")
    add("--out", type=Path, default=Path("reports/gil-profile"), help="report and samples")
    add("--clients", type=int, default=64, help="closed-loop clients")
    add("--seconds", type=int, default=12, help="per sampling")
    add("--warmup-s", type=float, default=3.0)
    add("--candidates", type=int, default=100)
    add("--ads", type=int, default=1000, help="catalog size")
    add("--users", type=int, default=1000, help="users with a history")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    config = TrafficConfig(ads=args.ads, users=args.users, events_per_user=20, deadline_ms=1000)
    world = build_world(config, seed=0)  # as the bench's
    tmp = Path(tempfile.mkdtemp(prefix="adrank-gil-"))
    redis, running = RedisProcess(tmp), list[Running]()
    redis.start()
    try:
        running = start_all(tuple(v for v in VARIANTS if v.name == "rank"), args.bundle,
                            redis.url, tmp)  # fmt: skip
        seed(running[0].url, world)
        text = profile(running[0], rank_requests(world, running[0].port, args), args)
    finally:
        stop_all(running)
        redis.stop()
    text = f"{time.strftime('%Y-%m-%d %H:%M')}, bundle {args.bundle}\n\n{text}"
    (args.out / "gil_profile.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
