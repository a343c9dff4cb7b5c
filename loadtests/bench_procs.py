"""The processes a benchmark measures: the service variants and the bare FastAPI app, each
started as in production (``adrank.serve_cli`` / uvicorn), plus CPU accounting of workers."""

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from loadtests.report import BARE, is_bare
from loadtests.traffic import World, seed_batches
from tests.support.processes import ROOT, free_port, stop_process

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Variant:
    name: str
    flags: tuple[str, ...] = ()  # for adrank serve (or uvicorn, for the bare app)
    root: Path = ROOT  # the checkout whose code runs (another one: a previous build)


VARIANTS = (
    Variant(BARE),
    Variant("bare-2w", ("--workers", "2")),  # the framework's ceiling with two processes
    Variant("rank"),  # one worker, batching on (the default)
    Variant("rank-nobatch", ("--batch.max-requests", "1")),
    Variant("rank-2w-reuseport", ("--workers", "2")),
    Variant("rank-2w-shared", ("--workers", "2", "--no-server.reuse-port")),
)


class Running:
    """A started variant: its port, process and worker processes."""

    def __init__(self, variant: Variant, bundle: Path, redis_url: str, log: Path) -> None:
        self.variant = variant
        self.port = free_port()
        if self.bare:
            args = [sys.executable, "-m", "uvicorn", "loadtests.bare_app:create_bare_app",
                    "--factory", "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                    "--log-level", "warning", "--host", HOST, "--port", str(self.port),
                    *variant.flags]  # fmt: skip
        else:
            args = [sys.executable, "-m", "adrank.serve_cli", "--bundle", str(bundle),
                    "--redis-url", redis_url, "--host", HOST, "--port", str(self.port),
                    "--log-level", "warning", *variant.flags]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("ADRANK_")}
        self.log = log
        self._out = log.open("wb")
        # ``python -m`` puts the working directory first on sys.path: its code runs
        self.proc = subprocess.Popen(args, cwd=variant.root, env=env, stdout=self._out,
                                     stderr=subprocess.STDOUT)  # fmt: skip

    @property
    def bare(self) -> bool:
        return is_bare(self.variant.name)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.variant.name} exited: {self.log.read_text()[-2000:]}")
        path = "/openapi.json" if self.bare else "/readyz"
        try:
            return httpx.get(self.url + path, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def worker_pids(self) -> list[int]:
        """The processes that serve: the spawned workers, or the process itself."""
        children = _children(self.proc.pid)
        workers = [c for c in children if b"spawn_main" in _cmdline(c)]
        return workers or [self.proc.pid]

    def cpu_seconds(self) -> dict[int, float]:
        return {pid: _cpu_seconds(pid) for pid in self.worker_pids()}

    def stop(self) -> None:
        stop_process(self.proc, 20)
        self._out.close()


def start_all(variants: tuple[Variant, ...], bundle: Path, redis_url: str, logs: Path,
              timeout_s: float = 180.0) -> list[Running]:  # fmt: skip
    """Start every variant at once, then wait until all are ready."""
    running = [Running(v, bundle, redis_url, logs / f"{v.name}.log") for v in variants]
    end = time.monotonic() + timeout_s
    try:
        for r in running:
            while not r.ready():
                if time.monotonic() > end:
                    raise TimeoutError(f"{r.variant.name} did not become ready; see {r.log}")
                time.sleep(0.2)
    except BaseException:
        stop_all(running)
        raise
    return running


def stop_all(running: list[Running]) -> None:
    for r in running:
        r.stop()


def seed(url: str, world: World) -> None:
    """The catalog and users' histories, through the service's API."""
    ads, histories = seed_batches(world)
    headers = {"Content-Type": "application/json"}
    with httpx.Client(base_url=url, timeout=300, headers=headers) as client:
        for body in ads:
            client.put("/ads", content=orjson.dumps(body)).raise_for_status()
        for body in histories:
            client.post("/events", content=orjson.dumps(body)).raise_for_status()


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
