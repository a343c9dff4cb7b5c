"""The table of variants jobs: states, the bound on queued + running jobs, and how long finished
jobs are kept. Pure logic: no processes, no event loop; the clock is a parameter.

    queued ──start──▶ running ──finish──▶ done
       │                 │
       └──────fail───────┴──────fail────▶ failed

Finished jobs (done or failed) are kept ``keep_s`` seconds after they finished and at most
``keep_max`` of them (the oldest finished go first); then their results are gone. Results
live only here, in the process's memory: nothing is written to Redis.
"""

import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service.copy.protocol import JobState
from service.errors import CopyQueueFull

ACTIVE: tuple[JobState, ...] = ("queued", "running")
FINISHED: tuple[JobState, ...] = ("done", "failed")
QUEUE_FULL_RETRY_S = 10


@dataclass
class Job:
    job_id: str
    ad_id: str
    created_at: float  # unix seconds (for the answer)
    queued_at: float  # the table's clock from here on
    state: JobState = "queued"
    started_at: float | None = None
    finished_at: float | None = None
    result: Any = None
    error: str | None = None

    @property
    def queued_s(self) -> float:
        """Seconds it waited before it started (0 while it waits or if it never started)."""
        return 0.0 if self.started_at is None else self.started_at - self.queued_at


class JobTable:
    def __init__(
        self,
        max_active: int,
        keep_s: float,
        keep_max: int,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.max_active, self.keep_s, self.keep_max = max_active, keep_s, keep_max
        self._clock, self._wall = clock, wall
        self._jobs: dict[str, Job] = {}
        self._finished: deque[str] = deque()  # in the order they finished

    def submit(self, ad_id: str) -> Job:
        """A new queued job; raises CopyQueueFull when ``max_active`` are queued or running."""
        if self.active >= self.max_active:
            raise CopyQueueFull(
                f"{self.active} variants jobs are queued or running, the limit is "
                f"{self.max_active}; retry later",
                retry_after_s=QUEUE_FULL_RETRY_S,
            )
        job = Job(uuid.uuid4().hex, ad_id, self._wall(), self._clock())
        self._jobs[job.job_id] = job
        return job

    def start(self, job_id: str) -> Job:
        job = self._in_state(job_id, ("queued",))
        job.state, job.started_at = "running", self._clock()
        return job

    def finish(self, job_id: str, result: Any) -> Job:
        job = self._end(job_id, "done")
        job.result = result
        return job

    def fail(self, job_id: str, error: str) -> Job:
        job = self._end(job_id, "failed")
        job.error = error
        return job

    def get(self, ad_id: str, job_id: str) -> Job | None:
        """The job, if it exists, is still kept and is of this ad."""
        self.prune()
        job = self._jobs.get(job_id)
        return job if job is not None and job.ad_id == ad_id else None

    @property
    def active(self) -> int:
        """Jobs queued or running: what ``max_active`` bounds."""
        return sum(1 for job in self._jobs.values() if job.state in ACTIVE)

    def counts(self) -> dict[JobState, int]:
        counts: dict[JobState, int] = dict.fromkeys((*ACTIVE, *FINISHED), 0)
        for job in self._jobs.values():
            counts[job.state] += 1
        return counts

    def prune(self) -> None:
        """Forget finished jobs past ``keep_s`` or beyond the ``keep_max`` newest."""
        now = self._clock()
        while self._finished and (
            len(self._finished) > self.keep_max or self._expired(self._finished[0], now)
        ):
            del self._jobs[self._finished.popleft()]

    def _expired(self, job_id: str, now: float) -> bool:
        finished_at = self._jobs[job_id].finished_at
        return finished_at is not None and now - finished_at >= self.keep_s

    def _end(self, job_id: str, state: JobState) -> Job:
        job = self._in_state(job_id, ACTIVE)
        job.state, job.finished_at = state, self._clock()
        self._finished.append(job_id)
        self.prune()
        return job

    def _in_state(self, job_id: str, states: tuple[JobState, ...]) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise KeyError(f"no job {job_id}")
        if job.state not in states:
            raise ValueError(f"job {job_id} is {job.state}, not {' or '.join(states)}")
        return job
