"""Holds the model being served and swaps in a new one without failing a request.

A request takes the model once (``with holder.use() as model``) and uses it throughout (its
vectors, its batchers), so a swap in the middle of a request changes nothing for it.
``reload`` loads and warms the new bundle in a thread beside the old one; only then does it
swap; the old model stops once the requests still using it have finished. A bundle that
fails to load is refused and the old one keeps serving.
"""

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from service.bundle.loader import BundleError
from service.errors import BundleRejected, NotReady
from service.metrics import Metrics
from service.runtime.model import LoadedModel, load_model
from service.settings import Settings

log = logging.getLogger(__name__)


class ModelHolder:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self._model: LoadedModel | None = None
        self._lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()

    @property
    def model(self) -> LoadedModel:
        """The model to use for one request; NotReady before the first load."""
        if self._model is None:
            raise NotReady("model is not loaded yet")
        return self._model

    @contextmanager
    def use(self) -> Iterator[LoadedModel]:
        """The current model, kept alive for the duration of the ``with`` block."""
        model = self.model
        model.users += 1
        try:
            yield model
        finally:
            model.users -= 1

    @property
    def loaded(self) -> LoadedModel | None:
        return self._model

    async def load(self, path: Path) -> LoadedModel:
        """Load, warm and start ``path``, then swap it in. Raises BundleRejected."""
        async with self._lock:
            try:
                new = await asyncio.to_thread(load_model, path, self.settings)
            except (BundleError, ValueError, OSError, RuntimeError) as exc:
                self.metrics.reloads.labels("rejected").inc()
                log.error("bundle refused: %s", exc, extra={"bundle": str(path)})
                still = "still serving the old model" if self._model else "no model loaded"
                raise BundleRejected(f"bundle refused ({still}): {exc}") from exc
            new.start(self.settings, self.metrics)
            old, self._model = self._model, new
            self.metrics.reloads.labels("ok").inc()
            self.metrics.model_info.info(
                {"version": new.version, "bundle": str(path), **_provider_labels(new)}
            )
            if old is not None:
                self._retire(old)
            log.info("serving model", extra={"version": new.version, "load_s": new.load_s})
            return new

    def _retire(self, old: LoadedModel) -> None:
        task = asyncio.get_running_loop().create_task(_close_when_unused(old))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        if self._model is not None:
            await self._model.close(drain_s=5.0)
            self._model = None


async def _close_when_unused(model: LoadedModel, grace_s: float = 60.0) -> None:
    deadline = time.monotonic() + grace_s
    while model.users > 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await model.close()
    log.info("retired model", extra={"version": model.version})


def _provider_labels(model: LoadedModel) -> dict[str, str]:
    return {f"{graph}_provider": names[0] for graph, names in model.providers.items()}
