"""The served model's ad vectors: encoded from the ads' text, kept in process and in Redis.

``PUT /ads`` and ``/rank`` share it. An ad that ``/rank`` brings with text is encoded once,
however many requests bring it at the same time (single flight), and its encoding goes on
after the request that started it has answered: the request waits for it only as long as
its deadline allows, and the next request finds the vector. The encoder's bounded queue
bounds this work too: a flood of new ads is shed, not queued without end.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

import numpy as np

from service.errors import DependencyDown, Unavailable
from service.features.text import AdText
from service.runtime.model import LoadedModel
from service.service_state import ServiceState
from service.store.codec import NO_PRICE, encode_ad, encode_ad_raw

log = logging.getLogger(__name__)

Pending = asyncio.Future[np.ndarray | None]  # the ad's vector, None if it could not be made


class AdCatalog:
    def __init__(self, svc: ServiceState) -> None:
        self.svc = svc
        self._pending: dict[tuple[str, str], Pending] = {}

    async def upsert(
        self, model: LoadedModel, ids: Sequence[str], texts: Sequence[AdText], deadline: float
    ) -> float:
        """Encode, cache and store ads; the seconds spent encoding. Raises Unavailable (the
        encoder) or DependencyDown (Redis)."""
        started = time.perf_counter()
        vectors = await self._vectors(model, ids, texts, deadline, "ads")
        encode_s = time.perf_counter() - started
        await self._store(model, ids, texts, vectors)
        return encode_s

    def encode_in_background(
        self, model: LoadedModel, ids: Sequence[str], texts: Sequence[AdText]
    ) -> list[Pending]:
        """Each ad's pending vector: done where it was encoded since the caller looked (the
        caller's lookup and this call are apart by a Redis read), joined where its encoding
        is under way, else started (raises Unavailable when the encoder cannot take the work)."""
        version, loop = model.version, asyncio.get_running_loop()
        cached = model.ad_cache.gather(ids)
        known = cached.have.tolist()
        ready: dict[str, Pending] = {}
        for ad_id, vector, have in zip(ids, cached.vectors, known, strict=True):
            if have:
                ready[ad_id] = loop.create_future()
                ready[ad_id].set_result(vector)
        new = {a: t for a, t, have in zip(ids, texts, known, strict=True)
               if not have and (version, a) not in self._pending}  # fmt: skip
        if new:
            assert model.encode_batcher is not None
            model.encode_batcher.admit(len(new))
            futures = [loop.create_future() for _ in new]
            for ad_id, future in zip(new, futures, strict=True):
                self._pending[version, ad_id] = future
            self.svc.spawn(self._encode(model, list(new), list(new.values()), futures),
                           "encode new ads")  # fmt: skip
        return [ready[a] if a in ready else self._pending[version, a] for a in ids]

    async def _encode(
        self, model: LoadedModel, ids: list[str], texts: list[AdText], futures: list[Pending]
    ) -> None:
        deadline = self.svc.deadline_in(self.svc.settings.batch.write_timeout_ms / 1000)
        vectors: np.ndarray | None = None
        try:
            vectors = await self._vectors(model, ids, texts, deadline, "rank")
        except Unavailable as exc:
            log.warning("new ads not encoded: %s", exc, extra={"ads": len(ids)})
        finally:
            for i, (ad_id, future) in enumerate(zip(ids, futures, strict=True)):
                del self._pending[model.version, ad_id]
                future.set_result(None if vectors is None else vectors[i])
        if vectors is not None:
            with contextlib.suppress(DependencyDown):  # cached; counted by the store
                await self._store(model, ids, texts, vectors)

    @staticmethod
    async def _vectors(
        model: LoadedModel, ids: Sequence[str], texts: Sequence[AdText], deadline: float,
        source: str,
    ) -> np.ndarray:  # fmt: skip
        vectors = await model.encode([t.encoder_input() for t in texts], deadline, source)
        model.ad_cache.put(ids, vectors, [price_of(t) for t in texts])
        return vectors

    async def _store(
        self, model: LoadedModel, ids: Sequence[str], texts: Sequence[AdText],
        vectors: np.ndarray,
    ) -> None:  # fmt: skip
        keys = self.svc.store.keys
        pairs: list[tuple[str, bytes]] = []
        for ad_id, text, vec in zip(ids, texts, vectors, strict=True):
            pairs.append((keys.ad(model.version, ad_id), encode_ad(vec, model.version, text.price)))
            pairs.append((keys.ad_raw(ad_id), encode_ad_raw(text)))
        await self.svc.store.write("put_ads", pairs, self.svc.settings.redis.ad_ttl_s)


def price_of(text: AdText) -> float:
    """The price as the stores keep it: NaN for none."""
    return NO_PRICE if text.price is None else text.price
