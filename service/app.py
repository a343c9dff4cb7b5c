"""The app factories: ``create_app(settings)`` builds the FastAPI app (routes, docs, error
handlers); ``create_service(settings)`` is what uvicorn runs: that app with ``POST /rank``
routed to its endpoint directly (service.server.direct_routes) and every request timed. The
lifespan builds the resources (Redis client, embedded Redis if none is configured, the model)
on ``app.state``. Nothing happens at import time."""

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp

from service.admin.api_router import router as admin_router
from service.ads.api_router import router as ads_router
from service.ads.catalog import AdCatalog
from service.ads.serving import AdsService
from service.copy.api_router import router as variants_router
from service.copy.serving import VariantJobs
from service.errors import install_error_handlers
from service.events.api_router import router as events_router
from service.events.serving import EventsService
from service.experiments.attribution import Attribution
from service.experiments.exposures import ExposureLog
from service.experiments.shadow import Shadow
from service.health.api_router import router as health_router
from service.metrics import Metrics
from service.openapi import openapi
from service.rank.api_router import rank
from service.rank.api_router import router as rank_router
from service.rank.serving import RankService
from service.runtime.holder import ModelHolder
from service.server.direct_routes import DirectRoutes
from service.server.timing import TimingMiddleware
from service.service_state import ServiceState
from service.settings import Settings
from service.store.embedded import EmbeddedRedis
from service.store.redis_store import RedisStore

log = logging.getLogger(__name__)


def create_service(settings: Settings) -> ASGIApp:
    metrics = Metrics()
    app = create_app(settings, metrics)
    direct = DirectRoutes(app, {("POST", "/rank"): rank})
    return TimingMiddleware(direct, metrics=metrics, log_requests=settings.server.access_log)


def create_app(settings: Settings, metrics: Metrics | None = None) -> FastAPI:
    metrics = metrics or Metrics()
    app = FastAPI(
        title="adrank",
        version="0.1.0",
        summary="Ranks candidate ads for a user by predicted click-through rate or eCPM.",
        lifespan=_lifespan(settings, metrics),
    )
    routers = (rank_router, ads_router, variants_router, events_router, admin_router,
               health_router)  # fmt: skip
    for router in routers:
        app.include_router(router)
    install_error_handlers(app, settings.batch.retry_after_s)
    app.openapi = lambda: openapi(app, settings.limits)  # type: ignore[method-assign]
    return app


def _lifespan(settings: Settings, metrics: Metrics):
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sys.setswitchinterval(settings.server.gil_switch_interval_ms / 1000)
        embedded: EmbeddedRedis | None = None
        svc: ServiceState | None = None
        exposures: ExposureLog | None = None
        shadow: Shadow | None = None
        variants: VariantJobs | None = None
        try:
            embedded = EmbeddedRedis(settings.redis) if not settings.redis.url else None
            url = settings.redis.url or embedded.url  # type: ignore[union-attr]
            store = RedisStore(url, settings.redis, metrics)
            holder = ModelHolder(settings, metrics)
            svc = ServiceState(settings, metrics, holder, store)
            await holder.apply(settings.experiment)
            await store.warm(settings.redis.warm_connections)
            app.state.svc = svc
            catalog = AdCatalog(svc)
            exposures = ExposureLog(store, metrics)
            shadow = Shadow(metrics, busy_pairs=settings.batch.max_pairs)
            app.state.rank = RankService(svc, catalog, exposures, shadow)
            app.state.ads = AdsService(catalog)
            app.state.events = EventsService(svc, Attribution(store, exposures, metrics))
            app.state.variants = variants = VariantJobs(svc)
            log.info("adrank ready", extra=_startup_facts(svc, embedded is not None))
            yield
        finally:
            if svc is not None:
                if variants is not None:  # its jobs cancelled, its worker stopped
                    await variants.close()
                if shadow is not None:
                    await shadow.close()
                if exposures is not None:  # the records still in process
                    await exposures.close()
                await svc.holder.close()
                await svc.drain()
                await svc.store.close()
            if embedded is not None:
                embedded.close()

    return lifespan


def _startup_facts(svc: ServiceState, embedded: bool) -> dict[str, Any]:
    model = svc.holder.model
    return {
        "model_version": model.version,
        "arms": {a.name: a.version for a in svc.holder.arms.arms},
        "providers": model.providers,
        "redis": _redis_kind(svc, embedded),
        "ranker_threads": svc.settings.model.ranker_threads,
        "ranker_concurrency": svc.settings.model.ranker_concurrency,
        "ranker_nice": svc.settings.model.ranker_nice,
        "encoder_threads": svc.settings.model.encoder_threads,
    }


def _redis_kind(svc: ServiceState, embedded: bool) -> str:
    if embedded:
        return "embedded"
    return "cluster" if svc.settings.redis.cluster else "external"
