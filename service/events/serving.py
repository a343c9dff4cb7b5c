"""Apply behaviour events: encode the new items' texts, then per user one atomic
read-modify-write of the raw history and the behaviour matrix (see RedisStore.update_user)."""

import asyncio
import time
from collections import defaultdict

import numpy as np

from service.events.history import build_matrix, known_vectors, merge_history, missing_texts
from service.events.protocol import Event, EventsRequest, EventsResponse
from service.features.text import item_text
from service.runtime.model import LoadedModel
from service.service_state import ServiceState
from service.store.codec import (
    BehaviourItem,
    encode_history,
    encode_user,
    read_history,
    read_user,
)


class EventsService:
    def __init__(self, svc: ServiceState) -> None:
        self.svc = svc

    async def apply(self, req: EventsRequest) -> EventsResponse:
        with self.svc.holder.use() as model:
            return await self._apply(model, req)

    async def _apply(self, model: LoadedModel, req: EventsRequest) -> EventsResponse:
        deadline = self.svc.deadline_in(self.svc.settings.batch.write_timeout_ms / 1000)
        by_user = group_events(req.events, now=time.time())
        fresh = [i for items in by_user.values() for i in items]
        vectors = await self._encode(model, missing_texts(fresh, {}), deadline)
        await asyncio.gather(
            *(self._update_user(model, u, items, vectors, deadline) for u, items in by_user.items())
        )
        return EventsResponse(model.version, accepted=len(req.events), users=len(by_user))

    async def _encode(
        self, model: LoadedModel, items: list[BehaviourItem], deadline: float
    ) -> dict[str, np.ndarray]:
        vecs = await model.encode([item_text(i.text) for i in items], deadline, "events")
        return {i.item_id: v for i, v in zip(items, vecs, strict=True)}

    async def _update_user(
        self, model: LoadedModel, user_id: str, new: list[BehaviourItem],
        fresh_vectors: dict[str, np.ndarray], deadline: float,
    ) -> None:  # fmt: skip
        dims = model.bundle.manifest.dims

        async def compute(
            matrix_blob: bytes | None, hist_blob: bytes | None
        ) -> tuple[bytes, bytes]:
            old_items = read_history(hist_blob)
            merged = merge_history(old_items, new, dims.history_len)
            vectors = {
                **known_vectors(read_user(matrix_blob, model.version, dims.d)),
                **fresh_vectors,
            }
            # items kept from before this model existed (after a reload): rebuild lazily
            vectors |= await self._encode(model, missing_texts(merged, vectors), deadline)
            matrix = build_matrix(merged, vectors, dims.d)
            return encode_user(matrix, model.version), encode_history(merged)

        await self.svc.store.update_user(model.version, user_id, compute)


def group_events(events: list[Event], now: float) -> dict[str, list[BehaviourItem]]:
    by_user: dict[str, list[BehaviourItem]] = defaultdict(list)
    for e in events:
        ts = e.ts if e.ts is not None else now
        by_user[e.user_id].append(BehaviourItem(e.item_id, item_text(e.text), e.type, ts))
    return dict(by_user)
