"""The logic of ``POST /rank``: read state, fill in missing ad vectors, score, rank.

Redis failures do not fail the request: the user becomes a cold-start user, ads come from
the in-process cache, from their text, or from their prior, and the answer says
``degraded: true`` with the reasons.
"""

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import orjson

from service.errors import InvalidRequest, Unavailable
from service.features.text import ad_text
from service.rank.features import (
    build_block,
    plan_candidates,
    read_ads,
    read_user,
    user_history,
)
from service.rank.protocol import RankRequest
from service.rank.ranking import ecpm, explanation, order, ranked_rows
from service.runtime.model import LoadedModel, ScoreResult
from service.state import ServiceState
from service.store.codec import UserMatrix, encode_ad

Vectors = list[np.ndarray | None]


@dataclass(frozen=True)
class Scores:
    p_ctr: np.ndarray  # (n,) per candidate
    from_model: np.ndarray  # (n,) bool
    model_rows: np.ndarray  # candidate positions scored by the model
    result: ScoreResult | None  # the ranker's answer for those rows
    queue_s: float = 0.0

    def timings(self) -> dict[str, float | int]:
        r = self.result
        if r is None:
            return {"queue_ms": 0.0, "score_ms": 0.0, "batch_size": 0}
        return {"queue_ms": self.queue_s * 1000, "score_ms": r.score_s * 1000,
                "batch_size": r.batch_requests}  # fmt: skip


def candidate_bids(req: RankRequest) -> np.ndarray | None:
    """Bids of all candidates, or None when none has one (rank by pCTR); mixed is refused."""
    given = sum(c.bid is not None for c in req.candidates)
    if given == 0:
        return None
    if given != len(req.candidates):
        raise InvalidRequest(
            f"candidates: bid is given for {given} of {len(req.candidates)} candidates; "
            "give it for all (rank by eCPM) or none (rank by pCTR)"
        )
    return np.array([c.bid for c in req.candidates], dtype=np.float64)


def rank_rows(
    req: RankRequest, bids: np.ndarray | None, scores: Scores, user: UserMatrix | None
) -> list[dict[str, object]]:
    """Order by eCPM when bids are given, else by pCTR; top_k; explanations when asked."""
    ecpms = ecpm(scores.p_ctr, bids) if bids is not None else None
    positions = order(ecpms if ecpms is not None else scores.p_ctr, req.top_k)
    explained = None
    if req.explain:
        items = user.item_ids if user is not None else ()
        att = scores.result.attention if scores.result is not None else None
        explained = {int(pos): explanation(att[j], items) for j, pos in
                     enumerate(scores.model_rows)} if att is not None else {}  # fmt: skip
    ad_ids = [c.ad_id for c in req.candidates]
    return ranked_rows(ad_ids, scores.p_ctr, ecpms, scores.from_model, positions, explained)


