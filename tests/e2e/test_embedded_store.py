"""The embedded Redis (the service started without a Redis URL) end to end: histories and ad
vectors survive a restart in the default data dir, no redis-server outlives the service
(stopped or killed), the ephemeral mode keeps nothing, two services cannot share a data dir."""

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from adrank.serve_cli import parse_settings
from tests.e2e.conftest import uid
from tests.e2e.test_rank import post_events, put_ads, rank
from tests.support.processes import ROOT, ServiceProcess, wait_for

StartEmbedded = Callable[..., ServiceProcess]
HISTORY = ["marathon training plan", "best trail shoes", "running socks"]


@pytest.fixture
def start(tiny_bundle: Path, tmp_path: Path) -> Iterator[StartEmbedded]:
    """Start a service with its embedded Redis; all are stopped at the end."""
    started: list[ServiceProcess] = []

    def start_one(*flags: str, cwd: Path = ROOT) -> ServiceProcess:
        logs = tmp_path / f"service-{len(started)}.log"
        proc = ServiceProcess(tiny_bundle, None, logs, *flags, cwd=cwd)
        started.append(proc)
        return proc

    yield start_one
    for proc in started:
        proc.stop()


def redis_servers(data_dir: Path) -> list[int]:
    """Pids of the redis-server processes whose command line names ``data_dir``."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:  # the process ended meanwhile
            continue
        if "redis-server" in args[0] and any(str(data_dir) in a for a in args):
            pids.append(int(cmdline.parent.name))
    return pids


def started_line(service: ServiceProcess) -> dict:
    """The service's 'embedded redis started' log line."""
    for line in service.logs().splitlines():
        if line.startswith("{") and json.loads(line)["message"] == "embedded redis started":
            return json.loads(line)
    raise AssertionError(f"no 'embedded redis started' line in {service.log_file}")


def client_of(service: ServiceProcess) -> httpx.Client:
    return httpx.Client(base_url=service.url, timeout=10)


def test_the_embedded_redis_persists_in_the_project_unless_told_otherwise() -> None:
    default = parse_settings([]).redis
    assert default.embedded_dir == Path("data/redis") and not default.embedded_ephemeral
    flags = parse_settings(["--redis.embedded-dir", "/srv/r", "--redis.embedded-ephemeral"])
    assert flags.redis.embedded_dir == Path("/srv/r") and flags.redis.embedded_ephemeral


def test_histories_and_ads_survive_a_restart_in_the_default_dir(
    start: StartEmbedded, tmp_path: Path
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    first = start("--workers", "2", cwd=cwd)  # the multi-worker parent owns the Redis
    user = uid("u")
    data_dir = cwd / "data" / "redis"
    with client_of(first) as client:
        ads = put_ads(client)
        post_events(client, user, HISTORY)
    assert len(redis_servers(data_dir)) == 1  # one, shared by the workers
    first.stop()
    assert redis_servers(data_dir) == []
    second = start(cwd=cwd)
    with client_of(second) as client:
        out = rank(client, user_id=user, candidates=[{"ad_id": a} for a in ads])
    assert out["metrics"]["user_found"] is True
    assert [r["source"] for r in out["ranked"]] == ["model"] * len(ads)  # vectors kept too
    assert (data_dir / "appendonly.aof").stat().st_size > 0
    line = started_line(first)
    assert line["data_dir"] == str(data_dir) and line["persistent"] is True


def test_no_redis_server_outlives_a_killed_service(start: StartEmbedded, tmp_path: Path) -> None:
    data_dir = tmp_path / "redis"
    service = start("--redis.embedded-dir", str(data_dir))
    assert len(redis_servers(data_dir)) == 1
    run_dir = Path(started_line(service)["socket"]).parent
    user = uid("u")
    with client_of(service) as client:
        post_events(client, user, HISTORY)
    service.proc.kill()
    service.proc.wait()
    wait_for(lambda: not redis_servers(data_dir), 10, "redis-server outlived a killed service")
    assert run_dir.exists()  # a killed service cannot remove it ...
    again = start("--redis.embedded-dir", str(data_dir))  # the dir is free again
    assert not run_dir.exists()  # ... the next start does
    with client_of(again) as client:
        out = rank(client, user_id=user, candidates=[{"ad_id": uid("ad"), "title": "Shoes"}])
    assert out["metrics"]["user_found"] is True  # Redis shut down cleanly, AOF written


def test_ephemeral_keeps_nothing_and_leaves_nothing(start: StartEmbedded, tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    service = start("--redis.embedded-ephemeral", cwd=cwd)
    line = started_line(service)
    data_dir, socket = Path(line["data_dir"]), Path(line["socket"])
    assert line["persistent"] is False and data_dir.is_dir() and socket.exists()
    assert len(redis_servers(data_dir)) == 1
    user = uid("u")
    with client_of(service) as client:
        post_events(client, user, HISTORY)
    service.stop()
    assert not data_dir.exists() and not socket.parent.exists()
    assert redis_servers(data_dir) == [] and list(cwd.iterdir()) == []
    again = start("--redis.embedded-ephemeral", cwd=cwd)
    with client_of(again) as client:
        out = rank(client, user_id=user, candidates=[{"ad_id": uid("ad"), "title": "Shoes"}])
    assert out["metrics"]["user_found"] is False


def test_a_second_service_on_the_same_dir_is_refused(start: StartEmbedded, tmp_path: Path) -> None:
    data_dir = tmp_path / "redis"
    first = start("--redis.embedded-dir", str(data_dir))
    message = f"data dir {re.escape(str(data_dir))} is in use by another adrank service"
    with pytest.raises(RuntimeError, match=message):
        start("--redis.embedded-dir", str(data_dir))
    assert httpx.get(f"{first.url}/readyz", timeout=5).status_code == 200
    assert len(redis_servers(data_dir)) == 1
