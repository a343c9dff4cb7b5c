"""``POST /events``."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.auth import authorize
from service.events.protocol import DECODER
from service.http import (
    ERRORS,
    answers,
    check_count,
    check_text,
    decode,
    json_body,
    ok,
    read_body,
    request_id,
)
from service.state import ServiceState

router = APIRouter(tags=["behaviour"])


@router.post(
    "/events",
    summary="Record behaviour events (the next /rank sees them)",
    responses={**answers("EventsResponse"), **ERRORS},
    openapi_extra=json_body("EventsRequest"),
)
async def post_events(request: Request) -> Response:
    svc: ServiceState = request.app.state.svc
    authorize(request, svc.settings.auth)
    req = decode(DECODER, await read_body(request, svc.settings.limits.max_body_bytes))
    request_id(request, None)
    limits = svc.settings.limits
    check_count("events", len(req.events), limits.max_events)
    for i, e in enumerate(req.events):
        check_text(f"events.{i}.user_id", e.user_id, limits.max_id_chars)
        check_text(f"events.{i}.item_id", e.item_id, limits.max_id_chars)
        check_text(f"events.{i}.text", e.text, limits.max_text_chars)
    return ok(await request.app.state.events.apply(req))
