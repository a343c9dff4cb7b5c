"""Wire models of ``PUT /ads``."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

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


class Ad(BaseModel):
    ad_id: Annotated[str, Field(min_length=1)]
    title: Annotated[str, Field(min_length=1)]
    description: str = ""
    category: str = ""


class AdsRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ADS_EXAMPLE]})

    ads: list[Ad] = Field(min_length=1)


class AdsResponse(BaseModel):
    model_version: str
    stored: int
    encode_ms: float