class RankService:
    def __init__(self, svc: ServiceState) -> None:
        self.svc = svc
        self.metrics = svc.metrics

    def deadline(self, req: RankRequest) -> float:
        b = self.svc.settings.batch
        ms = min(req.timeout_ms or b.default_timeout_ms, b.max_timeout_ms)
        return time.monotonic() + ms / 1000

    async def rank(
        self, req: RankRequest, request_id: str, gone: asyncio.Future | None = None
    ) -> bytes:
        with self.svc.holder.use() as model:
            return await self._rank(model, req, request_id, gone)

    async def _rank(
        self, model: LoadedModel, req: RankRequest, request_id: str, gone: asyncio.Future | None
    ) -> bytes:
        started = time.perf_counter()
        deadline = self.deadline(req)
        assert model.rank_batcher is not None
        model.rank_batcher.admit(len(req.candidates), deadline)
        bids = candidate_bids(req)
        ad_ids = [c.ad_id for c in req.candidates]
        vectors, misses = self._cached(model, ad_ids)
        read = await self.svc.store.read_for_rank(
            model.version, req.user_id, [ad_ids[i] for i in misses]
        )
        reasons = [] if read.ok else ["redis_unavailable"]
        user = read_user(read.user, model.version, model.bundle.manifest.dims.d)
        self._fill_from_store(model, ad_ids, vectors, misses, read.ads)
        t_enc = time.perf_counter()
        await self._encode_unknown(model, req, vectors, deadline, reasons, read.ok)
        encode_s = time.perf_counter() - t_enc
        scores = await self._score(model, req, user, vectors, deadline, gone)
        for reason in reasons:
            self.metrics.degraded.labels(reason).inc()
        ranked = rank_rows(req, bids, scores, user)
        stage = {
            "total_ms": (time.perf_counter() - started) * 1000, "redis_ms": read.seconds * 1000,
            "encode_ms": encode_s * 1000, **scores.timings(),
            "ad_cache_hits": len(ad_ids) - len(misses), "ad_cache_misses": len(misses),
            "user_found": user is not None,
        }  # fmt: skip
        return orjson.dumps({
            "request_id": request_id, "model_version": model.version, "ranked": ranked,
            "metrics": stage, "degraded": bool(reasons), "degraded_reasons": reasons,
        })  # fmt: skip

    def _cached(self, model: LoadedModel, ad_ids: Sequence[str]) -> tuple[Vectors, list[int]]:
        vectors: Vectors = [model.ad_cache.get(a) for a in ad_ids]
        misses = [i for i, v in enumerate(vectors) if v is None]
        self.metrics.cache.labels("hit").inc(len(ad_ids) - len(misses))
        if misses:
            self.metrics.cache.labels("miss").inc(len(misses))
        return vectors, misses

    def _fill_from_store(
        self, model: LoadedModel, ad_ids: Sequence[str], vectors: Vectors,
        misses: list[int], blobs: Sequence[bytes | None],
    ) -> None:  # fmt: skip
        found = read_ads(blobs, model.version, model.bundle.manifest.dims.d)
        fresh = []
        for i, vec in zip(misses, found, strict=True):
            if vec is not None:
                vectors[i] = vec
                fresh.append((ad_ids[i], vec))
        model.ad_cache.put_many(fresh)

    async def _encode_unknown(
        self, model: LoadedModel, req: RankRequest, vectors: Vectors, deadline: float,
        reasons: list[str], store_ok: bool,
    ) -> None:  # fmt: skip
        rows = [i for i, v in enumerate(vectors) if v is None and req.candidates[i].title]
        if not rows:
            return
        cands = [req.candidates[i] for i in rows]
        texts = [ad_text(c.title or "", c.description or "", c.category or "") for c in cands]
        try:
            encoded = await self.svc.encode(model, texts, deadline, "rank")
        except Unavailable:
            reasons.append("encoder_unavailable")
            self.metrics.degraded.labels("encoder_unavailable").inc()
            return
        for i, vec in zip(rows, encoded, strict=True):
            vectors[i] = vec
        model.ad_cache.put_many((c.ad_id, v) for c, v in zip(cands, encoded, strict=True))
        if store_ok:
            self.svc.spawn(self._store_ads(model, cands, encoded), "store new ads")

    async def _store_ads(self, model: LoadedModel, cands: list, vectors: np.ndarray) -> None:
        keys, ttl = self.svc.store.keys, self.svc.settings.redis.ad_ttl_s
        pairs = []
        for c, vec in zip(cands, vectors, strict=True):
            raw = {"title": c.title or "", "description": c.description or "",
                   "category": c.category or ""}  # fmt: skip
            pairs.append((keys.ad(model.version, c.ad_id), encode_ad(vec, model.version)))
            pairs.append((keys.ad_raw(c.ad_id), orjson.dumps(raw)))
        await self.svc.store.write("put_ads", pairs, ttl)

    async def _score(
        self, model: LoadedModel, req: RankRequest, user: UserMatrix | None, vectors: Vectors,
        deadline: float, gone: asyncio.Future | None,
    ) -> Scores:  # fmt: skip
        plan = plan_candidates(vectors)
        ad_ids = [c.ad_id for c in req.candidates]
        p_ctr = np.empty(len(ad_ids), dtype=np.float64)
        from_model = np.zeros(len(ad_ids), dtype=bool)
        if plan.prior_rows.size:
            p_ctr[plan.prior_rows] = model.priors.p_ctr([ad_ids[i] for i in plan.prior_rows])
        if not plan.model_rows.size:
            return Scores(p_ctr, from_model, plan.model_rows, None)
        dims = model.bundle.manifest.dims
        history, mask = user_history(user, dims.history_len, dims.d)
        context = model.bundle.context.encode(req.context, ts=time.time())
        model_ids = [ad_ids[i] for i in plan.model_rows]
        buckets, priors = model.priors.lookup(model_ids)
        block = build_block(history, mask, context, [vectors[i] for i in plan.model_rows],
                            buckets, priors)  # fmt: skip
        assert model.rank_batcher is not None
        submitted = time.perf_counter()
        result = await model.rank_batcher.submit(block, block.n_pairs, deadline, gone)
        p_ctr[plan.model_rows] = result.p_ctr
        from_model[plan.model_rows] = True
        return Scores(p_ctr, from_model, plan.model_rows, result, result.started - submitted)
