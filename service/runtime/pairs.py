"""The ranker's flat pair layout, end to end: one request's block of (user, candidate) rows,
a batch's blocks assembled into onnxruntime calls, run, and each request's slice handed back.

Pairs are laid out flat — a candidate row plus the index of its user — rather than padding
every request to the largest candidate count. Assembling (``plan_calls``) runs on the event
loop and only ``score_calls`` on a model thread (see service.runtime.batcher on why).
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from service.metrics import Metrics
from service.runtime.job_queue import split_rows
from service.runtime.ranker import Ranker, RankerInputs, RankerOutput


@dataclass(frozen=True)
class PairBlock:
    """One request's rows of a ranker batch: its user, context and model-scored candidates."""

    history: np.ndarray  # (H, d) float32, newest first, zero rows past the user's items
    history_mask: np.ndarray  # (H,) float32
    context: np.ndarray  # (C,) int64
    candidates: np.ndarray  # (n, d) float32
    ad_bucket: np.ndarray  # (n,) int64
    ad_prior: np.ndarray  # (n, 2) float32
    ad_price: np.ndarray  # (n, 2) float32, service.features.price
    ad_offset: np.ndarray  # (n,) float32, the ads' click logit offsets

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
        ad_price=np.concatenate([b.ad_price for b in blocks]),
        ad_offset=np.concatenate([b.ad_offset for b in blocks]),
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


def split_pairs(out: RankerOutput, counts: Sequence[int]) -> list[RankerOutput]:
    """Each request's slice of the outputs, in block order."""
    if len(out.p_ctr) != sum(counts):
        raise ValueError(f"ranker returned {len(out.p_ctr)} scores for {sum(counts)} pairs")
    p_cvr = [None] * len(counts) if out.p_cvr is None else split_rows(out.p_cvr, counts)
    return [RankerOutput(*parts) for parts in zip(split_rows(out.p_ctr, counts),
            split_rows(out.attention, counts), p_cvr, strict=True)]  # fmt: skip


@dataclass(frozen=True)
class ScoreResult:
    p_ctr: np.ndarray
    attention: np.ndarray
    started: float  # perf_counter when the batch started
    score_s: float
    batch_requests: int
    p_cvr: np.ndarray | None = None


def score_calls(ranker: Ranker, calls: Sequence[RankerCall], metrics: Metrics) -> list[ScoreResult]:
    """The model thread's work: run a batch's calls, one result per request in block order."""
    started = time.perf_counter()
    parts = []
    for call in calls:
        parts += split_pairs(ranker.run(call.inputs), call.counts)
    score_s = time.perf_counter() - started
    metrics.inference.labels("ranker").observe(score_s)
    metrics.batch_pairs.observe(sum(sum(call.counts) for call in calls))
    return [ScoreResult(p, a, started, score_s, len(parts), c) for p, a, c in parts]
