"""The logic of ``POST /rank``: read state, fill in missing ad vectors, score, rank.

One :class:`RankRun` per request carries its state (model, deadline, candidates, degraded
reasons) from top to bottom. Redis failures do not fail the request: the user becomes a
cold-start user, ads come from the in-process cache, from their text, or from their prior,
and the answer says ``degraded: true`` with the reasons.
"""

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from service.ads.catalog import AdCatalog, price_of
from service.errors import NotReady, Overloaded, Unavailable
from service.experiments.arms import Arm
from service.experiments.exposures import ExposureLog
from service.experiments.shadow import Shadow
from service.metrics import Metrics
from service.rank.candidates import Candidates, prior_pctr, user_history
from service.rank.parsing import RankInput
from service.rank.protocol import ENCODER, DegradedReason, RankedAd, RankMetrics, RankResponse
from service.rank.ranking import check_bid_types, explanation, order, ranked_by, ranked_rows
from service.rank.scores import Scored, Scores, blend_scored
from service.runtime.model import LoadedModel
from service.service_state import ServiceState
from service.store.codec import UserMatrix, read_ads, read_user

# degraded reasons: what a fallback answered for
REDIS_UNAVAILABLE: Final = "redis_unavailable"  # Redis down, slow, or its breaker open
ENCODER_DEADLINE: Final = "encoder_deadline"  # new ads still being encoded at the deadline
ENCODER_OVERLOADED: Final = "encoder_overloaded"  # the encoder queue could not take new ads
ENCODER_UNAVAILABLE: Final = "encoder_unavailable"  # the encoder is not running


def rank_rows(req: RankInput, scores: Scores, user: UserMatrix | None) -> list[RankedAd]:
    """Order by eCPM when bids are given, else by pCTR; top_k; explanations when asked."""
    values = scores.ranking_values(req)
    positions = order(values, req.top_k)
    explained = None
    if req.explain:
        items = user.item_ids if user is not None else ()
        att = scores.result.attention if scores.result is not None else None
        explained = {int(pos): explanation(att[j], items) for j, pos in
                     enumerate(scores.model_rows)} if att is not None else {}  # fmt: skip
    ecpms = values if req.bids is not None else None
    return ranked_rows(req.ad_ids, scores.p_ctr, ecpms, scores.from_model, positions, explained,
                       ranked_by(req), scores.p_cvr)  # fmt: skip


