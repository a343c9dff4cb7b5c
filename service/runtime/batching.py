"""Pure parts of micro-batching: forming a batch from a queue, and the flat pair layout.

No event loop, no model: plain functions over dataclasses and numpy arrays.
"""

import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from service.runtime.ranker import RankerInputs


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


@dataclass(frozen=True)
class PairBlock:
    """One request's rows of a ranker batch: its user, context and model-scored candidates."""

    history: np.ndarray  # (H, d) float32, newest first, zero rows past the user's items
    history_mask: np.ndarray  # (H,) float32
    context: np.ndarray  # (C,) int64
    candidates: np.ndarray  # (n, d) float32
    ad_bucket: np.ndarray  # (n,) int64
    ad_prior: np.ndarray  # (n, 2) float32

    @property
    def n_pairs(self) -> int:
        return int(self.candidates.shape[0])


def assemble_pairs(blocks: Sequence[PairBlock]) -> RankerInputs:
    """Many requests' blocks → one flat ranker input (a user row per request)."""
    counts = np.fromiter((b.n_pairs for b in blocks), dtype=np.int64, count=len(blocks))
    return RankerInputs(
        history=np.stack([b.history for b in blocks]),
        history_mask=np.stack([b.history_mask for b in blocks]),
        context=np.stack([b.context for b in blocks]),
        candidates=np.concatenate([b.candidates for b in blocks]),
        user_index=np.repeat(np.arange(len(blocks), dtype=np.int64), counts),
        ad_bucket=np.concatenate([b.ad_bucket for b in blocks]),
        ad_prior=np.concatenate([b.ad_prior for b in blocks]),
    )


def call_groups(counts: Sequence[int], max_pairs: int) -> list[slice]:
    """Consecutive blocks grouped into ranker calls of at most ``max_pairs`` pairs (a larger
    block goes alone; a block is never split).

    The head scores every candidate of a call against the history of every user in it (one
    GEMM, then each keeps its own user's columns), so a call's cost grows with pairs × users:
    on CPU, requests of ~100 candidates are cheapest one per call, while tiny requests share
    one call to spread its fixed cost.
    """
    groups: list[slice] = []
    start, pairs = 0, 0
    for i, n in enumerate(counts):
        if i > start and pairs + n > max_pairs:
            groups.append(slice(start, i))
            start, pairs = i, 0
        pairs += n
    if counts:
        groups.append(slice(start, len(counts)))
    return groups


@dataclass(frozen=True)
class RankerCall:
    """One onnxruntime call of a batch: its inputs and each request's number of pairs."""

    inputs: RankerInputs
    counts: list[int]


def plan_calls(blocks: Sequence[PairBlock], max_pairs: int) -> list[RankerCall]:
    """A batch's blocks as the ranker calls that score them (``call_groups``), assembled."""
    counts = [b.n_pairs for b in blocks]
    groups = call_groups(counts, max_pairs)
    return [RankerCall(assemble_pairs(blocks[g]), counts[g]) for g in groups]


def split_pairs(
    p_ctr: np.ndarray, attention: np.ndarray, counts: Sequence[int]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each request's slice of the outputs, in block order."""
    if len(p_ctr) != sum(counts):
        raise ValueError(f"ranker returned {len(p_ctr)} scores for {sum(counts)} pairs")
    bounds = np.cumsum([0, *counts])
    return [(p_ctr[a:b], attention[a:b]) for a, b in itertools.pairwise(bounds)]


def split_rows(vectors: np.ndarray, counts: Sequence[int]) -> list[np.ndarray]:
    """Each caller's rows of a concatenated encoder output."""
    bounds = np.cumsum([0, *counts])
    return [vectors[a:b] for a, b in itertools.pairwise(bounds)]
