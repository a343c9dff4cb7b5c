"""The store against a real three-node Redis Cluster: one user's keys share one slot (as the
server computes it), reads and writes across nodes, the atomic per-user update under racing
writers, a node outage opening the breaker, and `adrank load --cluster` (the service itself
against a cluster: tests/e2e/test_cluster.py)."""

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis.cluster
from redis.asyncio.cluster import RedisCluster
from redis.cluster import key_slot

from adrank.cli import main
from model_export.data.clicklog import ClickLog
from model_export.data.io import write_clicklog
from service.bundle.loader import load_bundle
from service.metrics import Metrics
from service.settings import RedisSettings
from service.store.codec import decode_ad, decode_history, decode_user, encode_ad
from service.store.keys import KeyLayout, escape
from service.store.redis_store import RedisStore
from tests.offline.test_load import ADS, EVENTS
from tests.support.cluster import SLOT_RANGES, RedisClusterProcesses

USER_IDS = ["u42", "a{b}", "}x", "{", "}", "{}", "{}}{", "%7B", "x%y", "ünï{cødé}"]


async def open_store(url: str, **kw: object) -> RedisStore:
    """A cluster store, warmed as the service warms it at start-up."""
    settings = RedisSettings(url=url, cluster=True, key_prefix=f"t-{uuid.uuid4().hex[:8]}:",
                             **kw)  # fmt: skip
    store = RedisStore(url, settings, Metrics())
    await store.warm(4)
    return store


@pytest.fixture
async def store(redis_cluster: RedisClusterProcesses) -> AsyncIterator[RedisStore]:
    opened = await open_store(redis_cluster.url)
    yield opened
    await opened.close()


def server_slot(cluster: RedisClusterProcesses, key: str) -> int:
    return int(cluster.command(0, "CLUSTER KEYSLOT", key))  # type: ignore[call-overload]


def owner(slot: int) -> int:
    return next(i for i, (first, last) in enumerate(SLOT_RANGES) if first <= slot <= last)


@pytest.mark.parametrize("user_id", USER_IDS)
def test_one_users_keys_share_one_slot(redis_cluster: RedisClusterProcesses, user_id: str) -> None:
    keys = KeyLayout("adrank:")
    matrix, history = keys.user("v{1}", user_id), keys.history(user_id)
    slot = server_slot(redis_cluster, matrix)
    assert server_slot(redis_cluster, history) == slot == key_slot(matrix.encode())
    assert slot == key_slot(escape(user_id).encode())  # the tag is exactly the (escaped) id


def test_keys_stay_distinct_and_ads_carry_no_hash_tag() -> None:
    keys = KeyLayout("adrank:")
    assert keys.user("v1", "u42") == "adrank:user:v1:{u42}"
    assert keys.history("u42") == "adrank:hist:{u42}"
    assert len({keys.history(u) for u in [*USER_IDS, "a}", "a%7D", "a%257D"]}) == len(USER_IDS) + 3
    ad = keys.ad("v1", "{camp}-7")
    assert "{" not in ad and "}" not in ad
    with pytest.raises(ValueError):
        KeyLayout("pre{fix}:")


async def test_reads_and_writes_across_nodes(store: RedisStore) -> None:
    assert isinstance(store.fast, RedisCluster)
    assert all(len(node._connections) >= 4 for node in store.fast.get_nodes())
    keys, ads = store.keys, [f"ad-{i}" for i in range(30)]
    assert len({owner(key_slot(keys.ad("v1", a).encode())) for a in ads}) == 3  # spread
    await store.write("t", [(keys.user("v1", "u"), b"matrix"),
                            *((keys.ad("v1", a), encode_ad(np.full(4, i), "v1"))
                              for i, a in enumerate(ads))], 60)  # fmt: skip
    read = await store.read_for_rank("v1", "u", [*ads, "missing"])
    assert read.ok and read.user == b"matrix" and read.ads[-1] is None
    assert [blob[-8:] for blob in read.ads[:-1]] == [encode_ad(np.full(4, i), "v1")[-8:]
                                                     for i in range(30)]  # fmt: skip
    warm = await store.read_for_rank("v1", "u", [])
    assert warm.ok and warm.user == b"matrix"
    assert 0 < await store.fast.ttl(keys.ad("v1", "ad-3")) <= 60
    assert await store.ping()


