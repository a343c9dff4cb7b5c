"""Exposure records and outcome attribution against a real Redis (docs/experiments.md, "Redis
layout"), without HTTP: records flushed as request keys expiring after attribution_ttl_s, q
counts per arm and user, the meta; outcomes attributed by request id (in process or in Redis),
by user id, or not at all, with exact counts under many concurrent writers; and when Redis is
down, exposures dropped and counted, attribution refused with DependencyDown."""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from service.errors import DependencyDown
from service.events.protocol import Outcome
from service.experiments.arms import ArmSet, build_arm_set
from service.experiments.attribution import Attribution
from service.experiments.config import ExperimentSettings
from service.experiments.exposures import ExposureLog
from service.metrics import Metrics
from service.runtime.model import LoadedModel, load_model
from service.settings import ModelSettings, RedisSettings, Settings
from service.store import clients
from service.store.redis_store import RedisStore
from tests.support.processes import RedisProcess

TS = 1_699_999_990.0  # in the 60 s bucket that starts at 1_699_999_980


@pytest.fixture(scope="module")
def model(tiny_bundle: Path) -> LoadedModel:
    """The tiny bundle with real onnxruntime sessions (no batchers: nothing is scored)."""
    return load_model(tiny_bundle, Settings(model=ModelSettings(bundle_path=tiny_bundle)))


def arm_set(model: LoadedModel, bundle: Path, **config: object) -> ArmSet:
    arms = [{"name": "control", "weight": 0.5, "bundle_path": str(bundle)},
            {"name": "treatment", "weight": 0.5, "bundle_path": str(bundle)}]  # fmt: skip
    settings = ExperimentSettings.model_validate({"name": "ab", "salt": "s1", "arms": arms,
                                                  **config})  # fmt: skip
    return build_arm_set(settings, bundle, {bundle.resolve(): model})


class Parts:
    def __init__(self, url: str) -> None:
        prefix = f"t-{uuid.uuid4().hex[:8]}:"
        self.metrics = Metrics()
        self.store = RedisStore(url, RedisSettings(url=url, key_prefix=prefix), self.metrics)
        self.exposures = ExposureLog(self.store, self.metrics)
        self.attribution = Attribution(self.store, self.exposures, self.metrics)
        self.redis = aioredis.Redis.from_url(url, decode_responses=True)
        self.keys = self.store.keys

    async def users(self, arm: str, name: str = "ab") -> dict[str, float]:
        raw = await self.redis.hgetall(self.keys.exp_users(name, arm))
        return {str(k): float(v) for k, v in raw.items()}

    async def series(self, arm: str, name: str = "ab") -> dict[str, float]:
        raw = await self.redis.hgetall(self.keys.exp_series(name, arm))
        return {str(k): float(v) for k, v in raw.items()}

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    async def close(self) -> None:
        await self.exposures.close()
        await self.store.close()
        await self.redis.aclose()


@pytest.fixture
async def parts(redis_server: RedisProcess) -> AsyncIterator[Parts]:
    p = Parts(redis_server.url)
    yield p
    await p.close()


def users_of(arms: ArmSet, arm: str, n: int, tag: str) -> list[str]:
    """``n`` user ids the arm table puts in ``arm``."""
    found = (f"{tag}-{i}" for i in range(10_000))
    return [u for u in found if arms.arm_of(u).name == arm][:n]


async def test_flushed_records_expire_after_the_ttl_and_count_requests(
    parts: Parts, model: LoadedModel, tiny_bundle: Path
) -> None:
    arms = arm_set(model, tiny_bundle, attribution_ttl_s=777, series_bucket_s=60)
    [alice] = users_of(arms, "control", 1, "alice")
    [bob] = users_of(arms, "treatment", 1, "bob")
    # a meta written before: "started" is set once, the rest follows the arms served
    await parts.redis.hset(parts.keys.exp_meta("ab"), mapping={"started": 123, "salt": "old"})
    for i in range(3):
        parts.exposures.record(arms, "control", f"r-a{i}", alice)
    parts.exposures.record(arms, "treatment", "r-b0", bob)
    found = parts.exposures.lookup("r-a1")
    assert found is not None and (found.arm, found.user_id) == ("control", alice)
    assert parts.exposures.lookup("r-unknown") is None

    await parts.exposures.flush()
    assert parts.exposures.lookup("r-a1") is None  # in Redis now, not in process
    request_key = parts.keys.exp_request("ab", "r-a1")
    assert request_key == f"{parts.keys.prefix}exp:{{ab}}:req:r-a1"
    assert await parts.redis.get(request_key) == f"control\t{alice}"
    assert await parts.redis.get(parts.keys.exp_request("ab", "r-b0")) == f"treatment\t{bob}"
    assert 770 < await parts.redis.ttl(request_key) <= 777
    assert await parts.users("control") == {f"q:{alice}": 3}
    assert await parts.users("treatment") == {f"q:{bob}": 1}
    [control_series] = (await parts.series("control")).items()
    bucket, letter = control_series[0].split(":")
    assert letter == "q" and control_series[1] == 3 and int(bucket) % 60 == 0
    assert abs(int(bucket) - time.time()) < 3600  # the bucket of the records' time

    meta = await parts.redis.hgetall(parts.keys.exp_meta("ab"))
    assert json.loads(meta["arms"]) == [
        {"name": "control", "weight": 0.5, "versions": [model.version]},
        {"name": "treatment", "weight": 0.5, "versions": [model.version]},
    ]
    assert (meta["salt"], meta["control"], meta["bucket_s"], meta["started"]) == (
        "s1", "control", "60", "123")  # fmt: skip
    assert parts.sample("adrank_dropped_total", reason="exposures") == 0


