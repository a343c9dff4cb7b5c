"""``POST /rank``: parse, check limits, call the service, return its bytes."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.openapi import ERRORS, answers, json_body
from service.rank.parsing import parse_rank
from service.server.requests import accept, json_response, request_id, watch_disconnect

router = APIRouter(tags=["ranking"])


@router.post(
    "/rank",
    summary="Rank candidate ads for a user",
    responses={**answers("RankResponse", "the ads in rank order"), **ERRORS},
    openapi_extra=json_body("RankRequest"),
)
async def rank(request: Request) -> Response:
    """Ranks by eCPM (bid × pCTR × 1000) when bids are given, else by pCTR."""
    svc, body = await accept(request)
    req = parse_rank(body, svc.settings.limits)
    rid = request_id(request, req.request_id)
    gone = watch_disconnect(request)
    try:
        return json_response(await request.app.state.rank.rank(req, rid, gone))
    finally:
        gone.cancel()
