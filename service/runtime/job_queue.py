"""The pure part of the micro-batcher: a queued job, and forming a batch from the queue.

No event loop, no model: what :class:`service.runtime.batcher.MicroBatcher` runs on.
"""

from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Job:
    """One caller's work in a queue: ``cost`` counts against the batch and queue budgets."""

    item: Any
    cost: int
    deadline: float  # monotonic seconds
    enqueued: float
    future: Any = field(default=None)  # asyncio.Future, set by the batcher

    def gone(self) -> bool:
        """The caller stopped waiting (deadline hit, client gone, cancelled)."""
        return self.future is not None and self.future.done()


def form_batch(
    queue: deque[Job], max_cost: int, max_items: int, now: float
) -> tuple[list[Job], list[Job]]:
    """Pop a batch from the head of ``queue``: ``(batch, expired)``.

    Jobs whose caller is gone are dropped silently; jobs past their deadline are popped into
    ``expired``; the batch takes jobs in order while the cost stays within ``max_cost`` and
    the count within ``max_items`` (the first job always fits, however large).
    """
    batch: list[Job] = []
    expired: list[Job] = []
    cost = 0
    while queue and len(batch) < max_items:
        job = queue[0]
        if job.gone():
            queue.popleft()
        elif job.deadline <= now:
            expired.append(queue.popleft())
        elif batch and cost + job.cost > max_cost:
            break
        else:
            batch.append(queue.popleft())
            cost += job.cost
    return batch, expired
