"""``POST /events``."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.events.protocol import DECODER
from service.openapi import ERRORS, answers, json_body
from service.server.requests import accept, check_count, check_text, decode, ok, request_id

router = APIRouter(tags=["behaviour"])


@router.post(
    "/events",
    summary="Record behaviour events (the next /rank sees them)",
    responses={**answers("EventsResponse"), **ERRORS},
    openapi_extra=json_body("EventsRequest"),
)
async def post_events(request: Request) -> Response:
    svc, body = await accept(request)
    req = decode(DECODER, body)
    request_id(request, None)
    limits = svc.settings.limits
    check_count("events", len(req.events), limits.max_events)
    for i, e in enumerate(req.events):
        check_text(f"events.{i}.user_id", e.user_id, limits.max_id_chars)
        check_text(f"events.{i}.item_id", e.item_id, limits.max_id_chars)
        check_text(f"events.{i}.text", e.text, limits.max_text_chars)
    return ok(await request.app.state.events.apply(req))