class RankService:
    def __init__(
        self, svc: ServiceState, catalog: AdCatalog, exposures: ExposureLog, shadow: Shadow
    ) -> None:
        self.svc = svc
        self.catalog = catalog
        self.exposures = exposures
        self.shadow = shadow
        self.hits = svc.metrics.cache.labels("hit")
        self.misses = svc.metrics.cache.labels("miss")
        self._arm_metrics: dict[str, ArmMetrics] = {}

    def deadline(self, req: RankInput) -> float:
        b = self.svc.settings.batch
        ms = min(req.timeout_ms or b.default_timeout_ms, b.max_timeout_ms)
        return time.monotonic() + ms / 1000

    async def rank(
        self, req: RankInput, request_id: str, gone: asyncio.Future | None = None
    ) -> bytes:
        """The user's arm ranks; the answer names it, and the exposure is recorded."""
        started = time.perf_counter()
        arms = self.svc.holder.arms
        arm = arms.arm_of(req.user_id)
        metrics = self.arm_metrics(arm.name)
        check_bid_types(req, arm.has_cvr, arm.version)
        try:
            with arm.use():
                scored = await self.score(arm, req, gone)
        except Unavailable:
            metrics.shed.inc()
            raise
        body = self.answer(req, request_id, arm, scored, started)
        metrics.observe(time.perf_counter() - started, bool(scored.reasons))
        self.exposures.record(arms, arm.name, request_id, req.user_id)
        if arms.shadow is not None:
            self.shadow.offer(arms, arm, req, scored.scores, self.score_alone)
        return body

    async def score_alone(self, model: LoadedModel, req: RankInput) -> Scored:
        """A shadow's scores: no new ads encoded, nothing answered."""
        model.users += 1
        try:
            return await RankRun(self, model, req, None, encode_new=False).scored()
        finally:
            model.users -= 1

    async def score(self, arm: Arm, req: RankInput, gone: asyncio.Future | None) -> Scored:
        """One bundle's scores, or a blend's parts scored at once and combined."""
        if len(arm.models) == 1:
            return await RankRun(self, arm.models[0], req, gone).scored()
        parts = [asyncio.ensure_future(RankRun(self, m, req, gone).scored()) for m in arm.models]
        try:
            return blend_scored(await asyncio.gather(*parts), arm.part_weights)
        except BaseException:
            for part in parts:
                part.cancel()
            raise

    def answer(
        self, req: RankInput, request_id: str, arm: Arm, scored: Scored, started: float
    ) -> bytes:
        for reason in scored.reasons:
            self.svc.metrics.degraded.labels(reason).inc()
        misses = scored.cache_misses
        stage = RankMetrics(
            total_ms=(time.perf_counter() - started) * 1000,
            redis_ms=scored.redis_s * 1000, encode_ms=scored.encode_s * 1000,
            **scored.scores.timings(), ad_cache_hits=len(req.ad_ids) - misses,
            ad_cache_misses=misses, user_found=scored.user is not None,
        )  # fmt: skip
        return ENCODER.encode(RankResponse(
            request_id=request_id, model_version=arm.version, arm=arm.name,
            ranked=rank_rows(req, scored.scores, scored.user), metrics=stage,
            degraded=bool(scored.reasons), degraded_reasons=scored.reasons,
        ))  # fmt: skip

    def arm_metrics(self, arm: str) -> "ArmMetrics":
        if arm not in self._arm_metrics:
            self._arm_metrics[arm] = ArmMetrics.of(self.svc.metrics, arm)
        return self._arm_metrics[arm]


@dataclass(frozen=True)
class ArmMetrics:
    """One arm's Prometheus series, bound once."""

    requests: Any
    duration: Any
    degraded: Any
    shed: Any

    @classmethod
    def of(cls, metrics: Metrics, arm: str) -> "ArmMetrics":
        return cls(metrics.arm_requests.labels(arm), metrics.arm_duration.labels(arm),
                   metrics.arm_degraded.labels(arm), metrics.arm_shed.labels(arm))  # fmt: skip

    def observe(self, seconds: float, degraded: bool) -> None:
        self.requests.inc()
        self.duration.observe(seconds)
        if degraded:
            self.degraded.inc()


