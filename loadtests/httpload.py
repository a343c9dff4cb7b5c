"""A lean closed-loop HTTP/1.1 load generator on asyncio streams (keep-alive, pre-encoded
requests): it leaves as much of the shared CPU as possible to the server under test."""

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Result:
    latencies_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s != 200)

    def summary(self) -> dict[str, float]:
        lat = np.array(self.latencies_s) * 1000 if self.latencies_s else np.zeros(1)
        return {
            "rps": self.ok / self.seconds if self.seconds else 0.0,  # answered 200 only
            "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)),
            "errors": float(self.errors),
        }


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
            result.latencies_s.append(time.perf_counter() - started)
            result.statuses[status] = result.statuses.get(status, 0) + 1
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
