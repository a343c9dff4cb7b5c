"""The logic of ``POST /rank``: read state, fill in missing ad vectors, score, rank.

Redis failures do not fail the request: the user becomes a cold-start user, ads come from
the in-process cache, from their text, or from their prior, and the answer says
``degraded: true`` with the reasons.
"""

import asyncio
import time
from dataclasses import dataclass

import numpy as np
import orjson

from service.errors import Unavailable
from service.features.text import ad_text
from service.rank.features import Candidates, prior_pctr, read_ads, read_user, user_history
from service.rank.parsing import RankInput
from service.rank.ranking import ecpm, explanation, order, ranked_rows
from service.runtime.model import LoadedModel, ScoreResult
from service.state import ServiceState
from service.store.codec import UserMatrix, encode_ad


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


def rank_rows(req: RankInput, scores: Scores, user: UserMatrix | None) -> list[dict[str, object]]:
    """Order by eCPM when bids are given, else by pCTR; top_k; explanations when asked."""
    ecpms = ecpm(scores.p_ctr, req.bids) if req.bids is not None else None
    positions = order(ecpms if ecpms is not None else scores.p_ctr, req.top_k)
    explained = None
    if req.explain:
        items = user.item_ids if user is not None else ()
        att = scores.result.attention if scores.result is not None else None
        explained = {int(pos): explanation(att[j], items) for j, pos in
                     enumerate(scores.model_rows)} if att is not None else {}  # fmt: skip
    return ranked_rows(req.ad_ids, scores.p_ctr, ecpms, scores.from_model, positions, explained)


class RankService:
    def __init__(self, svc: ServiceState) -> None:
        self.svc = svc
        self.metrics = svc.metrics
        self._hits = svc.metrics.cache.labels("hit")
        self._misses = svc.metrics.cache.labels("miss")

    def deadline(self, req: RankInput) -> float:
        b = self.svc.settings.batch
        ms = min(req.timeout_ms or b.default_timeout_ms, b.max_timeout_ms)
        return time.monotonic() + ms / 1000

    async def rank(
        self, req: RankInput, request_id: str, gone: asyncio.Future | None = None
    ) -> bytes:
        with self.svc.holder.use() as model:
            return await self._rank(model, req, request_id, gone)

    async def _rank(
        self, model: LoadedModel, req: RankInput, request_id: str, gone: asyncio.Future | None
    ) -> bytes:
        started = time.perf_counter()
        deadline = self.deadline(req)
        assert model.rank_batcher is not None
        model.rank_batcher.admit(len(req.ad_ids), deadline)
        cands = self._candidates(model, req.ad_ids)
        misses = cands.missing()
        read = await self.svc.store.read_for_rank(
            model.version, req.user_id, [req.ad_ids[i] for i in misses]
        )
        reasons = [] if read.ok else ["redis_unavailable"]
        user = read_user(read.user, model.version, model.bundle.manifest.dims.d)
        self._fill_from_store(model, cands, misses, read.ads)
        t_enc = time.perf_counter()
        await self._encode_unknown(model, req, cands, deadline, reasons, read.ok)
        encode_s = time.perf_counter() - t_enc
        scores = await self._score(model, req, user, cands, deadline, gone)
        for reason in reasons:
            self.metrics.degraded.labels(reason).inc()
        stage = {
            "total_ms": (time.perf_counter() - started) * 1000, "redis_ms": read.seconds * 1000,
            "encode_ms": encode_s * 1000, **scores.timings(),
            "ad_cache_hits": len(req.ad_ids) - len(misses), "ad_cache_misses": len(misses),
            "user_found": user is not None,
        }  # fmt: skip
        return orjson.dumps({
            "request_id": request_id, "model_version": model.version,
            "ranked": rank_rows(req, scores, user), "metrics": stage,
            "degraded": bool(reasons), "degraded_reasons": reasons,
        })  # fmt: skip

    def _candidates(self, model: LoadedModel, ad_ids: list[str]) -> Candidates:
        got = model.ad_cache.gather(ad_ids)
        buckets, priors = model.priors.features(got.prior_rows)
        hits = int(got.have.sum())
        self._hits.inc(hits)
        if hits < len(ad_ids):
            self._misses.inc(len(ad_ids) - hits)
        return Candidates(ad_ids, got.vectors, got.have, buckets, priors)

    def _fill_from_store(
        self, model: LoadedModel, cands: Candidates, misses: list[int],
        blobs: list[bytes | None],
    ) -> None:  # fmt: skip
        found = read_ads(blobs, model.version, model.bundle.manifest.dims.d)
        pos = [i for i, v in zip(misses, found, strict=True) if v is not None]
        vecs = [v for v in found if v is not None]
        if pos:
            cands.fill(pos, vecs)
            model.ad_cache.put([cands.ad_ids[i] for i in pos], np.vstack(vecs))

    async def _encode_unknown(
        self, model: LoadedModel, req: RankInput, cands: Candidates, deadline: float,
        reasons: list[str], store_ok: bool,
    ) -> None:  # fmt: skip
        rows = [i for i in cands.missing() if i in req.texts] if req.texts else []
        if not rows:
            return
        texts = [req.texts[i] for i in rows]
        try:
            encoded = await self.svc.encode(
                model, [ad_text(t.title, t.description, t.category) for t in texts], deadline,
                "rank",
            )  # fmt: skip
        except Unavailable:
            reasons.append("encoder_unavailable")
            return
        cands.fill(rows, list(encoded))
        ids = [req.ad_ids[i] for i in rows]
        model.ad_cache.put(ids, encoded)
        if store_ok:
            self.svc.spawn(self._store_ads(model, ids, texts, encoded), "store new ads")

    async def _store_ads(
        self, model: LoadedModel, ids: list[str], texts: list, vectors: np.ndarray
    ) -> None:
        keys, ttl = self.svc.store.keys, self.svc.settings.redis.ad_ttl_s
        pairs = []
        for ad_id, t, vec in zip(ids, texts, vectors, strict=True):
            raw = {"title": t.title, "description": t.description, "category": t.category}
            pairs.append((keys.ad(model.version, ad_id), encode_ad(vec, model.version)))
            pairs.append((keys.ad_raw(ad_id), orjson.dumps(raw)))
        await self.svc.store.write("put_ads", pairs, ttl)

    async def _score(
        self, model: LoadedModel, req: RankInput, user: UserMatrix | None, cands: Candidates,
        deadline: float, gone: asyncio.Future | None,
    ) -> Scores:  # fmt: skip
        p_ctr = prior_pctr(cands.priors)  # the answer for ads with neither vector nor text
        model_rows = cands.model_rows()
        if not model_rows.size:
            return Scores(p_ctr, cands.have, model_rows, None)
        dims = model.bundle.manifest.dims
        history, mask = user_history(user, dims.history_len, dims.d)
        context = model.bundle.context.encode(req.context, ts=time.time())
        block = cands.block(history, mask, context)
        assert model.rank_batcher is not None
        submitted = time.perf_counter()
        result = await model.rank_batcher.submit(block, block.n_pairs, deadline, gone)
        p_ctr[model_rows] = result.p_ctr
        return Scores(p_ctr, cands.have, model_rows, result, result.started - submitted)