class RankRun:
    """One /rank request's way: admit, gather vectors, read Redis, encode new ads, score."""

    def __init__(
        self, service: RankService, model: LoadedModel, req: RankInput,
        gone: asyncio.Future | None, encode_new: bool = True,
    ) -> None:  # fmt: skip
        self.service = service
        self.encode_new = encode_new  # the shadow scores new ads by their prior
        self.model = model
        self.req = req
        self.gone = gone
        self.deadline = service.deadline(req)
        self.reasons: list[DegradedReason] = []
        self.d = model.bundle.manifest.dims.d

    async def scored(self) -> Scored:
        model, req = self.model, self.req
        assert model.rank_batcher is not None
        model.rank_batcher.admit(len(req.ad_ids), self.deadline)
        cands = self._from_cache()
        misses = cands.missing()
        read = await self.service.svc.store.read_for_rank(
            model.version, req.user_id, [req.ad_ids[i] for i in misses]
        )
        if not read.ok:
            self.reasons.append(REDIS_UNAVAILABLE)
        user = read_user(read.user, model.version, self.d)
        self._fill_from_store(cands, misses, read.ads)
        t_enc = time.perf_counter()
        if self.encode_new:
            await self._encode_new(cands)
        encode_s = time.perf_counter() - t_enc
        scores = await self._score(user, cands)
        return Scored(scores, user, read.seconds, encode_s, len(misses), self.reasons)

    def _from_cache(self) -> Candidates:
        ad_ids = self.req.ad_ids
        got = self.model.ad_cache.gather(ad_ids)
        buckets, priors, offsets = self.model.priors.features(got.prior_rows)
        hits = int(got.have.sum())
        self.service.hits.inc(hits)
        if hits < len(ad_ids):
            self.service.misses.inc(len(ad_ids) - hits)
        return Candidates(ad_ids, got.vectors, got.have, buckets, priors, got.price_rows,
                          offsets)  # fmt: skip

    def _fill_from_store(
        self, cands: Candidates, misses: list[int], blobs: list[bytes | None]
    ) -> None:
        found = read_ads(blobs, self.model.version, self.d)
        pos = [i for i, ad in zip(misses, found, strict=True) if ad is not None]
        ads = [ad for ad in found if ad is not None]
        if pos:
            vecs, prices = [ad.vector for ad in ads], [ad.price for ad in ads]
            cands.fill(pos, vecs, prices)
            self.model.ad_cache.put([cands.ad_ids[i] for i in pos], np.vstack(vecs), prices)

    async def _encode_new(self, cands: Candidates) -> None:
        """Vectors of the unknown ads that came with text, as far as the deadline allows.

        The request waits for them for its share of the time left (the rest is kept for
        scoring); encodings not done by then go on, and later requests find their vectors.
        """
        texts = self.req.texts
        rows = [i for i in cands.missing() if i in texts] if texts else []
        if not rows:
            return
        ids = [self.req.ad_ids[i] for i in rows]
        try:
            pending = self.service.catalog.encode_in_background(
                self.model, ids, [texts[i] for i in rows]
            )
        except Overloaded:
            self.reasons.append(ENCODER_OVERLOADED)
            return
        except NotReady:
            self.reasons.append(ENCODER_UNAVAILABLE)
            return
        share = self.service.svc.settings.batch.new_ad_wait_share
        wait_s = max(self.deadline - time.monotonic(), 0.0) * share
        await asyncio.wait(set(pending), timeout=wait_s)
        done = [(i, f.result()) for i, f in zip(rows, pending, strict=True) if f.done()]
        found = [(i, v) for i, v in done if v is not None]
        if found:
            cands.fill([i for i, _ in found], [v for _, v in found],
                       [price_of(texts[i]) for i, _ in found])  # fmt: skip
        if len(done) < len(rows):
            self.reasons.append(ENCODER_DEADLINE)
        elif len(found) < len(rows):
            self.reasons.append(ENCODER_UNAVAILABLE)

    async def _score(self, user: UserMatrix | None, cands: Candidates) -> Scores:
        p_ctr = prior_pctr(cands.priors, cands.offsets)  # ads with neither vector nor text
        p_cvr = self._prior_pcvr(len(p_ctr))
        model_rows = cands.model_rows()
        if not model_rows.size:
            return Scores(p_ctr, p_cvr, cands.have, model_rows, None)
        dims = self.model.bundle.manifest.dims
        history, mask = user_history(user, dims.history_len, dims.d)
        context = self.model.bundle.context.encode(self.req.context, ts=time.time())
        block = cands.block(history, mask, context)
        assert self.model.rank_batcher is not None
        submitted = time.perf_counter()
        result = await self.model.rank_batcher.submit(
            block, block.n_pairs, self.deadline, self.gone
        )
        p_ctr[model_rows] = result.p_ctr
        if p_cvr is not None and result.p_cvr is not None:
            p_cvr[model_rows] = result.p_cvr
        return Scores(p_ctr, p_cvr, cands.have, model_rows, result, result.started - submitted)

    def _prior_pcvr(self, n: int) -> np.ndarray | None:
        """pCVR of ads the model does not score: the training data's conversions per click."""
        if not self.model.has_cvr:
            return None
        return np.full(n, self.model.bundle.manifest.featurisation.global_cvr or 0.0)
