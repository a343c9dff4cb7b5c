"""Fixtures shared by the service's integration and end-to-end tests: a real tiny bundle,
a real Redis server and a real three-node Redis Cluster (no mocks)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import RedisClusterProcesses
from tests.support.processes import RedisProcess


@pytest.fixture(scope="session")
def tiny_bundle() -> Path:
    from tests.support.bundles import tiny_bundle as build

    return build(seed=0)


@pytest.fixture(scope="session")
def clicks_only_bundle() -> Path:
    """The tiny bundle's model without a conversion tower (pCTR only)."""
    from tests.support.bundles import tiny_bundle as build

    return build(seed=0, cvr=False)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterProcesses]:
    cluster = RedisClusterProcesses(tmp_path_factory.mktemp("redis-cluster"))
    cluster.start()
    yield cluster
    cluster.stop()
