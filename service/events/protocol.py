"""Wire models of ``POST /events``."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

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


class Event(BaseModel):
    user_id: Annotated[str, Field(min_length=1)]
    item_id: Annotated[str, Field(min_length=1)]
    text: Annotated[str, Field(min_length=1, description="title of what the user saw")]
    type: str = Field(default="click", max_length=32, description="click, view, …")
    ts: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description="unix seconds; now when absent"
    )


class EventsRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EVENTS_EXAMPLE]})

    events: list[Event] = Field(min_length=1)


class EventsResponse(BaseModel):
    model_version: str
    accepted: int
    users: int
