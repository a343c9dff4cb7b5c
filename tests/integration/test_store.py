"""The Redis store against a real Redis server: one round trip reads, writes with TTL, the
atomic per-user update under racing writers, and failing fast when Redis is gone."""

import asyncio
import signal
import time
import uuid

import numpy as np
import pytest

from service.errors import DependencyDown
from service.metrics import Metrics
from service.settings import RedisSettings
from service.store.codec import encode_ad
from service.store.redis_store import RedisStore
from tests.support.processes import RedisProcess


def make_store(url: str, **kw: object) -> RedisStore:
    settings = RedisSettings(url=url, key_prefix=f"t-{uuid.uuid4().hex[:8]}:", **kw)
    return RedisStore(url, settings, Metrics())


async def test_read_for_rank_gets_user_and_ads_in_one_call(redis_server: RedisProcess) -> None:
    store = make_store(redis_server.url)
    keys = store.keys
    await store.write("t", [(keys.user("v1", "u"), b"matrix"),
                            (keys.ad("v1", "a"), encode_ad(np.ones(4), "v1"))], 60)  # fmt: skip
    read = await store.read_for_rank("v1", "u", ["a", "missing"])
    assert read.ok and read.user == b"matrix"
    assert read.ads[0] is not None and read.ads[1] is None
    assert 0 < await store.fast.ttl(keys.user("v1", "u")) <= 60
    other_version = await store.read_for_rank("v2", "u", ["a"])
    assert other_version.user is None and other_version.ads == [None]
    await store.close()


async def test_racing_updates_of_one_user_lose_nothing(redis_server: RedisProcess) -> None:
    store = make_store(redis_server.url)

    def appender(item: str):
        async def compute(matrix: bytes | None, hist: bytes | None) -> tuple[bytes, bytes]:
            await asyncio.sleep(0.005)  # widen the race window
            items = (hist or b"").split(b",") if hist else []
            new = b",".join([*items, item.encode()])
            return new, new

        return compute

    await asyncio.gather(*(store.update_user("v1", "racer", appender(f"e{i}")) for i in range(20)))
    hist = await store.fast.get(store.keys.history("racer"))
    assert sorted(hist.split(b",")) == sorted(f"e{i}".encode() for i in range(20))
    await store.close()


async def test_a_dead_redis_fails_fast_and_opens_the_breaker(tmp_path) -> None:
    server = RedisProcess(tmp_path)
    server.start()
    try:
        await _outage_and_recovery(server)
    finally:
        server.stop()


async def _outage_and_recovery(server: RedisProcess) -> None:
    store = make_store(server.url, breaker_failures=2, breaker_reset_s=0.3)
    assert (await store.read_for_rank("v", "u", [])).ok
    server.stop()
    for _ in range(2):
        started = time.perf_counter()
        read = await store.read_for_rank("v", "u", ["a"])
        assert not read.ok and read.ads == [None]
        assert time.perf_counter() - started < 0.2
    assert store.breaker.state == "open"
    with pytest.raises(DependencyDown):
        await store.write("t", [("k", b"v")], 10)
    server.start()
    await asyncio.sleep(0.35)
    assert (await store.read_for_rank("v", "u", [])).ok  # the half-open trial succeeds
    assert store.breaker.state == "closed"
    await store.close()


async def test_a_hung_redis_costs_one_timeout_then_the_breaker_answers(tmp_path) -> None:
    """SIGSTOP: the server accepts nothing and answers nothing (a stalled host)."""
    server = RedisProcess(tmp_path)
    server.start()
    try:
        store = make_store(server.url, timeout_ms=50, breaker_failures=1, breaker_reset_s=5)
        assert (await store.read_for_rank("v", "u", ["a"])).ok
        assert server.proc is not None
        server.proc.send_signal(signal.SIGSTOP)
        started = time.perf_counter()
        first = await store.read_for_rank("v", "u", ["a"])
        waited = time.perf_counter() - started
        assert not first.ok and waited < 0.5
        started = time.perf_counter()
        assert not (await store.read_for_rank("v", "u", ["a"])).ok  # breaker open: no wait
        assert time.perf_counter() - started < 0.005
        server.proc.send_signal(signal.SIGCONT)
        await store.close()
    finally:
        if server.proc is not None:
            server.proc.send_signal(signal.SIGCONT)
        server.stop()


async def test_warm_reads_arriving_together_are_one_mget(redis_server: RedisProcess) -> None:
    store = make_store(redis_server.url)
    users = [f"u{i}" for i in range(20)]
    await store.write("t", [(store.keys.user("v1", u), u.encode()) for u in users[:10]], 60)
    before = await _mget_calls(store)
    reads = await asyncio.gather(*(store.read_for_rank("v1", u, []) for u in users))
    assert await _mget_calls(store) == before + 1
    assert all(r.ok for r in reads)
    assert [r.user for r in reads] == [u.encode() for u in users[:10]] + [None] * 10
    await store.close()


async def test_one_failed_shared_read_counts_once_against_the_breaker(tmp_path) -> None:
    server = RedisProcess(tmp_path)
    server.start()
    try:
        store = make_store(server.url, breaker_failures=2)
        assert (await store.read_for_rank("v", "u", [])).ok
        server.stop()
        reads = await asyncio.gather(*(store.read_for_rank("v", f"u{i}", []) for i in range(10)))
        assert not any(r.ok for r in reads)
        assert store.breaker.state == "closed"  # one failed call, not ten
        assert not (await store.read_for_rank("v", "u", [])).ok
        assert store.breaker.state == "open"
        await store.close()
    finally:
        server.stop()


async def _mget_calls(store: RedisStore) -> int:
    stats = await store.fast.info("commandstats")
    return int(stats.get("cmdstat_mget", {}).get("calls", 0))
