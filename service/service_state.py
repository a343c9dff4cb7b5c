"""What the routes share, built in the lifespan and kept on ``app.state.svc``."""

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from service.metrics import Metrics
from service.runtime.holder import ModelHolder
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

    def deadline_in(self, seconds: float) -> float:
        return time.monotonic() + seconds
