"""Operations end to end: reload under traffic, a broken bundle refused, Redis stopped in the
middle of traffic, load shedding with Retry-After, and API keys."""

import asyncio
import json
import shutil
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import StartService, uid
from tests.support.processes import RedisProcess, copy_bundle

KEY, ADMIN = "k" * 24, "a" * 24


def rank_body(n: int = 20, timeout_ms: float = 2000) -> dict:
    cands = [{"ad_id": f"ad-{i}", "title": f"Ad number {i}", "bid": 1.0 + i} for i in range(n)]
    return {"user_id": uid("u"), "candidates": cands, "timeout_ms": timeout_ms}


async def traffic(url: str, stop: asyncio.Event, clients: int = 8) -> list[httpx.Response]:
    """``clients`` loops posting /rank until ``stop`` is set; every response is kept."""
    responses: list[httpx.Response] = []

    async def loop(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            responses.append(await client.post("/rank", json=rank_body()))

    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        await asyncio.gather(*(loop(client) for _ in range(clients)))
    return responses


async def test_reload_under_traffic_fails_no_request(
    start_service: StartService, tiny_bundle: Path, tmp_path: Path
) -> None:
    service = start_service()
    v2 = copy_bundle(tiny_bundle, tmp_path / "v2", "tiny-0-b")
    broken = copy_bundle(tiny_bundle, tmp_path / "broken", "tiny-0-broken")
    with (broken / "ranker.onnx").open("r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01\x02")
    stop = asyncio.Event()
    running = asyncio.create_task(traffic(service.url, stop))
    async with httpx.AsyncClient(base_url=service.url, timeout=60) as admin:
        await asyncio.sleep(0.5)
        r = await admin.post("/admin/reload", json={"bundle_path": str(v2)})
        assert r.status_code == 200, r.text
        assert r.json()["model_version"] == "tiny-0-b" and r.json()["previous_version"] == "tiny-0"
        refused = await admin.post("/admin/reload", json={"bundle_path": str(broken)})
        assert refused.status_code == 422 and refused.json()["error_type"] == "bundle_rejected"
        assert "sha256" in refused.json()["error"]
        back = await admin.post("/admin/reload", json={"bundle_path": str(tiny_bundle)})
        assert back.status_code == 200
        await asyncio.sleep(0.5)
    stop.set()
    responses = await running
    failed = [r.text for r in responses if r.status_code != 200]
    assert responses and not failed, failed[:3]
    versions = {r.json()["model_version"] for r in responses}
    assert {"tiny-0", "tiny-0-b"} <= versions


async def test_redis_outage_degrades_then_recovers(
    start_service: StartService, tmp_path: Path
) -> None:
    redis = RedisProcess(tmp_path)
    redis.start()
    try:
        await _outage(start_service, redis)
    finally:
        redis.stop()


async def _outage(start_service: StartService, redis: RedisProcess) -> None:
    service = start_service("--redis.breaker-reset-s", "0.5", redis=redis)
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
        assert (await client.post("/rank", json=rank_body())).json()["degraded"] is False
        stop = asyncio.Event()
        running = asyncio.create_task(traffic(service.url, stop, clients=4))
        await asyncio.sleep(0.3)
        redis.stop()
        await asyncio.sleep(1.0)
        assert (await client.get("/readyz")).status_code == 503
        during = await client.post("/rank", json=rank_body())
        redis.start()
        recovered = await _wait_not_degraded(client)
        stop.set()
        responses = await running
        metrics = (await client.get("/metrics")).text
    assert during.status_code == 200 and during.json()["degraded"] is True
    assert "redis_unavailable" in during.json()["degraded_reasons"]
    assert all(r.status_code == 200 for r in responses)
    assert any(r.json()["degraded"] for r in responses)
    assert recovered["degraded"] is False
    assert 'adrank_degraded_total{reason="redis_unavailable"}' in metrics


async def _wait_not_degraded(client: httpx.AsyncClient, timeout_s: float = 10) -> dict:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        body = (await client.post("/rank", json=rank_body())).json()
        if not body["degraded"]:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError("still degraded after Redis came back")


async def test_full_queue_answers_503_with_retry_after(start_service: StartService) -> None:
    service = start_service("--batch.queue-max-pairs", "200", "--batch.max-pairs", "100")
    body = rank_body(n=100)
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
        await client.post("/rank", json=body)  # the ads are now known
        results = await asyncio.gather(*(client.post("/rank", json=body) for _ in range(64)))
        late = await client.post("/rank", json={**body, "timeout_ms": 0.01})
    statuses = {r.status_code for r in results}
    assert statuses <= {200, 503} and 503 in statuses and 200 in statuses
    shed = next(r for r in results if r.status_code == 503)
    assert shed.headers["retry-after"] == "1"
    assert shed.json()["error_type"] in {"overloaded", "deadline_exceeded"}
    assert late.status_code == 503 and late.json()["error_type"] == "deadline_exceeded"


def test_api_keys(start_service: StartService) -> None:
    service = start_service("--auth.api-keys", json.dumps([KEY]),
                            "--auth.admin-api-keys", json.dumps([ADMIN]))  # fmt: skip
    body = {"user_id": "u", "candidates": [{"ad_id": "a"}]}
    with httpx.Client(base_url=service.url, timeout=30) as c:
        assert c.post("/rank", json=body).status_code == 401
        assert c.post("/rank", json=body, headers={"x-api-key": "x" * 24}).status_code == 403
        assert c.post("/rank", json=body, headers={"x-api-key": KEY}).status_code == 200
        bearer = {"authorization": f"Bearer {KEY}"}
        assert c.post("/rank", json=body, headers=bearer).status_code == 200
        assert c.post("/admin/reload", headers={"x-api-key": KEY}).status_code == 403
        assert c.post("/admin/reload", headers={"x-api-key": ADMIN}).status_code == 200
        assert c.get("/healthz").status_code == 200
        assert c.get("/metrics").status_code == 200
        r = c.post("/rank", json=body)
        assert r.json()["error_type"] == "unauthorized" and r.headers["www-authenticate"]


@pytest.fixture(autouse=True)
def _no_stray_bundles(tmp_path: Path) -> None:
    yield
    shutil.rmtree(tmp_path, ignore_errors=True)
