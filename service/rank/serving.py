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

from service.ads.catalog import AdCatalog
from service.errors import NotReady, Overloaded
from service.rank.candidates import Candidates, prior_pctr, user_history
from service.rank.parsing import RankInput
from service.rank.protocol import ENCODER, DegradedReason, RankedAd, RankMetrics, RankResponse
from service.rank.ranking import check_bid_types, ecpm, explanation, order, ranked_by, ranked_rows
from service.runtime.model import LoadedModel
from service.runtime.pairs import ScoreResult
from service.service_state import ServiceState
from service.store.codec import UserMatrix, read_ads, read_user

# degraded reasons: what a fallback answered for
REDIS_UNAVAILABLE: Final = "redis_unavailable"  # Redis down, slow, or its breaker open
ENCODER_DEADLINE: Final = "encoder_deadline"  # new ads still being encoded at the deadline
ENCODER_OVERLOADED: Final = "encoder_overloaded"  # the encoder queue could not take new ads
ENCODER_UNAVAILABLE: Final = "encoder_unavailable"  # the encoder is not running


@dataclass(frozen=True)
class Scores:
    p_ctr: np.ndarray  # (n,) per candidate
    p_cvr: np.ndarray | None  # (n,) per candidate, where the model has a conversion tower
    from_model: np.ndarray  # (n,) bool
    model_rows: np.ndarray  # candidate positions scored by the model
    result: ScoreResult | None  # the ranker's answer for those rows
    queue_s: float = 0.0

    def timings(self) -> dict[str, Any]:
        r = self.result
        if r is None:
            return {"queue_ms": 0.0, "score_ms": 0.0, "batch_size": 0}
        return {"queue_ms": self.queue_s * 1000, "score_ms": r.score_s * 1000,
                "batch_size": r.batch_requests}  # fmt: skip


def rank_rows(req: RankInput, scores: Scores, user: UserMatrix | None) -> list[RankedAd]:
    """Order by eCPM when bids are given, else by pCTR; top_k; explanations when asked."""
    ecpms = (ecpm(scores.p_ctr, req.bids, req.bid_types, scores.p_cvr)
             if req.bids is not None else None)  # fmt: skip
    positions = order(ecpms if ecpms is not None else scores.p_ctr, req.top_k)
    explained = None
    if req.explain:
        items = user.item_ids if user is not None else ()
        att = scores.result.attention if scores.result is not None else None
        explained = {int(pos): explanation(att[j], items) for j, pos in
                     enumerate(scores.model_rows)} if att is not None else {}  # fmt: skip
    return ranked_rows(req.ad_ids, scores.p_ctr, ecpms, scores.from_model, positions, explained,
                       ranked_by(req), scores.p_cvr)  # fmt: skip


class RankService:
    def __init__(self, svc: ServiceState, catalog: AdCatalog) -> None:
        self.svc = svc
        self.catalog = catalog
        self.hits = svc.metrics.cache.labels("hit")
        self.misses = svc.metrics.cache.labels("miss")

    def deadline(self, req: RankInput) -> float:
        b = self.svc.settings.batch
        ms = min(req.timeout_ms or b.default_timeout_ms, b.max_timeout_ms)
        return time.monotonic() + ms / 1000

    async def rank(
        self, req: RankInput, request_id: str, gone: asyncio.Future | None = None
    ) -> bytes:
        with self.svc.holder.use() as model:
            return await RankRun(self, model, req, gone).answer(request_id)


class RankRun:
    """One /rank request's way: admit, gather vectors, read Redis, encode new ads, score."""

    def __init__(
        self, service: RankService, model: LoadedModel, req: RankInput,
        gone: asyncio.Future | None,
    ) -> None:  # fmt: skip
        self.service = service
        self.model = model
        self.req = req
        self.gone = gone
        self.started = time.perf_counter()
        self.deadline = service.deadline(req)
        self.reasons: list[DegradedReason] = []
        self.d = model.bundle.manifest.dims.d

    async def answer(self, request_id: str) -> bytes:
        model, req = self.model, self.req
        check_bid_types(req, model.has_cvr, model.version)
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
        await self._encode_new(cands)
        encode_s = time.perf_counter() - t_enc
        scores = await self._score(user, cands)
        for reason in self.reasons:
            self.service.svc.metrics.degraded.labels(reason).inc()
        stage = RankMetrics(
            total_ms=(time.perf_counter() - self.started) * 1000,
            redis_ms=read.seconds * 1000, encode_ms=encode_s * 1000, **scores.timings(),
            ad_cache_hits=len(req.ad_ids) - len(misses), ad_cache_misses=len(misses),
            user_found=user is not None,
        )  # fmt: skip
        return ENCODER.encode(RankResponse(
            request_id, model.version, rank_rows(req, scores, user), stage,
            degraded=bool(self.reasons), degraded_reasons=self.reasons,
        ))  # fmt: skip

    def _from_cache(self) -> Candidates:
        ad_ids = self.req.ad_ids
        got = self.model.ad_cache.gather(ad_ids)
        buckets, priors = self.model.priors.features(got.prior_rows)
        hits = int(got.have.sum())
        self.service.hits.inc(hits)
        if hits < len(ad_ids):
            self.service.misses.inc(len(ad_ids) - hits)
        return Candidates(ad_ids, got.vectors, got.have, buckets, priors)

    def _fill_from_store(
        self, cands: Candidates, misses: list[int], blobs: list[bytes | None]
    ) -> None:
        found = read_ads(blobs, self.model.version, self.d)
        pos = [i for i, v in zip(misses, found, strict=True) if v is not None]
        vecs = [v for v in found if v is not None]
        if pos:
            cands.fill(pos, vecs)
            self.model.ad_cache.put([cands.ad_ids[i] for i in pos], np.vstack(vecs))

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
            cands.fill([i for i, _ in found], [v for _, v in found])
        if len(done) < len(rows):
            self.reasons.append(ENCODER_DEADLINE)
        elif len(found) < len(rows):
            self.reasons.append(ENCODER_UNAVAILABLE)

    async def _score(self, user: UserMatrix | None, cands: Candidates) -> Scores:
        p_ctr = prior_pctr(cands.priors)  # the answer for ads with neither vector nor text
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