async def test_records_are_flushed_on_their_own_after_flush_ms(
    parts: Parts, model: LoadedModel, tiny_bundle: Path
) -> None:
    arms = arm_set(model, tiny_bundle, flush_ms=10)
    parts.exposures.record(arms, "control", "r-timer", "u-timer")
    key = parts.keys.exp_request("ab", "r-timer")
    for _ in range(500):  # poll: no assertion on how long it took
        if await parts.redis.get(key) is not None:
            break
        await asyncio.sleep(0.01)
    assert await parts.redis.get(key) == "control\tu-timer"
    assert await parts.users("control") == {"q:u-timer": 1}


async def test_records_of_two_experiments_in_one_batch_go_to_each(
    parts: Parts, model: LoadedModel, tiny_bundle: Path
) -> None:
    first = arm_set(model, tiny_bundle)
    second = arm_set(model, tiny_bundle, name="ab-2", salt="s2")
    parts.exposures.record(first, "control", "r-1", "u-1")
    parts.exposures.record(second, "treatment", "r-2", "u-2")
    await parts.exposures.flush()
    assert await parts.redis.get(parts.keys.exp_request("ab", "r-1")) == "control\tu-1"
    assert await parts.redis.get(parts.keys.exp_request("ab-2", "r-2")) == "treatment\tu-2"
    assert await parts.redis.get(parts.keys.exp_request("ab", "r-2")) is None
    assert await parts.users("treatment", "ab-2") == {"q:u-2": 1}
    assert (await parts.redis.hget(parts.keys.exp_meta("ab-2"), "salt")) == "s2"


def outcome(request_id: str, kind: str, **kw: object) -> Outcome:
    return Outcome(request_id=request_id, ad_id="ad-1", type=kind, **kw)  # type: ignore[arg-type]


async def test_outcomes_are_attributed_by_request_then_user_else_not(
    parts: Parts, model: LoadedModel, tiny_bundle: Path
) -> None:
    arms = arm_set(model, tiny_bundle)
    [alice] = users_of(arms, "control", 1, "alice")
    [bob, carol] = users_of(arms, "treatment", 2, "bob")
    parts.exposures.record(arms, "control", "r-flushed", alice)
    await parts.exposures.flush()
    parts.exposures.record(arms, "treatment", "r-pending", bob)  # not yet in Redis

    outcomes = [
        outcome("r-flushed", "impression", ts=TS),
        outcome("r-flushed", "click", ts=TS, revenue=0.25),
        outcome("r-flushed", "conversion", ts=TS, revenue=2.5, value=9.0),
        outcome("r-pending", "impression", ts=TS),
        outcome("r-pending", "click", ts=TS),
        # unknown request id: the user's arm under the current arms (ts absent: now)
        outcome("r-expired", "impression", user_id=carol),
        # a user id that disagrees with the request's record: the record wins
        outcome("r-flushed", "impression", user_id=carol, ts=TS),
        outcome("r-nowhere", "click"),  # neither: not attributed
    ]
    attributed = await parts.attribution.count(outcomes, arms, now=TS)
    assert attributed == 7

    assert await parts.users("control") == {
        f"q:{alice}": 1, f"i:{alice}": 2, f"c:{alice}": 1, f"v:{alice}": 1,
        f"r:{alice}": pytest.approx(2.75)}  # fmt: skip
    assert await parts.users("treatment") == {f"i:{bob}": 1, f"c:{bob}": 1, f"i:{carol}": 1}
    assert await parts.series("treatment") == {"1699999980:i": 2, "1699999980:c": 1}
    control_series = await parts.series("control")
    assert {k: v for k, v in control_series.items() if not k.endswith(":q")} == {
        "1699999980:i": 2, "1699999980:c": 1, "1699999980:v": 1,
        "1699999980:r": pytest.approx(2.75)}  # fmt: skip

    assert parts.sample("adrank_attribution_total", how="request") == 6
    assert parts.sample("adrank_attribution_total", how="user") == 1
    assert parts.sample("adrank_attribution_total", how="none") == 1
    assert parts.sample("adrank_arm_outcomes_total", arm="control", type="impression") == 2
    assert parts.sample("adrank_arm_outcomes_total", arm="treatment", type="impression") == 2
    assert parts.sample("adrank_arm_outcomes_total", arm="treatment", type="click") == 1
    assert await parts.attribution.count([], arms, now=TS) == 0


