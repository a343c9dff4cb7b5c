"""The asyncio micro-batcher with a fake model function (no onnxruntime): coalescing,
deadlines while waiting, callers that leave, shedding, failures.

The tests order their steps by events, not by sleeping: the fake model function tells the
event loop when a batch has reached its thread, and the loop is run until what a step needs
(jobs queued) holds, so a slow or loaded machine only makes them slower, never wrong."""

import asyncio
import os
import sys
import threading
import time
from collections.abc import Callable

import pytest

from service.errors import ClientClosed, DeadlineExceeded, Overloaded
from service.metrics import Metrics
from service.runtime.batcher import BatchPolicy, MicroBatcher


class SlowDouble:
    """Doubles each item, holding the model thread until ``release`` is set; ``started`` is
    set (on the event loop) when a batch has reached the model thread."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = threading.Event()
        self.release.set()
        self.started = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    def __call__(self, items: list[int]) -> list[int]:
        self._loop.call_soon_threadsafe(self.started.set)
        self.release.wait(5)
        self.batches.append(items)
        return [2 * i for i in items]


def batcher(fn: SlowDouble, queue_max: int = 100) -> MicroBatcher:
    b = MicroBatcher("test", fn, BatchPolicy(10, 8, queue_max), Metrics())
    b.start()
    return b


def deadline(s: float = 5.0) -> float:
    return time.monotonic() + s


async def running(fn: SlowDouble) -> None:
    """Wait until a batch is on the model thread (holding it while ``release`` is clear)."""
    async with asyncio.timeout(5):
        await fn.started.wait()


async def until(condition: Callable[[], bool]) -> None:
    """Let the event loop run, a turn at a time, until ``condition()`` holds."""
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0)


async def test_concurrent_submits_are_coalesced_and_answered_in_order() -> None:
    fn = SlowDouble()
    fn.release.clear()
    b = batcher(fn)
    first = asyncio.create_task(b.submit(100, 1, deadline()))
    await running(fn)  # the first batch is now running alone
    rest = [asyncio.create_task(b.submit(i, 1, deadline())) for i in range(5)]
    await until(lambda: b.queued_cost == 5)  # all five wait for the thread
    fn.release.set()
    assert await first == 200
    assert await asyncio.gather(*rest) == [0, 2, 4, 6, 8]
    assert fn.batches == [[100], [0, 1, 2, 3, 4]]
    await b.close()


async def test_deadline_is_enforced_while_waiting_and_the_job_is_not_computed() -> None:
    fn = SlowDouble()
    fn.release.clear()
    b = batcher(fn)
    blocker = asyncio.create_task(b.submit(1, 1, deadline()))
    await running(fn)
    with pytest.raises(DeadlineExceeded):
        await b.submit(2, 1, deadline(0.05))  # this deadline passing is the subject
    fn.release.set()
    await blocker
    # a job queued after the late one is answered only once the queue got past the late one
    assert await b.submit(3, 1, deadline()) == 6
    assert fn.batches == [[1], [3]]  # the late job was dropped, not computed
    await b.close()


async def test_a_caller_that_left_is_dropped() -> None:
    fn = SlowDouble()
    fn.release.clear()
    b = batcher(fn)
    blocker = asyncio.create_task(b.submit(1, 1, deadline()))
    await running(fn)
    gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    leaving = asyncio.create_task(b.submit(2, 1, deadline(), gone))
    await until(lambda: b.queued_cost == 1)  # queued behind the blocker
    gone.set_result(None)
    with pytest.raises(ClientClosed):
        await leaving
    fn.release.set()
    await blocker
    assert await b.submit(3, 1, deadline()) == 6  # answered once the queue got past job 2
    assert fn.batches == [[1], [3]]
    await b.close()


async def test_full_queue_sheds_at_once() -> None:
    fn = SlowDouble()
    fn.release.clear()
    b = batcher(fn, queue_max=3)
    computing = asyncio.create_task(b.submit(0, 1, deadline()))
    await running(fn)
    waiting = [asyncio.create_task(b.submit(i, 1, deadline())) for i in range(3)]
    await until(lambda: b.queued_cost == 3)  # the queue is full
    with pytest.raises(Overloaded):
        await b.submit(9, 1, deadline())
    fn.release.set()
    await asyncio.gather(computing, *waiting)
    await b.close()


async def test_a_failing_batch_fails_every_caller_and_the_batcher_lives_on() -> None:
    calls = []

    def flaky(items: list[int]) -> list[int]:
        calls.append(items)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return items

    b = MicroBatcher("flaky", flaky, BatchPolicy(10, 8, 100), Metrics())
    b.start()
    with pytest.raises(RuntimeError, match="boom"):
        await b.submit(1, 1, deadline())
    assert await b.submit(2, 1, deadline()) == 2
    assert b.alive
    await b.close()


async def test_with_concurrency_two_a_second_batch_runs_while_the_first_computes() -> None:
    inside = threading.Barrier(2, timeout=5)  # passes only when two batches run at once
    threads: set[str] = set()

    def meet(items: list[int]) -> list[int]:
        threads.add(threading.current_thread().name)
        inside.wait()
        return items

    b = MicroBatcher("pair", meet, BatchPolicy(1, 1, 100, concurrency=2), Metrics())
    b.start()
    assert await asyncio.gather(b.submit(1, 1, deadline()), b.submit(2, 1, deadline())) == [1, 2]
    assert len(threads) == 2
    await b.close()


async def test_with_concurrency_one_batches_run_one_at_a_time() -> None:
    fn = SlowDouble()
    fn.release.clear()
    b = batcher(fn)  # concurrency 1, at most 8 items per batch
    jobs = [asyncio.create_task(b.submit(i, 1, deadline())) for i in range(12)]
    await running(fn)
    assert b.queued_cost == 4  # 8 taken into the running batch, the rest wait for the thread
    fn.release.set()
    assert await asyncio.gather(*jobs) == [2 * i for i in range(12)]
    assert fn.batches == [list(range(8)), list(range(8, 12))]
    await b.close()


def niceness(_: list[int]) -> list[int]:
    return [os.getpriority(os.PRIO_PROCESS, threading.get_native_id())]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
@pytest.mark.parametrize("nice", [0, 3])
async def test_model_threads_run_at_the_asked_niceness_and_the_loop_keeps_its_own(
    nice: int,
) -> None:
    loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    b = MicroBatcher("nice", niceness, BatchPolicy(1, 1, 100, nice=nice), Metrics())
    b.start()
    assert await b.submit(0, 1, deadline()) == min(loop_nice + nice, 19)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == loop_nice
    await b.close()


async def test_prepare_runs_on_the_event_loop_and_the_model_thread_gets_its_output() -> None:
    threads: dict[str, int] = {}

    def prepare(items: list[int]) -> tuple[int, ...]:
        threads["prepare"] = threading.get_ident()
        return tuple(10 * i for i in items)

    def run(prepared: tuple[int, ...]) -> list[int]:
        threads["run"] = threading.get_ident()
        return list(prepared)

    b = MicroBatcher("prep", run, BatchPolicy(10, 8, 100), Metrics(), prepare)
    b.start()
    assert await asyncio.gather(b.submit(1, 1, deadline()), b.submit(2, 1, deadline())) == [10, 20]
    assert threads["prepare"] == threading.get_ident()  # the loop's thread: this test's
    assert threads["run"] != threading.get_ident()
    await b.close()


async def test_a_failing_prepare_fails_the_batch_and_the_batcher_lives_on() -> None:
    def prepare(items: list[int]) -> list[int]:
        if items == [1]:
            raise ValueError("cannot assemble")
        return items

    b = MicroBatcher("prep", list, BatchPolicy(10, 8, 100), Metrics(), prepare)
    b.start()
    with pytest.raises(ValueError, match="cannot assemble"):
        await b.submit(1, 1, deadline())
    assert await b.submit(2, 1, deadline()) == 2
    await b.close()
