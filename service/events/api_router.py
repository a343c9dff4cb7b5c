"""``POST /events``."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.errors import InvalidRequest
from service.events.protocol import DECODER, Event, EventsRequest, Outcome
from service.openapi import ERRORS, answers, json_body
from service.server.requests import accept, check_count, check_text, decode, ok, request_id
from service.settings import LimitSettings

router = APIRouter(tags=["behaviour"])


@router.post(
    "/events",
    summary="Record behaviour events (the next /rank sees them) and ad outcomes (counted)",
    responses={**answers("EventsResponse"), **ERRORS},
    openapi_extra=json_body("EventsRequest"),
)
async def post_events(request: Request) -> Response:
    svc, body = await accept(request)
    req = decode(DECODER, body)
    request_id(request, None)
    check_request(req, svc.settings.limits)
    return ok(await request.app.state.events.apply(req))


def check_request(req: EventsRequest, limits: LimitSettings) -> None:
    """The limits of the settings and the rules across fields the decoder cannot check."""
    if not req.events and not req.outcomes:
        raise InvalidRequest("body: give at least one event (events) or outcome (outcomes)")
    check_events(req.events, limits)
    check_outcomes(req.outcomes, limits)


def check_events(events: list[Event], limits: LimitSettings) -> None:
    check_count("events", len(events), limits.max_events)
    for i, e in enumerate(events):
        check_text(f"events.{i}.user_id", e.user_id, limits.max_id_chars)
        check_text(f"events.{i}.item_id", e.item_id, limits.max_id_chars)
        check_text(f"events.{i}.text", e.text, limits.max_text_chars)


def check_outcomes(outcomes: list[Outcome], limits: LimitSettings) -> None:
    """Outcomes are events too: ``max_events`` bounds them. A value belongs to a conversion
    only (a value on a click is a caller bug that would inflate the conversion value)."""
    check_count("outcomes", len(outcomes), limits.max_events)
    for i, o in enumerate(outcomes):
        check_text(f"outcomes.{i}.request_id", o.request_id, limits.max_id_chars)
        check_text(f"outcomes.{i}.ad_id", o.ad_id, limits.max_id_chars)
        check_text(f"outcomes.{i}.user_id", o.user_id, limits.max_id_chars)
        if o.value is not None and o.type != "conversion":
            raise InvalidRequest(f"outcomes.{i}.value: only a conversion has a value, not "
                                 f"a {o.type}")  # fmt: skip
