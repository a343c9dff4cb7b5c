"""The real service against a real three-node Redis Cluster: ads written across nodes and
read back (in-process ad vectors expire after 1 ms, so every ad comes from the cluster), events
applied atomically for a user id with braces in it, ranking with explanations, readiness."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from service.store.keys import KeyLayout
from tests.e2e.test_rank import post_events, put_ads, rank
from tests.support.cluster import RedisClusterProcesses
from tests.support.processes import ServiceProcess


@pytest.fixture(scope="module")
def cluster_service(
    tiny_bundle: Path,
    redis_cluster: RedisClusterProcesses,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServiceProcess, str]]:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}:"
    log = tmp_path_factory.mktemp("service") / "service.log"
    flags = ("--redis.cluster", "--redis.key-prefix", prefix, "--model.ad-cache-ttl-s", "0.001")
    proc = ServiceProcess(tiny_bundle, redis_cluster.url, log, *flags)
    yield proc, prefix
    proc.stop()


def test_the_service_ranks_from_a_cluster(
    cluster_service: tuple[ServiceProcess, str], redis_cluster: RedisClusterProcesses
) -> None:
    service, prefix = cluster_service
    with httpx.Client(base_url=service.url, timeout=10) as client:
        assert client.get("/readyz").json()["redis"] == "ok"
        ids = put_ads(client)
        user = f"u{{team}}-{uuid.uuid4().hex[:6]}"
        post_events(client, user, ["marathon training plan", "best trail shoes", "socks"])
        out = rank(client, user_id=user, candidates=[{"ad_id": a} for a in ids], explain=True)
    assert out["degraded"] is False and out["metrics"]["user_found"] is True
    assert out["metrics"]["ad_cache_misses"] == len(ids)  # all four read from the cluster
    for row in out["ranked"]:
        names = [e["item_id"] for e in row["explanation"]]
        assert row["source"] == "model" and names and set(names) <= {"item-0", "item-1", "item-2"}
    assert '"redis":"cluster"' in service.logs()
    keys = KeyLayout(prefix)
    with redis.RedisCluster.from_url(redis_cluster.url) as rc:
        assert rc.exists(keys.user(out["model_version"], user), keys.history(user)) == 2
