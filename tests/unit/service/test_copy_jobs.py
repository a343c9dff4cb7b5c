"""The variants job table (service/copy/jobs.py) on a hand-driven clock: the bound on queued +
running jobs, the states and their order, and how long finished jobs are kept; and the answer
of a done job (service/copy/serving.py's pure part): scores, order, dropped variants, timings."""

import numpy as np
import pytest

from service.copy.audience import Audience, summarise
from service.copy.jobs import QUEUE_FULL_RETRY_S, JobTable
from service.copy.protocol import Timings
from service.copy.serving import job_timings, variants_result
from service.copy.worker import Generated
from service.errors import CopyQueueFull
from service.features.text import AdText


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def table(clock: Clock, max_active: int = 2, keep_s: float = 60.0, keep_max: int = 3) -> JobTable:
    return JobTable(max_active, keep_s, keep_max, clock=clock, wall=lambda: 1.7e9)


def test_a_job_goes_queued_running_done_with_its_result(clock: Clock) -> None:
    jobs = table(clock)
    job = jobs.submit("ad-1")
    assert (job.state, job.ad_id, job.created_at, job.result) == ("queued", "ad-1", 1.7e9, None)
    clock.now += 2.5
    jobs.start(job.job_id)
    assert job.state == "running" and job.queued_s == 2.5
    jobs.finish(job.job_id, {"variants": 3})
    assert job.state == "done" and job.result == {"variants": 3} and job.error is None
    assert jobs.get("ad-1", job.job_id) is job


def test_a_job_fails_from_queued_or_running_with_its_message(clock: Clock) -> None:
    jobs = table(clock)
    waiting, started = jobs.submit("ad-1"), jobs.submit("ad-1")
    jobs.start(started.job_id)
    jobs.fail(waiting.job_id, "the worker stopped")
    jobs.fail(started.job_id, "boom")
    assert (waiting.state, waiting.error, waiting.queued_s) == ("failed", "the worker stopped", 0)
    assert (started.state, started.error) == ("failed", "boom")


def test_states_only_move_forward(clock: Clock) -> None:
    jobs = table(clock)
    job = jobs.submit("ad-1")
    jobs.start(job.job_id)
    with pytest.raises(ValueError, match="is running, not queued"):
        jobs.start(job.job_id)
    jobs.finish(job.job_id, "r")
    for move in (jobs.start, lambda j: jobs.finish(j, "again"), lambda j: jobs.fail(j, "late")):
        with pytest.raises(ValueError, match="is done"):
            move(job.job_id)
    with pytest.raises(KeyError):
        jobs.start("no-such-job")


def test_queued_plus_running_are_bounded_and_a_finished_job_frees_a_place(clock: Clock) -> None:
    jobs = table(clock, max_active=2)
    first, second = jobs.submit("a"), jobs.submit("b")
    jobs.start(first.job_id)
    with pytest.raises(CopyQueueFull, match="2 variants jobs are queued or running") as refused:
        jobs.submit("c")
    assert refused.value.retry_after_s == QUEUE_FULL_RETRY_S and refused.value.status == 503
    assert refused.value.error_type == "copy_queue_full"
    assert jobs.counts() == {"queued": 1, "running": 1, "done": 0, "failed": 0}
    jobs.fail(second.job_id, "x")
    third = jobs.submit("c")
    assert jobs.active == 2 and third.state == "queued"
    assert jobs.counts() == {"queued": 1, "running": 1, "done": 0, "failed": 1}


def test_finished_jobs_are_forgotten_after_keep_s(clock: Clock) -> None:
    jobs = table(clock, keep_s=60)
    done, running = jobs.submit("a"), jobs.submit("a")
    jobs.start(done.job_id)
    jobs.finish(done.job_id, "r")
    jobs.start(running.job_id)
    clock.now += 59.9
    assert jobs.get("a", done.job_id) is done
    clock.now += 0.1
    assert jobs.get("a", done.job_id) is None
    clock.now += 3600  # an active job is never forgotten, however long it runs
    assert jobs.get("a", running.job_id) is running


