"""``adrank serve``: the ranking service under uvicorn (uvloop, httptools).

Every setting is a flag here and an ``ADRANK_*`` env var (see service.settings). With
``--workers N`` > 1, N processes each bind the port with SO_REUSEPORT (the kernel balances
connections evenly; uvicorn's own ``--workers`` shares one socket and often does not);
``--no-server.reuse-port`` binds one socket in the parent and shares it, as uvicorn does.
Without a Redis URL, one embedded Redis is started here and shared by the workers.
"""

import multiprocessing as mp
import os
import signal
import socket
import sys
from collections.abc import Sequence

import orjson
import uvicorn
from pydantic_settings import CliApp

from service.app import create_service
from service.server.drain import CloseWhenDraining, DrainingServer, DrainState
from service.server.logs import configure_logging
from service.settings import Settings

GRACEFUL_TIMEOUT_S = 10  # in-flight requests get this long after the listener closes
IDLE_GRACE_S = 1.0  # open connections get this long to deliver a request already sent


def parse_settings(argv: Sequence[str] | None = None) -> Settings:
    return CliApp.run(Settings, cli_args=list(sys.argv[1:] if argv is None else argv))


def main(argv: Sequence[str] | None = None) -> None:
    settings = parse_settings(argv)
    configure_logging(settings.server.log_level)
    if settings.server.workers == 1:
        _serve(settings)
        return
    embedded = None
    if not settings.redis.url:
        from service.store.embedded import EmbeddedRedis

        embedded = EmbeddedRedis(settings.redis)
        settings = settings.model_copy(
            update={"redis": settings.redis.model_copy(update={"url": embedded.url})}
        )
    try:
        _run_workers(settings)
    finally:
        if embedded is not None:
            embedded.close()


def _serve(settings: Settings, sock: socket.socket | None = None) -> None:
    drain = DrainState()
    config = uvicorn.Config(
        CloseWhenDraining(create_service(settings), drain),
        host=settings.server.host,
        port=settings.server.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=GRACEFUL_TIMEOUT_S,
    )
    server = DrainingServer(config, drain, IDLE_GRACE_S)
    # uvicorn re-raises the signal that stopped it once it has shut down; with this handler
    # a SIGTERM that ended in a graceful shutdown exits 0 (as the multi-worker parent does).
    signal.signal(signal.SIGTERM, _stopped)
    server.run(sockets=[sock] if sock else None)


def _stopped(signum: int, _frame: object) -> None:
    """Nothing left to do: the server has drained and shut down."""


def listen_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _worker(settings_json: str, shared: socket.socket | None = None) -> None:
    """One worker: on the parent's shared socket, or on its own SO_REUSEPORT socket."""
    settings = Settings.model_validate_json(settings_json)
    configure_logging(settings.server.log_level)
    host, port = settings.server.host, settings.server.port
    _serve(settings, shared or listen_socket(host, port, reuse_port=True))


def _run_workers(settings: Settings) -> None:
    ctx = mp.get_context("spawn")
    payload = _settings_json(settings)
    server = settings.server
    shared = None if server.reuse_port else listen_socket(server.host, server.port, False)
    procs = [ctx.Process(target=_worker, args=(payload, shared)) for _ in range(server.workers)]
    for proc in procs:
        proc.start()

    def stop(signum: int, _frame: object) -> None:
        for proc in procs:
            if proc.pid is not None:
                os.kill(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for proc in procs:
        proc.join()


def _settings_json(settings: Settings) -> str:
    """Settings for a worker, secrets included (SecretStr hides them in model_dump_json)."""
    data = settings.model_dump(mode="python")
    auth = data["auth"]
    for name in ("api_keys", "admin_api_keys"):
        auth[name] = [k.get_secret_value() for k in auth[name]]
    return orjson.dumps(data, default=str).decode()


if __name__ == "__main__":
    main()
