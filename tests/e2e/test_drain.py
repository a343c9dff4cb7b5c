"""Graceful shutdown of the real service: SIGTERM in the middle of /rank traffic loses no
accepted request, and the process exits 0 within the grace period.

A request counts as accepted when its connection was accepted: it must get a complete 200.
A connection refused after the listener closed is not an accepted request; those attempts are
counted apart (and are expected: the clients keep sending until they are refused).
"""

import asyncio
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass

import httpx

from tests.e2e.conftest import StartService, uid

CLIENTS = 8
CANDIDATES = 20
GRACE_S = 20.0  # the Deployment's terminationGracePeriodSeconds minus its preStop sleep


@dataclass(frozen=True)
class Attempt:
    started: float
    ended: float
    outcome: str  # "ok", "refused", "status <code>", "bad body", or the transport error


def rank_body(i: int) -> dict:
    cands = [{"ad_id": f"drain-ad-{j}", "title": f"Drain offer {j}", "bid": 1.0 + j}
             for j in range(CANDIDATES - 1)]  # fmt: skip
    cands.append({"ad_id": uid("fresh"), "title": f"Fresh ad {i}", "bid": 0.5})  # encoder path
    return {"user_id": uid("u"), "candidates": cands, "timeout_ms": 5000}


def judge(response: httpx.Response) -> str:
    if response.status_code != 200:
        return f"status {response.status_code}"
    body = response.json()
    complete = len(body["ranked"]) == CANDIDATES and body["degraded"] is False
    return "ok" if complete else "bad body"


async def attempt(client: httpx.AsyncClient, i: int) -> Attempt:
    started = time.monotonic()
    try:
        outcome = judge(await client.post("/rank", json=rank_body(i)))
    except httpx.ConnectError:
        outcome = "refused"
    except httpx.TransportError as exc:
        outcome = type(exc).__name__
    return Attempt(started, time.monotonic(), outcome)


async def client_loop(url: str, attempts: list[Attempt], stop_at: float) -> None:
    """Send /rank until a connection is refused (the listener closed) or time is up."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while time.monotonic() < stop_at:
            result = await attempt(client, len(attempts))
            attempts.append(result)
            if result.outcome == "refused":
                return


async def sigterm_when_busy(pid: int, attempts: list[Attempt]) -> float:
    """SIGTERM once traffic flows (after 1 s and 20 answered requests); returns its time."""
    started = time.monotonic()
    while time.monotonic() - started < 1.0 or len(attempts) < 20:
        await asyncio.sleep(0.05)
    sent = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    return sent


async def test_sigterm_during_traffic_loses_no_accepted_request(
    start_service: StartService,
) -> None:
    service = start_service()
    attempts: list[Attempt] = []
    stop_at = time.monotonic() + 60
    loops = [client_loop(service.url, attempts, stop_at) for _ in range(CLIENTS)]
    traffic = asyncio.gather(*loops)
    sigterm_at = await sigterm_when_busy(service.proc.pid, attempts)
    exit_code = await asyncio.to_thread(service.proc.wait, GRACE_S)
    exited_after_s = time.monotonic() - sigterm_at
    await traffic

    outcomes = Counter(a.outcome for a in attempts)
    in_flight = [a for a in attempts if a.started < sigterm_at < a.ended]
    after = [a for a in attempts if a.started > sigterm_at and a.outcome == "ok"]
    print(f"drain: {outcomes}, {len(in_flight)} in flight at SIGTERM, {len(after)} accepted "
          f"after it, exit {exit_code} after {exited_after_s:.2f} s")  # fmt: skip
    lost = {k: n for k, n in outcomes.items() if k not in ("ok", "refused")}
    assert not lost, f"accepted requests without a complete 200: {lost} of {outcomes}"
    assert exit_code == 0, service.logs()[-3000:]
    assert exited_after_s < GRACE_S
    assert in_flight, "no request was in flight at SIGTERM: the test did not test the drain"
    assert outcomes["refused"] == CLIENTS, outcomes  # every client ended on a refusal
