"""The real service under uvicorn (a child process) against a real Redis server."""

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import RedisProcess, ServiceProcess

StartService = Callable[..., ServiceProcess]


@pytest.fixture(scope="session")
def start_service(
    tiny_bundle: Path, redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StartService]:
    """Start a service with extra flags (its own key prefix); all are stopped at the end."""
    started: list[ServiceProcess] = []

    def start(*flags: str, redis: RedisProcess | None = None, bundle: Path | None = None):
        logs = tmp_path_factory.mktemp("service") / "service.log"
        prefix = f"e2e-{uuid.uuid4().hex[:8]}:"
        proc = ServiceProcess(bundle or tiny_bundle, (redis or redis_server).url, logs,
                              "--redis.key-prefix", prefix, *flags)  # fmt: skip
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(scope="session")
def service(start_service: StartService) -> ServiceProcess:
    return start_service()


@pytest.fixture
def client(service: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=10) as c:
        yield c


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
