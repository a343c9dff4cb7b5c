"""Which arm answered which request: recorded off the request path.

``/rank`` calls :meth:`ExposureLog.record` (a dict insert); every ``flush_ms`` one pipeline
writes the request records (``exp:{E}:req:<id>`` → ``<arm>\\t<user>``, expiring after
``attribution_ttl_s``), the requests counted per arm and user (``q``) and the experiment's
meta. Until written, a record is found in process (:meth:`lookup`), so an outcome posted
right after its answer is still attributed. When Redis is down the batch is dropped and
counted (``adrank_dropped_total{reason="exposures"}``): rankings never wait for it.
"""

import asyncio
import json
import logging
import time
from typing import Any, NamedTuple

from service.errors import DependencyDown
from service.experiments.arms import ArmSet
from service.experiments.tally import Tally, queue_set_many
from service.metrics import Metrics
from service.store.redis_store import RedisStore

log = logging.getLogger(__name__)

MAX_PENDING = 50_000  # records held between flushes; beyond, new ones are dropped


class Exposure(NamedTuple):
    arms: ArmSet  # the snapshot that answered (its experiment name, meta)
    arm: str
    user_id: str
    ts: float


class ExposureLog:
    def __init__(self, store: RedisStore, metrics: Metrics) -> None:
        self.store = store
        self.metrics = metrics
        self._pending: dict[str, Exposure] = {}
        self._writing: dict[str, Exposure] = {}
        self._flush: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def record(self, arms: ArmSet, arm: str, request_id: str, user_id: str) -> None:
        if len(self._pending) >= MAX_PENDING:
            self.metrics.dropped.labels("exposures").inc()
            return
        self._pending[request_id] = Exposure(arms, arm, user_id, time.time())
        if self._flush is None:
            loop = asyncio.get_running_loop()
            self._flush = loop.call_later(arms.config.flush_ms / 1000, self._start_flush)

    def lookup(self, request_id: str) -> Exposure | None:
        """A record not yet in Redis."""
        return self._pending.get(request_id) or self._writing.get(request_id)

    def _start_flush(self) -> None:
        self._flush = None
        task = asyncio.get_running_loop().create_task(self.flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        batch, self._pending = self._pending, {}
        if not batch:
            return
        self._writing |= batch
        try:
            await self.store.pipeline("exposures", lambda pipe: self._queue(pipe, batch))
        except DependencyDown as exc:
            self.metrics.dropped.labels("exposures").inc(len(batch))
            log.warning("exposure records dropped: %s", exc, extra={"records": len(batch)})
        finally:
            for request_id in batch:
                self._writing.pop(request_id, None)

    def _queue(self, pipe: Any, batch: dict[str, Exposure]) -> None:
        keys = self.store.keys
        snapshots: dict[int, ArmSet] = {}
        tallies: dict[int, Tally] = {}
        records: dict[int, list[tuple[str, str]]] = {}
        for request_id, e in batch.items():
            config = e.arms.config
            snapshots[id(e.arms)] = e.arms
            tally = tallies.setdefault(id(e.arms), Tally(keys, config.series_bucket_s))
            records.setdefault(id(e.arms), []).append(
                (keys.exp_request(config.name, request_id), f"{e.arm}\t{e.user_id}")
            )
            tally.count(config.name, e.arm, e.user_id, "q", e.ts)
        for sid, snapshot in snapshots.items():
            queue_set_many(pipe, records[sid], snapshot.config.attribution_ttl_s)
            _queue_meta(pipe, keys.exp_meta(snapshot.config.name), snapshot)
            tallies[sid].queue(pipe)

    async def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.flush()


def _queue_meta(pipe: Any, key: str, arms: ArmSet) -> None:
    """The experiment's meta (docs/experiments.md): the arms as served, and when it started."""
    config = arms.config
    served = [{"name": a.name, "weight": a.weight, "versions": [m.version for m in a.models]}
              for a in arms.arms]  # fmt: skip
    meta = {"arms": json.dumps(served), "salt": config.salt, "control": arms.control.name,
            "bucket_s": config.series_bucket_s}  # fmt: skip
    pipe.hset(key, mapping=meta)
    pipe.hsetnx(key, "started", int(time.time()))
