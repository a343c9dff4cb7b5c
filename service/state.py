"""What the routes share, built in the lifespan and kept on ``app.state.svc``."""

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from service.metrics import Metrics
from service.runtime.holder import ModelHolder
from service.runtime.model import LoadedModel
from service.settings import Settings
from service.store.redis_store import RedisStore

log = logging.getLogger(__name__)


@dataclass
class ServiceState:
    settings: Settings
    metrics: Metrics
    holder: ModelHolder
    store: RedisStore
    _background: set[asyncio.Task[Any]] = field(default_factory=set)

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        """Run ``coro`` in the background, keeping a reference, logging its failure."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(lambda t: self._finished(t, what))

    def _finished(self, task: asyncio.Task[Any], what: str) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background %s failed: %r", what, task.exception())

    async def drain(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def encode(
        self, model: LoadedModel, texts: list[str], deadline: float, source: str
    ) -> np.ndarray:
        """Vectors of ``texts`` through the model's encoder batcher (raises Unavailable),
        rounded through fp16 as Redis stores them, so a vector scores the same whether it
        was just encoded, cached in process, or read back from Redis."""
        if not texts:
            return np.zeros((0, model.bundle.manifest.dims.d), dtype=np.float32)
        assert model.encode_batcher is not None
        vectors = await model.encode_batcher.submit(texts, len(texts), deadline)
        self.metrics.encoded_texts.labels(source).inc(len(texts))
        return vectors.astype(np.float16).astype(np.float32)

    def deadline_in(self, seconds: float) -> float:
        return time.monotonic() + seconds
