"""Apply behaviour events: encode the new items' texts, then per user one atomic
read-modify-write of the raw history and the behaviour matrix (see RedisStore.update_user).
Count ad outcomes in the metrics: they need neither Redis nor the model."""

import asyncio
import time
from collections import Counter, defaultdict

import numpy as np

from service.events.history import build_matrix, known_vectors, merge_history, missing_texts
from service.events.protocol import Event, EventsRequest, EventsResponse, Outcome
from service.experiments.attribution import Attribution
from service.features.text import item_text
from service.metrics import Metrics
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
    def __init__(self, svc: ServiceState, attribution: Attribution) -> None:
        self.svc = svc
        self.attribution = attribution

    async def apply(self, req: EventsRequest) -> EventsResponse:
        """Behaviour events first (for every loaded model), then the outcomes attributed to
        arms (Redis), then counted in the metrics: a request refused on the way (Redis down)
        counts none of its outcomes in the metrics, so its retry does not count them twice."""
        arms = self.svc.holder.arms
        users = 0
        if req.events:
            with self.svc.holder.use_all() as models:
                counts = await asyncio.gather(*(self._apply(m, req.events) for m in models))
            users = counts[0]
        attributed = await self.attribution.count(req.outcomes, arms, now=time.time())
        count_outcomes(self.svc.metrics, req.outcomes)
        return EventsResponse(arms.control.version, accepted=len(req.events), users=users,
                              outcomes=len(req.outcomes), attributed=attributed)  # fmt: skip

    async def _apply(self, model: LoadedModel, events: list[Event]) -> int:
        """Apply the events; the number of users they updated."""
        deadline = self.svc.deadline_in(self.svc.settings.batch.write_timeout_ms / 1000)
        by_user = group_events(events, now=time.time())
        fresh = [i for items in by_user.values() for i in items]
        vectors = await self._encode(model, missing_texts(fresh, {}), deadline)
        await asyncio.gather(
            *(self._update_user(model, u, items, vectors, deadline) for u, items in by_user.items())
        )
        return len(by_user)

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


def count_outcomes(metrics: Metrics, outcomes: list[Outcome]) -> None:
    """One increment per type seen, not per outcome (a batch holds up to max_events)."""
    for kind, n in Counter(o.type for o in outcomes).items():
        metrics.outcomes.labels(kind).inc(n)
    value = sum(o.value for o in outcomes if o.value is not None)
    if value:
        metrics.conversion_value.inc(value)
