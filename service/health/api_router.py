"""Liveness, readiness and Prometheus metrics (open unless the settings protect them)."""

import asyncio

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.auth import authorize
from service.health.protocol import Health, Readiness
from service.metrics import CONTENT_TYPE
from service.openapi import ERRORS, answers, json_content
from service.server.requests import ok
from service.service_state import ServiceState

router = APIRouter(tags=["operations"])

PING_TIMEOUT_S = 0.25


# 401/403 where the settings protect the route
KEY_ERRORS: dict[int | str, dict] = {401: ERRORS[401], 403: ERRORS[403]}
READINESS = json_content("Readiness")
PROMETHEUS = {CONTENT_TYPE: {"schema": {"type": "string"}}}


@router.get(
    "/healthz",
    summary="Alive (the process answers)",
    responses={**answers("Health", "alive"), **KEY_ERRORS},
)
async def healthz(request: Request) -> Response:
    svc: ServiceState = request.app.state.svc
    if svc.settings.auth.protect_health:
        authorize(request, svc.settings.auth)
    return ok(Health("ok"))


@router.get(
    "/readyz",
    summary="Ready: model loaded and warm, batchers running, Redis reachable",
    responses={
        200: {"description": "ready", "content": READINESS},
        **KEY_ERRORS,
        503: {"description": "not ready; the body says why", "content": READINESS},
    },
)
async def readyz(request: Request) -> Response:
    svc: ServiceState = request.app.state.svc
    if svc.settings.auth.protect_health:
        authorize(request, svc.settings.auth)
    model = svc.holder.loaded
    try:
        redis_ok = await asyncio.wait_for(svc.store.ping(), PING_TIMEOUT_S)
    except TimeoutError:
        redis_ok = False
    problems = []
    if model is None:
        problems.append("model not loaded")
    elif not model.alive:
        problems.append("batcher not running")
    if not redis_ok and svc.settings.server.ready_requires_redis:
        problems.append("redis unreachable")
    response = ok(Readiness(
        ready=not problems, problems=problems, model_version=model.version if model else None,
        providers=model.providers if model else None,
        redis="ok" if redis_ok else "unreachable", redis_breaker=svc.store.breaker.state,
    ))  # fmt: skip
    response.status_code = 200 if not problems else 503
    return response


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"description": "Prometheus text format", "content": PROMETHEUS}, **KEY_ERRORS},
)
async def metrics(request: Request) -> Response:
    svc: ServiceState = request.app.state.svc
    if svc.settings.auth.protect_metrics:
        authorize(request, svc.settings.auth)
    return Response(svc.metrics.exposition(), media_type=CONTENT_TYPE)
