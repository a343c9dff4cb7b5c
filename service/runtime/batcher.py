"""An asyncio micro-batcher in front of model threads.

Callers ``submit`` an item with a cost and a deadline and await its result. One loop task
takes everything queued (up to the batch budget) as soon as a model thread is free — no added
wait unless ``max_wait_s`` > 0 — and runs the sync ``run`` function on that thread. With
``concurrency`` > 1 that many batches run at once, each on its own thread (onnxruntime runs
one session's calls concurrently and releases the GIL while it computes).
The queue is bounded by cost: past it ``submit`` raises :class:`Overloaded` before any work.
Deadlines are enforced while a job waits (the caller's await times out, its job is skipped);
jobs whose caller has gone are dropped, not computed; a failed batch fails all its callers.

An optional ``prepare`` turns a batch's items into the model's input on the event loop, before
the batch goes to its thread. Copies belong there: numpy lets go of the GIL for a large copy,
and a model thread that let go of it waits for the busy event loop to hand it back (up to the
switch interval) — a batch assembled on its thread paid that several times per call.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from service.errors import ClientClosed, DeadlineExceeded, NotReady, Overloaded
from service.metrics import Metrics
from service.runtime.cpus import lower_thread_priority
from service.runtime.job_queue import Job, form_batch

log = logging.getLogger(__name__)

RunBatch = Callable[[Any], Sequence[Any]]  # prepared batch → one result per item
PrepareBatch = Callable[[list[Any]], Any]


def _as_is(items: list[Any]) -> Any:
    return items


@dataclass(frozen=True)
class BatchPolicy:
    max_cost: int  # per batch
    max_items: int  # per batch
    queue_max_cost: int  # waiting, before shedding
    max_wait_s: float = 0.0
    concurrency: int = 1  # batches computed at once, each on its own thread
    nice: int = 0  # added to those threads' niceness (Linux): the event loop runs first


class MicroBatcher:
    def __init__(
        self, name: str, run: RunBatch, policy: BatchPolicy, metrics: Metrics,
        prepare: PrepareBatch = _as_is,
    ) -> None:  # fmt: skip
        self.name = name
        self._run = run
        self._prepare = prepare
        self.policy = policy
        self._metrics = metrics
        self._queue: deque[Job] = deque()
        self._queued_cost = 0
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(
            policy.concurrency, f"adrank-{name}", lower_thread_priority, (policy.nice,)
        )
        self._free_threads = asyncio.Semaphore(policy.concurrency)
        self._event_loop: asyncio.AbstractEventLoop  # set by start (on the loop)
        self._task: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()
        self._closing = False
        self._running = 0
        self._s_per_cost = 0.0  # moving average of compute seconds per unit of cost
        self.failure: BaseException | None = None

    def start(self) -> None:
        self._event_loop = asyncio.get_running_loop()
        self._task = self._event_loop.create_task(self._loop(), name=self.name)
        self._task.add_done_callback(self._on_done)

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done() and self.failure is None

    @property
    def queued_cost(self) -> int:
        return self._queued_cost

    def admit(self, cost: int, deadline: float | None = None) -> None:
        """Refuse at once if the queue cannot take ``cost`` more (an empty queue always can),
        or if the work already queued will, at the recent rate, outlast ``deadline``."""
        if self._closing or not self.alive:
            raise NotReady(f"{self.name} is not running")
        if self._queue and self._queued_cost + cost > self.policy.queue_max_cost:
            self._metrics.shed.labels("queue_full").inc()
            raise Overloaded(f"{self.name} queue is full; retry later")
        if deadline is not None and self._queue:
            work_s = (self._queued_cost + cost) * self._s_per_cost / self.policy.concurrency
            expected = time.monotonic() + work_s
            if expected > deadline:
                self._metrics.shed.labels("deadline").inc()
                raise DeadlineExceeded(f"{self.name} cannot meet the deadline: queue too long")

    async def submit(
        self, item: Any, cost: int, deadline: float, gone: asyncio.Future | None = None
    ) -> Any:
        """Queue ``item`` and await its result until ``deadline`` (monotonic seconds).

        ``gone``: a future that completes when the caller has left (client disconnected);
        the job is then dropped before compute and :class:`ClientClosed` raised.
        """
        self.admit(cost)
        now = time.monotonic()
        if deadline <= now:
            self._metrics.shed.labels("deadline").inc()
            raise DeadlineExceeded("the request's deadline passed before scoring")
        loop = self._event_loop
        job = Job(item, cost, deadline, now, loop.create_future())
        self._queue.append(job)
        self._queued_cost += cost
        self._wakeup.set()
        if gone is not None:
            gone.add_done_callback(lambda _: _abandon(job))
        # a timer that fails the job's future, cheaper than asyncio.timeout on this hot path
        timer = loop.call_at(loop.time() + deadline - now, self._expire, job)
        try:
            return await job.future
        finally:
            timer.cancel()

    def _expire(self, job: Job) -> None:
        if not job.future.done():
            self._metrics.shed.labels("deadline").inc()
            job.future.set_exception(
                DeadlineExceeded(f"{self.name} could not finish within the deadline")
            )

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wakeup.clear()
                self._set_depth()
                await self._wakeup.wait()
                continue
            if self.policy.max_wait_s > 0:
                await self._wait_for_more()
            await self._free_threads.acquire()
            batch = self._take()
            if not batch:
                self._free_threads.release()
                continue
            task = loop.create_task(self._run_batch(loop, batch))
            self._batches.add(task)  # held until done
            task.add_done_callback(self._batches.discard)

    async def _wait_for_more(self) -> None:
        end = time.monotonic() + self.policy.max_wait_s
        while self._queued_cost < self.policy.max_cost and (left := end - time.monotonic()) > 0:
            self._wakeup.clear()
            try:
                async with asyncio.timeout(left):
                    await self._wakeup.wait()
            except TimeoutError:
                break

    def _take(self) -> list[Job]:
        now = time.monotonic()
        before = len(self._queue)
        batch, expired = form_batch(self._queue, self.policy.max_cost, self.policy.max_items, now)
        for job in expired:
            job.future.set_exception(DeadlineExceeded("deadline passed while queued"))
            self._metrics.dropped.labels("deadline").inc()
        dropped = before - len(self._queue) - len(batch) - len(expired)
        if dropped:
            self._metrics.dropped.labels("caller_gone").inc(dropped)
        self._queued_cost = sum(j.cost for j in self._queue)
        self._set_depth()
        wait = self._metrics.queue_wait.labels(self.name)
        for job in batch:
            wait.observe(now - job.enqueued)
        return batch

    async def _run_batch(self, loop: asyncio.AbstractEventLoop, batch: list[Job]) -> None:
        """Run on a free thread (one was taken for it) and give the thread back."""
        self._metrics.batch_requests.labels(self.name).observe(len(batch))
        self._running += 1
        started = time.perf_counter()
        try:
            work = self._prepare([j.item for j in batch])
            results = await loop.run_in_executor(self._executor, self._run, work)
            self._learn_rate(time.perf_counter() - started, sum(j.cost for j in batch))
            if len(results) != len(batch):
                raise RuntimeError(f"{self.name}: {len(results)} results for {len(batch)} jobs")
        except Exception as exc:
            log.exception("%s batch of %d failed", self.name, len(batch))
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        finally:
            self._running -= 1
            self._free_threads.release()
        for job, result in zip(batch, results, strict=True):
            if not job.future.done():
                job.future.set_result(result)

    def _learn_rate(self, seconds: float, cost: int) -> None:
        rate = seconds / max(cost, 1)
        self._s_per_cost = rate if self._s_per_cost == 0 else 0.9 * self._s_per_cost + 0.1 * rate

    def _set_depth(self) -> None:
        self._metrics.queue_depth.labels(self.name).set(len(self._queue))

    def _on_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.failure = task.exception()
            log.error("%s batcher died: %r", self.name, self.failure)

    async def close(self, drain_s: float = 30.0) -> None:
        """Stop taking work, let queued work finish (up to ``drain_s``), stop the thread."""
        self._closing = True
        end = time.monotonic() + drain_s
        while (self._queue or self._running) and time.monotonic() < end and self.alive:
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for job in self._queue:
            if not job.future.done():
                job.future.set_exception(NotReady(f"{self.name} stopped"))
        self._executor.shutdown(wait=True)


def _abandon(job: Job) -> None:
    if not job.future.done():
        job.future.set_exception(ClientClosed("client closed the request"))
