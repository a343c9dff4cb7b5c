"""Pure parts of micro-batching: batch forming, the flat pair layout, splitting outputs."""

import asyncio
from collections import deque

import numpy as np
import pytest

from service.runtime.job_queue import Job, form_batch, split_rows
from service.runtime.pairs import PairBlock, assemble_pairs, call_groups, plan_calls, split_pairs
from service.runtime.ranker import RankerOutput


def job(cost: int, deadline: float = 100.0) -> Job:
    return Job(item=cost, cost=cost, deadline=deadline, enqueued=0.0)


def test_batch_takes_jobs_in_order_within_the_cost_budget() -> None:
    queue = deque([job(40), job(40), job(40)])
    batch, expired = form_batch(queue, max_cost=100, max_items=10, now=0.0)
    assert [j.cost for j in batch] == [40, 40]
    assert expired == []
    assert len(queue) == 1


def test_first_job_always_fits_even_when_larger_than_the_budget() -> None:
    queue = deque([job(500), job(1)])
    batch, _ = form_batch(queue, max_cost=100, max_items=10, now=0.0)
    assert [j.cost for j in batch] == [500]


def test_item_cap_limits_the_batch() -> None:
    queue = deque([job(1) for _ in range(5)])
    batch, _ = form_batch(queue, max_cost=100, max_items=3, now=0.0)
    assert len(batch) == 3 and len(queue) == 2


def test_expired_jobs_are_returned_and_gone_callers_dropped() -> None:
    loop = asyncio.new_event_loop()
    try:
        gone = job(5)
        gone.future = loop.create_future()
        gone.future.cancel()
        late = job(5, deadline=1.0)
        ok = job(5, deadline=10.0)
        queue = deque([gone, late, ok])
        batch, expired = form_batch(queue, max_cost=100, max_items=10, now=2.0)
        assert batch == [ok]
        assert expired == [late]
        assert not queue
    finally:
        loop.close()


def block(n: int, d: int = 4, h: int = 3, seed: int = 0) -> PairBlock:
    rng = np.random.default_rng(seed)
    return PairBlock(
        history=rng.random((h, d), dtype=np.float32),
        history_mask=np.ones(h, np.float32),
        context=np.arange(2, dtype=np.int64) + seed,
        candidates=rng.random((n, d), dtype=np.float32),
        ad_bucket=np.arange(n, dtype=np.int64),
        ad_prior=rng.random((n, 2), dtype=np.float32),
        ad_price=rng.random((n, 2), dtype=np.float32),
        ad_offset=rng.random(n, dtype=np.float32),
    )


def test_assemble_lays_pairs_out_flat_with_user_index() -> None:
    blocks = [block(2, seed=1), block(3, seed=2), block(1, seed=3)]
    inputs = assemble_pairs(blocks)
    assert inputs.history.shape == (3, 3, 4)
    assert inputs.candidates.shape == (6, 4)
    assert inputs.user_index.tolist() == [0, 0, 1, 1, 1, 2]
    np.testing.assert_array_equal(inputs.candidates[2:5], blocks[1].candidates)
    np.testing.assert_array_equal(inputs.context[1], blocks[1].context)
    assert inputs.ad_bucket.dtype == np.int64 and inputs.ad_prior.shape == (6, 2)


def test_split_gives_each_request_its_slice() -> None:
    p = np.arange(6, dtype=np.float32)
    att = np.arange(12, dtype=np.float32).reshape(6, 2)
    parts = split_pairs(RankerOutput(p, att, None), [2, 3, 1])
    assert [x.p_ctr.tolist() for x in parts] == [[0, 1], [2, 3, 4], [5]]
    np.testing.assert_array_equal(parts[1].attention, att[2:5])
    assert all(x.p_cvr is None for x in parts)
    with_cvr = split_pairs(RankerOutput(p, att, p / 10), [2, 3, 1])
    assert [x.p_cvr.tolist() for x in with_cvr if x.p_cvr is not None] == [
        pytest.approx([0, 0.1]),
        pytest.approx([0.2, 0.3, 0.4]),
        pytest.approx([0.5]),
    ]


def test_call_groups_keep_requests_whole_within_the_pair_budget() -> None:
    assert call_groups([100, 100, 100], 64) == [slice(0, 1), slice(1, 2), slice(2, 3)]
    assert call_groups([10, 20, 30, 5, 100, 3], 64) == [slice(0, 3), slice(3, 4), slice(4, 5),
                                                        slice(5, 6)]  # fmt: skip
    assert call_groups([64, 1], 64) == [slice(0, 1), slice(1, 2)]
    assert call_groups([7], 1) == [slice(0, 1)]
    assert call_groups([], 64) == []


def test_plan_calls_assembles_each_call_of_whole_requests() -> None:
    blocks = [block(3, seed=1), block(2, seed=2), block(4, seed=3)]
    calls = plan_calls(blocks, max_pairs=5)
    assert [c.counts for c in calls] == [[3, 2], [4]]
    assert calls[0].inputs.user_index.tolist() == [0, 0, 0, 1, 1]
    np.testing.assert_array_equal(calls[0].inputs.candidates[3:], blocks[1].candidates)
    np.testing.assert_array_equal(calls[1].inputs.history[0], blocks[2].history)
    assert calls[1].inputs.user_index.tolist() == [0, 0, 0, 0]


def test_split_refuses_a_count_mismatch() -> None:
    with pytest.raises(ValueError, match="5 scores for 6 pairs"):
        split_pairs(RankerOutput(np.zeros(5), np.zeros((5, 2)), None), [3, 3])


def test_split_rows_of_encoder_output() -> None:
    rows = split_rows(np.arange(5)[:, None], [2, 0, 3])
    assert [r.ravel().tolist() for r in rows] == [[0, 1], [], [2, 3, 4]]