@pytest.mark.parametrize("user_id", ["racer", "}racer{"])
async def test_racing_updates_of_one_user_lose_nothing(store: RedisStore, user_id: str) -> None:

    def appender(item: str):
        async def compute(matrix: bytes | None, hist: bytes | None) -> tuple[bytes, bytes]:
            await asyncio.sleep(0.005)  # widen the race window
            items = hist.split(b",") if hist else []
            new = b",".join([*items, item.encode()])
            return new, new

        return compute

    await asyncio.gather(*(store.update_user("v1", user_id, appender(f"e{i}")) for i in range(20)))
    hist = await store.fast.get(store.keys.history(user_id))
    assert sorted(hist.split(b",")) == sorted(f"e{i}".encode() for i in range(20))
    assert await store.fast.get(store.keys.user("v1", user_id)) == hist
    assert 0 < await store.fast.ttl(store.keys.history(user_id)) <= store.settings.user_ttl_s


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterProcesses]:
    """A cluster of its own for the outage tests (they stop or freeze a node)."""
    cluster = RedisClusterProcesses(tmp_path_factory.mktemp("outage-cluster"))
    cluster.start()
    yield cluster
    cluster.stop()


def user_on_node(keys: KeyLayout, node: int) -> str:
    return next(u for u in (f"u{i}" for i in range(100))
                if owner(key_slot(keys.user("v", u).encode())) == node)  # fmt: skip


async def test_a_node_down_fails_fast_and_opens_the_breaker(
    own_cluster: RedisClusterProcesses,
) -> None:
    store = await open_store(own_cluster.url, breaker_failures=2, breaker_reset_s=0.3)
    user = user_on_node(store.keys, 2)
    try:
        assert (await store.read_for_rank("v", user, ["a"])).ok
        own_cluster.stop_node(2)
        for _ in range(2):
            started = time.perf_counter()
            read = await store.read_for_rank("v", user, ["a"])
            assert not read.ok and read.ads == [None]
            assert time.perf_counter() - started < 0.3
        assert store.breaker.state == "open" and not await store.ping()
        own_cluster.start_node(2)
        await asyncio.sleep(0.35)
        assert (await store.read_for_rank("v", user, ["a"])).ok  # the half-open trial
        assert store.breaker.state == "closed"
    finally:
        await store.close()


async def test_a_hung_node_costs_one_timeout_then_the_breaker_answers(
    own_cluster: RedisClusterProcesses,
) -> None:
    """SIGSTOP: the node accepts nothing and answers nothing (a stalled host)."""
    store = await open_store(own_cluster.url, timeout_ms=50, breaker_failures=1,
                             breaker_reset_s=5)  # fmt: skip
    user = user_on_node(store.keys, 1)
    try:
        assert (await store.read_for_rank("v", user, ["a", "b", "c"])).ok
        own_cluster.procs[1].send_signal(signal.SIGSTOP)
        started = time.perf_counter()
        first = await store.read_for_rank("v", user, ["a", "b", "c"])
        assert not first.ok and time.perf_counter() - started < 0.5
        started = time.perf_counter()
        assert not (await store.read_for_rank("v", user, [])).ok  # breaker open: no wait
        assert time.perf_counter() - started < 0.005
    finally:
        own_cluster.procs[1].send_signal(signal.SIGCONT)
        await store.close()


def test_load_writes_into_the_cluster(
    tiny_bundle: Path, redis_cluster: RedisClusterProcesses, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    imps = pd.DataFrame({"user_id": ["u1"], "ad_id": ["a1"], "ts": [2000], "label": [0],
                         "p_true": [np.nan]})  # fmt: skip
    write_clicklog(ClickLog("t", ADS, EVENTS, imps), data)
    prefix = f"load-{uuid.uuid4().hex[:8]}:"
    main(["load", "--bundle", str(tiny_bundle), "--data", str(data), "--redis-url",
          redis_cluster.url, "--cluster", "--key-prefix", prefix])  # fmt: skip
    bundle = load_bundle(tiny_bundle)
    version, d = bundle.version, bundle.manifest.dims.d
    keys = KeyLayout(prefix)
    with redis.cluster.RedisCluster.from_url(redis_cluster.url) as rc:
        assert decode_ad(rc.get(keys.ad(version, "a2")), version, d).vector.shape == (d,)
        for user in ("u1", "u2"):
            matrix = decode_user(rc.get(keys.user(version, user)), version, d)
            raw = decode_history(rc.get(keys.history(user)))
            assert matrix.item_ids == tuple(i.item_id for i in raw[: len(matrix.item_ids)])
