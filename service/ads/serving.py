"""Upsert ads: encode their text, write vector (per model version, for every loaded model)
and raw fields."""

import asyncio

from service.ads.catalog import AdCatalog
from service.ads.protocol import AdsRequest, AdsResponse
from service.features.text import AdText


class AdsService:
    def __init__(self, catalog: AdCatalog) -> None:
        self.catalog = catalog

    async def upsert(self, req: AdsRequest) -> AdsResponse:
        svc = self.catalog.svc
        deadline = svc.deadline_in(svc.settings.batch.write_timeout_ms / 1000)
        texts = [AdText(a.title, a.description, a.category, a.price) for a in req.ads]
        ids = [a.ad_id for a in req.ads]
        with svc.holder.use_all() as models:  # every loaded model gets its vectors
            seconds = await asyncio.gather(
                *(self.catalog.upsert(m, ids, texts, deadline) for m in models)
            )
        return AdsResponse(models[0].version, stored=len(req.ads), encode_ms=max(seconds) * 1e3)
