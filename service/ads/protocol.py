"""Wire shapes of ``PUT /ads`` (decoding, answers and the OpenAPI schema, see service.openapi)."""

from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

PRICE_DOC = (
    "what a conversion costs the buyer (the order value, in the currency of the training "
    "data); a model trained with prices reads it beside the text, others ignore it"
)

ADS_EXAMPLE: dict[str, Any] = {
    "ads": [
        {
            "ad_id": "ad-1001",
            "title": "Trail running shoes",
            "description": "Light, waterproof, made for mud",
            "category": "Sport",
            "price": 89.9,
        },
        {"ad_id": "ad-2002", "title": "Espresso machine", "category": "Kitchen"},
    ]
}


class Ad(Struct, gc=False):
    ad_id: Annotated[str, Meta(min_length=1)]
    title: Annotated[str, Meta(min_length=1)]
    description: str = ""
    category: str = ""
    price: Annotated[float, Meta(ge=0, description=PRICE_DOC)] | None = None


class AdsRequest(Struct):
    ads: Annotated[list[Ad], Meta(min_length=1)]


class AdsResponse(Struct):
    model_version: str
    stored: int
    encode_ms: float


DECODER = msgspec.json.Decoder(AdsRequest)
