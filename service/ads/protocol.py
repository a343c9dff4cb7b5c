"""Wire shapes of ``PUT /ads`` (decoding, answers and the OpenAPI schema, see service.openapi)."""

from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

ADS_EXAMPLE: dict[str, Any] = {
    "ads": [
        {
            "ad_id": "ad-1001",
            "title": "Trail running shoes",
            "description": "Light, waterproof, made for mud",
            "category": "Sport",
        },
        {"ad_id": "ad-2002", "title": "Espresso machine", "category": "Kitchen"},
    ]
}


class Ad(Struct, gc=False):
    ad_id: Annotated[str, Meta(min_length=1)]
    title: Annotated[str, Meta(min_length=1)]
    description: str = ""
    category: str = ""


class AdsRequest(Struct):
    ads: Annotated[list[Ad], Meta(min_length=1)]


class AdsResponse(Struct):
    model_version: str
    stored: int
    encode_ms: float


DECODER = msgspec.json.Decoder(AdsRequest)
