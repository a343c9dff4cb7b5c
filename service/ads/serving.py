"""Upsert ads: encode their text, write vector (per model version) and raw fields."""

import time

import orjson

from service.ads.protocol import Ad, AdsRequest
from service.features.text import ad_text
from service.runtime.model import LoadedModel
from service.state import ServiceState
from service.store.codec import encode_ad


class AdsService:
    def __init__(self, svc: ServiceState) -> None:
        self.svc = svc

    async def upsert(self, req: AdsRequest) -> dict[str, object]:
        with self.svc.holder.use() as model:
            return await self._upsert(model, req)

    async def _upsert(self, model: LoadedModel, req: AdsRequest) -> dict[str, object]:
        started = time.perf_counter()
        deadline = self.svc.deadline_in(self.svc.settings.batch.write_timeout_ms / 1000)
        texts = [ad_text(a.title, a.description, a.category) for a in req.ads]
        vectors = await self.svc.encode(model, texts, deadline, "ads")
        encode_s = time.perf_counter() - started
        keys = self.svc.store.keys
        pairs: list[tuple[str, bytes]] = []
        for ad, vec in zip(req.ads, vectors, strict=True):
            pairs.append((keys.ad(model.version, ad.ad_id), encode_ad(vec, model.version)))
            pairs.append((keys.ad_raw(ad.ad_id), raw_fields(ad)))
        await self.svc.store.write("put_ads", pairs, self.svc.settings.redis.ad_ttl_s)
        model.ad_cache.put([a.ad_id for a in req.ads], vectors)
        return {"model_version": model.version, "stored": len(req.ads), "encode_ms": encode_s * 1e3}


def raw_fields(ad: Ad) -> bytes:
    return orjson.dumps({"title": ad.title, "description": ad.description, "category": ad.category})
