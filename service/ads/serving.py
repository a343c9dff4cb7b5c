"""Upsert ads: encode their text, write vector (per model version) and raw fields."""

from service.ads.catalog import AdCatalog
from service.ads.protocol import AdsRequest, AdsResponse
from service.features.text import AdText


class AdsService:
    def __init__(self, catalog: AdCatalog) -> None:
        self.catalog = catalog

    async def upsert(self, req: AdsRequest) -> AdsResponse:
        svc = self.catalog.svc
        with svc.holder.use() as model:
            deadline = svc.deadline_in(svc.settings.batch.write_timeout_ms / 1000)
            texts = [AdText(a.title, a.description, a.category) for a in req.ads]
            encode_s = await self.catalog.upsert(model, [a.ad_id for a in req.ads], texts, deadline)
        return AdsResponse(model.version, stored=len(req.ads), encode_ms=encode_s * 1e3)
