"""Holds the arms being served and swaps in new ones without failing a request.

A request takes one snapshot (:class:`ArmSet`) and its arm's models once and uses them
throughout (their vectors, their batchers), so a swap in the middle of a request changes
nothing for it. ``apply`` loads and warms every bundle the new experiment needs beside the
running ones (a bundle already loaded is shared, unless ``fresh``); only when all are ready
does it swap; a model no arm uses any more stops once the requests still using it have
finished. A bundle that fails to load is refused, and the running arms keep serving.
"""

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from service.bundle.loader import BundleError
from service.errors import BundleRejected, InvalidRequest, NotReady
from service.experiments.arms import ArmSet, build_arm_set, bundle_paths
from service.experiments.config import ExperimentSettings
from service.metrics import Metrics
from service.runtime.model import LoadedModel, load_model
from service.settings import Settings

log = logging.getLogger(__name__)


class ModelHolder:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.default_path = settings.model.bundle_path  # arms without a path serve this
        self._arms: ArmSet | None = None
        self._lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()

    @property
    def arms(self) -> ArmSet:
        """The arms to use for one request; NotReady before the first load."""
        if self._arms is None:
            raise NotReady("model is not loaded yet")
        return self._arms

    @property
    def model(self) -> LoadedModel:
        """The control arm's (first) model: what the service reports as its model."""
        return self.arms.control.models[0]

    @property
    def loaded(self) -> LoadedModel | None:
        return self._arms.control.models[0] if self._arms is not None else None

    @property
    def arm_set(self) -> ArmSet | None:
        return self._arms

    @contextmanager
    def use_all(self) -> Iterator[list[LoadedModel]]:
        """Every loaded model (arms and shadow), kept alive for the ``with`` block: what
        writes per model version (user matrices, ad vectors) must reach them all."""
        models = list(self.arms.models.values())
        for m in models:
            m.users += 1
        try:
            yield models
        finally:
            for m in models:
                m.users -= 1

    async def load(self, path: Path | None = None) -> LoadedModel:
        """Reload: every bundle read again from disk, ``path`` as the default bundle (the one
        arms without their own path serve; none = the configured ``model.bundle_path``). A
        path given while every arm names its own bundle is refused: nothing would read it.
        Returns the control arm's model."""
        config = self._arms.config if self._arms is not None else self.settings.experiment
        if path is not None and all(a.bundle_path or a.blend for a in config.effective_arms()):
            raise InvalidRequest(
                f"bundle_path: every arm names its own bundle, so none would serve {path}; "
                "change the arms with PUT /admin/arms"
            )
        default = path or self.settings.model.bundle_path
        arms = await self.apply(config, default_path=default, fresh=True)
        return arms.control.models[0]

    async def apply(
        self, config: ExperimentSettings, default_path: Path | None = None, fresh: bool = False
    ) -> ArmSet:
        """Load what ``config`` needs, then swap it in. Raises BundleRejected."""
        async with self._lock:
            default = default_path or self.default_path
            try:
                paths = bundle_paths(config, default)
            except (OSError, ValueError) as exc:  # a path no file system takes (a NUL byte)
                self.metrics.reloads.labels("rejected").inc()
                raise BundleRejected(f"bundle path refused: {exc}") from exc
            running = self._arms.models if self._arms is not None and not fresh else {}
            kept = {p: m for p, m in running.items() if p in paths}
            loaded = await self._load_all([p for p in paths if p not in kept])
            for model in loaded.values():
                model.start(self.settings, self.metrics)
            new = build_arm_set(config, default, {**kept, **loaded})
            old, self._arms, self.default_path = self._arms, new, default
            self._published(new)
            if old is not None:
                in_use = {id(m) for m in new.models.values()}
                for model in old.models.values():
                    if id(model) not in in_use:
                        self._retire(model)
            return new

    async def _load_all(self, paths: list[Path]) -> dict[Path, LoadedModel]:
        loaded: dict[Path, LoadedModel] = {}
        for path in paths:
            try:
                loaded[path] = await asyncio.to_thread(load_model, path, self.settings)
            except (BundleError, ValueError, OSError, RuntimeError) as exc:
                self.metrics.reloads.labels("rejected").inc()
                log.error("bundle refused: %s", exc, extra={"bundle": str(path)})
                still = "the running arms keep serving" if self._arms else "no model loaded"
                raise BundleRejected(f"bundle {path} refused ({still}): {exc}") from exc
        return loaded

    def _published(self, arms: ArmSet) -> None:
        self.metrics.reloads.labels("ok").inc()
        control = arms.control.models[0]
        self.metrics.model_info.info(
            {"version": control.version, "bundle": str(self.default_path),
             **_provider_labels(control)}
        )  # fmt: skip
        self.metrics.arm_info.clear()
        for arm in arms.arms:
            self.metrics.arm_info.labels(arm.name).info(
                {"version": arm.version, "weight": f"{arm.weight:g}"}
            )
        log.info("serving arms", extra={"arms": {a.name: a.version for a in arms.arms},
                                        "experiment": arms.config.name})  # fmt: skip

    def _retire(self, old: LoadedModel) -> None:
        task = asyncio.get_running_loop().create_task(_close_when_unused(old))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        if self._arms is not None:
            for model in self._arms.models.values():
                await model.close(drain_s=5.0)
            self._arms = None


async def _close_when_unused(model: LoadedModel, grace_s: float = 60.0) -> None:
    deadline = time.monotonic() + grace_s
    while model.users > 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await model.close()
    log.info("retired model", extra={"version": model.version})


def _provider_labels(model: LoadedModel) -> dict[str, str]:
    return {f"{graph}_provider": names[0] for graph, names in model.providers.items()}
