"""The pure part of the micro-batcher: a queued job, forming a batch from the queue, and
handing each job its rows of the batch's output.

No event loop, no model: what :class:`service.runtime.batcher.MicroBatcher` runs on.
"""

import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


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


def split_rows(rows: np.ndarray, counts: Sequence[int]) -> list[np.ndarray]:
    """Each job's consecutive rows of a batch's output (``counts``: rows per job, in order)."""
    bounds = np.cumsum([0, *counts])
    return [rows[a:b] for a, b in itertools.pairwise(bounds)]
