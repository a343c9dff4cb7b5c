"""Wire shapes of ``POST /events`` (decoding, answers and the OpenAPI schema)."""

from typing import Annotated, Any

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
    ]
}


class Event(Struct, gc=False):
    user_id: Annotated[str, Meta(min_length=1)]
    item_id: Annotated[str, Meta(min_length=1)]
    text: Annotated[str, Meta(min_length=1, description="title of what the user saw")]
    type: Annotated[str, Meta(max_length=32, description="click, view, …")] = "click"
    ts: Annotated[float, Meta(ge=0, description="unix seconds; now when absent")] | None = None


class EventsRequest(Struct):
    events: Annotated[list[Event], Meta(min_length=1)]


class EventsResponse(Struct):
    model_version: str
    accepted: int
    users: int


DECODER = msgspec.json.Decoder(EventsRequest)
