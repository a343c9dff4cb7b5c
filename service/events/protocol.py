"""Wire shapes of ``POST /events`` (decoding, answers and the OpenAPI schema).

Two kinds of event: behaviour (what a user read or clicked: their history in Redis, what
/rank scores against) and ad outcomes (what happened to an ad /rank ranked: counted in the
Prometheus metrics, and per experiment arm in Redis — docs/experiments.md). Rules across
fields (at least one of either, a value only on a conversion) are checked in the router and
written into the schema by service.openapi.
"""

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

EVENTS_EXAMPLE: dict[str, Any] = {
    "events": [
        {
            "user_id": "u-1842",
            "item_id": "item-77",
            "text": "Best trail running shoes of the year",
            "type": "click",
            "ts": 1763900000,
        }
    ],
    "outcomes": [
        {"request_id": "req-7f3a", "ad_id": "ad-1001", "type": "impression", "ts": 1763900000},
        {"request_id": "req-7f3a", "ad_id": "ad-1001", "type": "click", "ts": 1763900004},
        {
            "request_id": "req-7f3a",
            "ad_id": "ad-1001",
            "type": "conversion",
            "user_id": "u-1842",
            "ts": 1763903600,
            "value": 49.9,
        },
    ],
}

OutcomeType = Literal["impression", "click", "conversion"]
OUTCOME_TYPES: tuple[OutcomeType, ...] = ("impression", "click", "conversion")


class Event(Struct, gc=False):
    user_id: Annotated[str, Meta(min_length=1)]
    item_id: Annotated[str, Meta(min_length=1)]
    text: Annotated[str, Meta(min_length=1, description="title of what the user saw")]
    type: Annotated[str, Meta(max_length=32, description="click, view, …")] = "click"
    ts: Annotated[float, Meta(ge=0, description="unix seconds; now when absent")] | None = None


MAX_VALUE = 1e9
VALUE_DOC = "what the conversion was worth, in currency units; conversions only"
REVENUE_DOC = ("what the platform earned from this outcome (a cpc click's price, a cpa "
               "conversion's price, a cpm price / 1000 on an impression): summed per arm")


class Outcome(Struct, gc=False):
    request_id: Annotated[str, Meta(min_length=1, description="the request_id /rank answered "
                                    "with")]  # fmt: skip
    ad_id: Annotated[str, Meta(min_length=1)]
    type: OutcomeType
    user_id: Annotated[str, Meta(min_length=1)] | None = None
    ts: Annotated[float, Meta(ge=0, description="unix seconds")] | None = None
    # bounded so one stray value cannot push the running total to +Inf for good
    value: Annotated[float, Meta(ge=0, le=MAX_VALUE, description=VALUE_DOC)] | None = None
    revenue: Annotated[float, Meta(ge=0, le=MAX_VALUE, description=REVENUE_DOC)] | None = None


class EventsRequest(Struct):
    events: list[Event] = []
    outcomes: Annotated[list[Outcome], Meta(description="what happened to ads /rank ranked: "
                                            "counted in /metrics and per experiment arm in "
                                            "Redis")] = []  # fmt: skip


class EventsResponse(Struct):
    model_version: str
    accepted: Annotated[int, Meta(description="behaviour events applied")]
    users: int
    outcomes: Annotated[int, Meta(description="outcomes counted")]
    attributed: Annotated[int, Meta(description="outcomes whose experiment arm was found "
                                    "(by request id, else by user id)")] = 0  # fmt: skip


DECODER = msgspec.json.Decoder(EventsRequest)