def test_at_most_keep_max_finished_jobs_are_kept_oldest_finished_first(clock: Clock) -> None:
    jobs = table(clock, max_active=10, keep_max=2)
    made = [jobs.submit("a") for _ in range(4)]
    for job in (made[2], made[0], made[3]):  # finish order: 2, 0, 3
        clock.now += 1
        jobs.fail(job.job_id, "x")
    assert [jobs.get("a", j.job_id) is not None for j in made] == [True, True, False, True]
    assert jobs.counts() == {"queued": 1, "running": 0, "done": 0, "failed": 2}


def test_a_job_is_found_only_under_its_own_ad(clock: Clock) -> None:
    jobs = table(clock)
    job = jobs.submit("ad-1")
    assert jobs.get("ad-2", job.job_id) is None
    assert jobs.get("ad-1", "0" * 32) is None


def test_job_ids_are_unique_and_unguessable(clock: Clock) -> None:
    jobs = table(clock, max_active=1000)
    ids = {jobs.submit("a").job_id for _ in range(500)}
    assert len(ids) == 500 and all(len(i) == 32 for i in ids)


# ------------------------------------------------------------ the answer of a done job


def test_the_result_puts_the_original_first_and_the_kept_variants_best_first(clock: Clock) -> None:
    generated = Generated("gen-x", kept=[("A", "a"), ("B", "b")],
                          dropped=[(("C", "c"), ["fact_missing:$5", "unsafe"])],
                          generate_s=1.5, check_s=0.25)  # fmt: skip
    texts = [AdText("O", "o", "Sport"), AdText("A", "a", "Sport"), AdText("B", "b", "Sport")]
    p = np.array([[0.10, 0.20], [0.09, 0.18], [0.12, 0.26]])  # B beats the original, A does not
    jobs = table(clock)
    job = jobs.submit("ad-1")
    clock.now += 2
    jobs.start(job.job_id)
    timings = job_timings(job, generated, score_s=0.5, now=clock.now + 2.25)
    audience = Audience(("u1", "u2"), np.zeros((2, 1, 1)), np.zeros((2, 1)), np.zeros((2, 1)), 1)
    result = variants_result(generated, texts, summarise(p), "v7", audience, timings)
    assert (result.generator, result.model_version) == ("gen-x", "v7")
    assert (result.audience_users, result.audience_skipped) == (2, 1)
    assert (result.original.title, result.original.uplift, result.original.spread) == ("O", 0, 0)
    assert result.original.mean_pctr == pytest.approx(0.15)
    assert [v.title for v in result.variants] == ["B", "A"]
    best = result.variants[0]
    assert best.uplift == pytest.approx(0.19 / 0.15 - 1, abs=1e-6)
    assert best.share_better == 1 and result.variants[1].share_better == 0
    assert best.spread == pytest.approx(np.std([0.2, 0.3]), abs=1e-6)
    assert [(d.title, d.reasons) for d in result.dropped] == [("C", ["fact_missing:$5", "unsafe"])]
    assert (timings.queued_ms, timings.generate_ms, timings.check_ms, timings.score_ms,
            timings.total_ms) == (2000, 1500, 250, 500, 4250)  # fmt: skip


def test_a_job_whose_variants_were_all_dropped_scores_the_original_alone() -> None:
    generated = Generated("gen-x", kept=[], dropped=[(("C", "c"), ["duplicate"])],
                          generate_s=1, check_s=0)  # fmt: skip
    audience = Audience(("u1",), np.zeros((1, 1, 1)), np.zeros((1, 1)), np.zeros((1, 1)))
    timings = Timings(0, 1, 0, 0, 1)
    result = variants_result(generated, [AdText("O")], summarise(np.array([[0.3]])), "v",
                             audience, timings)  # fmt: skip
    assert result.variants == [] and result.original.mean_pctr == pytest.approx(0.3)
    assert len(result.dropped) == 1
