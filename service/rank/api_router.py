"""``POST /rank``: parse, check limits, call the service, return its bytes."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.auth import authorize
from service.http import (
    check_count,
    check_text,
    json_body,
    json_response,
    parse,
    read_body,
    request_id,
    watch_disconnect,
)
from service.rank.protocol import RankRequest, RankResponse
from service.settings import LimitSettings
from service.state import ServiceState

router = APIRouter(tags=["ranking"])

ERRORS = {
    401: {"description": "no API key"},
    403: {"description": "wrong API key"},
    413: {"description": "body or candidate list too large"},
    422: {"description": "invalid request; the message names the field"},
    503: {"description": "overloaded, past the deadline, or not ready; see Retry-After"},
}


@router.post(
    "/rank",
    summary="Rank candidate ads for a user",
    response_model=RankResponse,
    responses=ERRORS,  # type: ignore[arg-type]
    openapi_extra=json_body(RankRequest),
)
async def rank(request: Request) -> Response:
    """Ranks by eCPM (bid × pCTR × 1000) when bids are given, else by pCTR."""
    svc: ServiceState = request.app.state.svc
    authorize(request, svc.settings.auth)
    req = parse(RankRequest, await read_body(request, svc.settings.limits.max_body_bytes))
    rid = request_id(request, req.request_id)
    check_rank_limits(req, svc.settings.limits)
    gone = watch_disconnect(request)
    try:
        return json_response(await request.app.state.rank.rank(req, rid, gone))
    finally:
        gone.cancel()


def check_rank_limits(req: RankRequest, limits: LimitSettings) -> None:
    check_count("candidates", len(req.candidates), limits.max_candidates)
    check_text("user_id", req.user_id, limits.max_id_chars)
    for i, c in enumerate(req.candidates):
        check_text(f"candidates.{i}.ad_id", c.ad_id, limits.max_id_chars)
        if c.title is not None or c.description is not None or c.category is not None:
            for name in ("title", "description", "category"):
                check_text(f"candidates.{i}.{name}", getattr(c, name), limits.max_text_chars)