async def test_outcomes_posted_twice_count_twice(
    parts: Parts, model: LoadedModel, tiny_bundle: Path
) -> None:
    arms = arm_set(model, tiny_bundle)
    parts.exposures.record(arms, "control", "r-1", "u-1")
    await parts.exposures.flush()
    clicks = [outcome("r-1", "click", ts=TS)]
    assert await parts.attribution.count(clicks, arms, now=TS) == 1
    assert await parts.attribution.count(clicks, arms, now=TS) == 1
    assert (await parts.users("control"))["c:u-1"] == 2


async def test_concurrent_attribution_from_many_writers_loses_no_update(
    parts: Parts, redis_server: RedisProcess, model: LoadedModel, tiny_bundle: Path
) -> None:
    """Two "workers" (stores with their own connections) and 40 tasks each add to the same
    users' fields at once: every increment is counted."""
    arms = arm_set(model, tiny_bundle)
    users = ["u-0", "u-1", "u-2"]
    for i, u in enumerate(users):
        parts.exposures.record(arms, "control", f"r-{i}", u)
    await parts.exposures.flush()
    other = Attribution(RedisStore(redis_server.url, parts.store.settings, Metrics()),
                        ExposureLog(parts.store, parts.metrics), Metrics())  # fmt: skip

    def batch(k: int) -> list[Outcome]:
        return [outcome(f"r-{k % 3}", "impression", ts=TS + k),
                outcome(f"r-{(k + 1) % 3}", "click", ts=TS, revenue=0.1),
                outcome(f"r-{k % 3}", "conversion", ts=TS, revenue=1.0)]  # fmt: skip

    # each worker's write pool opened before the burst, as a service's is once it has
    # written: 40 connects at once under the 500 ms write timeout timed out on a busy CI
    # machine, and this test is about lost updates, not connect time
    await asyncio.gather(*(clients.warm(s.slow, 40) for s in (parts.store, other.store)))
    tasks = [(parts.attribution if k % 2 else other).count(batch(k), arms, now=TS)
             for k in range(80)]  # fmt: skip
    assert await asyncio.gather(*tasks) == [3] * 80
    await other.store.close()

    got = await parts.users("control")
    for i, u in enumerate(users):
        n = sum(1 for k in range(80) if k % 3 == i)  # impressions and conversions of u
        clicks = sum(1 for k in range(80) if (k + 1) % 3 == i)
        assert got[f"i:{u}"] == n and got[f"v:{u}"] == n and got[f"c:{u}"] == clicks
        assert got[f"r:{u}"] == pytest.approx(n * 1.0 + clicks * 0.1)
    series = await parts.series("control")
    assert sum(v for k, v in series.items() if k.endswith(":i")) == 80
    assert series["1699999980:c"] == 80 and series["1699999980:v"] == 80


async def test_with_redis_down_exposures_are_dropped_and_attribution_refused(
    tmp_path: Path, model: LoadedModel, tiny_bundle: Path
) -> None:
    server = RedisProcess(tmp_path)
    server.start()
    parts = Parts(server.url)
    try:
        arms = arm_set(model, tiny_bundle)
        parts.exposures.record(arms, "control", "r-0", "u-0")
        await parts.exposures.flush()  # written while Redis runs
        server.stop()

        for i in range(1, 6):
            parts.exposures.record(arms, "control", f"r-{i}", f"u-{i}")
        await parts.exposures.flush()  # does not raise: rankings never wait for it
        assert parts.sample("adrank_dropped_total", reason="exposures") == 5
        assert parts.exposures.lookup("r-1") is None  # dropped, not kept
        await parts.exposures.flush()  # nothing pending: nothing more dropped
        assert parts.sample("adrank_dropped_total", reason="exposures") == 5

        parts.exposures.record(arms, "treatment", "r-pending", "u-p")
        for outcomes in ([outcome("r-0", "click")],  # needs the MGET of its record
                         [outcome("r-pending", "click")],  # found in process: the write fails
                         [outcome("r-x", "click", user_id="u-9")]):  # fmt: skip
            with pytest.raises(DependencyDown):
                await parts.attribution.count(outcomes, arms, now=TS)
        for how in ("request", "user", "none"):  # a refused request counts nothing
            assert parts.sample("adrank_attribution_total", how=how) == 0
    finally:
        server.stop()
        await parts.close()
