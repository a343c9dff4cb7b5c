"""``POST /rank``: parse, check limits, call the service, return its bytes."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.auth import authorize
from service.http import (
    ERRORS,
    answers,
    json_body,
    json_response,
    read_body,
    request_id,
    watch_disconnect,
)
from service.rank.parsing import parse_rank
from service.state import ServiceState

router = APIRouter(tags=["ranking"])


@router.post(
    "/rank",
    summary="Rank candidate ads for a user",
    responses={**answers("RankResponse", "the ads in rank order"), **ERRORS},
    openapi_extra=json_body("RankRequest"),
)
async def rank(request: Request) -> Response:
    """Ranks by eCPM (bid × pCTR × 1000) when bids are given, else by pCTR."""
    svc: ServiceState = request.app.state.svc
    authorize(request, svc.settings.auth)
    body = await read_body(request, svc.settings.limits.max_body_bytes)
    req = parse_rank(body, svc.settings.limits)
    rid = request_id(request, req.request_id)
    gone = watch_disconnect(request)
    try:
        return json_response(await request.app.state.rank.rank(req, rid, gone))
    finally:
        gone.cancel()
