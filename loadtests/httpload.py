"""A lean HTTP/1.1 load generator on asyncio streams (keep-alive, pre-encoded requests): it
leaves as much of the shared CPU as possible to the server under test.

- closed loop (``run_closed_loop``): N connections, each sends when its last answer came;
- open loop (``run_open_loop``): requests go out at given times (a Poisson schedule) whether
  or not earlier ones were answered, over a pool of connections; latency counts from the
  scheduled time, so time spent waiting behind a slow server is not omitted.
"""

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

TIMER_SLACK_S = 0.001  # uvloop's timers have 1 ms resolution: wake early, never late
FAILED = 0  # status recorded for a request that got no HTTP answer (connection error, timeout)


def latency_summary(latencies_s: Sequence[float]) -> dict[str, float]:
    """p50, p95 and p99 in milliseconds (NaN when there is nothing to summarise)."""
    if not latencies_s:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}
    p50, p95, p99 = np.percentile(np.asarray(latencies_s) * 1000, [50, 95, 99])
    return {"p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99)}


@dataclass
class Result:
    latencies_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0
    last_answer: float = 0.0  # perf_counter() of the latest answer (open loop)

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s != 200)

    def record(self, status: int, latency_s: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == 200:  # latency of good answers only: a fast 503 is no success
            self.latencies_s.append(latency_s)

    def add(self, other: "Result") -> None:
        self.latencies_s += other.latencies_s
        self.seconds += other.seconds
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n

    def summary(self) -> dict[str, float]:
        """Requests/s answered 200, p50/p95/p99 of those, and the count of everything else."""
        rps = self.ok / self.seconds if self.seconds else 0.0
        return {"rps": rps, **latency_summary(self.latencies_s), "errors": float(self.errors)}


def encode_post(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")  # fmt: skip
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


async def _client(host: str, port: int, requests: Sequence[bytes], offset: int,
                  until: float, result: Result, keep: list[bytes] | None) -> None:  # fmt: skip
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(requests[i % len(requests)])
            status, body = await _read_response(reader)
            result.record(status, time.perf_counter() - started)
            if keep is not None and len(keep) < 50:
                keep.append(body)
            i += 1
    finally:
        writer.close()


async def run_closed_loop(host: str, port: int, requests: Sequence[bytes], clients: int,
                          seconds: float, keep: list[bytes] | None = None) -> Result:  # fmt: skip
    """``clients`` connections, each sending its next request as soon as the last answered."""
    result = Result()
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(*(_client(host, port, requests, c * 7919, until, result, keep)
                           for c in range(clients)))  # fmt: skip
    result.seconds = time.perf_counter() - started
    return result


class _Pool:
    """Keep-alive connections: an idle one if any, else a new one up to ``limit``, else wait."""

    def __init__(self, host: str, port: int, limit: int) -> None:
        self.host, self.port, self.limit = host, port, limit
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )
        self.opened = 0

    async def open(self, n: int) -> None:
        for _ in range(min(n, self.limit - self.opened)):
            self.opened += 1
            self.idle.put_nowait(await asyncio.open_connection(self.host, self.port))

    async def get(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.idle.empty() and self.opened < self.limit:
            self.opened += 1
            try:
                return await asyncio.open_connection(self.host, self.port)
            except OSError:
                self.opened -= 1
                raise
        return await self.idle.get()

    def discard(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        conn[1].close()
        self.opened -= 1

    def close(self) -> None:
        while not self.idle.empty():
            self.idle.get_nowait()[1].close()


async def _send_at(pool: _Pool, request: bytes, due: float, result: Result) -> None:
    due = min(due, time.perf_counter())  # sent early (timer slack): count from the real send
    conn = None
    try:
        conn = await pool.get()
        conn[1].write(request)
        status, _ = await _read_response(conn[0])
    except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError) as e:
        if conn is not None:
            pool.discard(conn)
        if isinstance(e, asyncio.CancelledError):
            raise
        result.record(FAILED, 0.0)
        return
    pool.idle.put_nowait(conn)
    result.last_answer = time.perf_counter()
    result.record(status, result.last_answer - due)


async def run_open_loop(host: str, port: int, requests: Sequence[bytes], offsets: Sequence[float],
                        connections: int = 256, drain_s: float = 10.0) -> Result:  # fmt: skip
    """Send ``requests[i % n]`` at ``offsets[i]`` seconds from the start, not waiting for
    earlier answers (up to ``connections`` in flight; more wait for a free connection, and that
    wait counts). Requests unanswered ``drain_s`` after the last send count as failed.
    ``seconds`` runs to the last answer, so requests/s is what the server really delivered."""
    pool, result, tasks = _Pool(host, port, connections), Result(), []
    await pool.open(min(connections, 16))
    start = time.perf_counter()
    for i, offset in enumerate(offsets):
        due = start + offset
        if (wait := due - time.perf_counter()) > TIMER_SLACK_S:  # event-loop timers run late
            await asyncio.sleep(wait - TIMER_SLACK_S)
        tasks.append(asyncio.ensure_future(_send_at(pool, requests[i % len(requests)], due,
                                                    result)))  # fmt: skip
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=drain_s)
        for task in pending:
            task.cancel()
            result.record(FAILED, 0.0)
        await asyncio.gather(*pending, return_exceptions=True)
    last_send = float(offsets[-1]) if len(offsets) else 0.0
    result.seconds = max(result.last_answer - start, last_send)
    pool.close()
    return result
