"""Wire models of ``POST /rank`` (validation of requests; the documented response shape)."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Id = Annotated[str, Field(min_length=1)]
ContextValue = str | int | float | bool | None

RANK_EXAMPLE: dict[str, Any] = {
    "user_id": "u-1842",
    "request_id": "req-7f3a",
    "context": {"device": "mobile", "slot": "feed", "hour": 20},
    "candidates": [
        {"ad_id": "ad-1001", "bid": 1.2},
        {"ad_id": "ad-2002", "bid": 0.8},
        {
            "ad_id": "ad-new-1",
            "bid": 2.0,
            "title": "Trail running shoes",
            "description": "Light, waterproof, made for mud",
            "category": "Sport",
        },
    ],
    "top_k": 2,
    "timeout_ms": 50,
    "explain": True,
}


class Candidate(BaseModel):
    ad_id: Id
    bid: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description="price per mille"
    )
    title: str | None = Field(default=None, description="needed only when the ad is not known yet")
    description: str | None = None
    category: str | None = None


class RankRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [RANK_EXAMPLE]})

    user_id: Id
    request_id: str | None = Field(default=None, max_length=128)
    context: dict[str, ContextValue] = Field(
        default_factory=dict, description="hour, weekday, device, slot, user attributes, …"
    )
    candidates: list[Candidate] = Field(min_length=1)
    top_k: int | None = Field(default=None, ge=1, description="return only the best k")
    timeout_ms: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="the caller's deadline (like OpenRTB tmax)",
    )
    explain: bool = Field(
        default=False, description="per ad, the behaviour items that weighed most"
    )


class ExplanationItem(BaseModel):
    item_id: str
    weight: float


class RankedAd(BaseModel):
    ad_id: str
    rank: int
    p_ctr: float
    ecpm: float | None = Field(default=None, description="bid × p_ctr × 1000, when a bid was given")
    source: str = Field(description="model, or prior when the ad has neither vector nor text")
    explanation: list[ExplanationItem] | None = None


class RankMetrics(BaseModel):
    total_ms: float
    redis_ms: float
    encode_ms: float
    queue_ms: float
    score_ms: float
    batch_size: int = Field(description="requests scored in the same ranker call")
    ad_cache_hits: int
    ad_cache_misses: int
    user_found: bool


class RankResponse(BaseModel):
    request_id: str
    model_version: str
    ranked: list[RankedAd]
    metrics: RankMetrics
    degraded: bool
    degraded_reasons: list[str] = Field(default_factory=list)
