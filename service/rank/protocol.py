"""Wire shapes of ``POST /rank``: the one definition that parses requests, builds answers and
documents both (the OpenAPI schema is generated from these structs, see service.openapi).

msgspec decodes JSON straight into these structs, checking exact JSON types and every
constraint in one pass; what it refuses is a 422 naming the field. Limits that come from the
settings (id and text lengths, candidate count) are checked after decoding and written into
the schema by service.openapi.
"""

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from service.ads.protocol import PRICE_DOC

Id = Annotated[str, Meta(min_length=1)]
ContextValue = str | int | float | bool | None

# context fields with a range; any other key, and any value of a categorical field, is
# accepted (new values appear every day and score as unseen)
CONTEXT_RANGES: dict[str, tuple[int, int | None]] = {
    "hour": (0, 23), "weekday": (0, 6), "position": (1, None),
}  # fmt: skip


def _in_range(low: int, high: int | None) -> dict[str, Any]:
    """An integer in [low, high], or null (absent, as for any context value)."""
    bounds = {"minimum": low} if high is None else {"minimum": low, "maximum": high}
    return {"anyOf": [{"type": "integer", **bounds}, {"type": "null"}]}


CONTEXT_SCHEMA = {
    "properties": {name: _in_range(*span) for name, span in CONTEXT_RANGES.items()},
    "description": "hour (0–23, UTC when absent: from the request time), weekday (0–6, "
    "Monday = 0), position (1-based slot position), device, slot, user attributes, … "
    "Unknown keys and unseen values are accepted and read as unknown by the model.",
}

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
            "price": 89.9,
        },
    ],
    "top_k": 2,
    "timeout_ms": 50,
    "explain": True,
}


BidType = Literal["cpm", "cpc", "cpa"]
BID_TYPES: tuple[BidType, ...] = ("cpm", "cpc", "cpa")  # codes 0, 1, 2 in RankInput.bid_types
BID_TYPE_DOC = (
    "cpm: per 1,000 impressions (eCPM = bid); cpc, the default: per click (eCPM = bid × p_ctr "
    "× 1000); cpa: per conversion (eCPM = bid × p_ctr × p_cvr × 1000; needs a model with a "
    "conversion head). One auction mixes them; the type prices the bid, unused without one."
)


class Candidate(Struct, gc=False):  # holds no containers: never in a cycle
    ad_id: Id
    bid: Annotated[float, Meta(ge=0, description="what the advertiser pays, per bid_type; on "
                                "all candidates or on none")] | None = None  # fmt: skip
    bid_type: Annotated[BidType, Meta(description=BID_TYPE_DOC)] = "cpc"
    title: Annotated[str, Meta(description="needed only when the ad is not known yet")] | None = (
        None
    )
    description: str | None = None
    category: str | None = None
    price: Annotated[float, Meta(ge=0, description=PRICE_DOC + "; read with the text of a new "
                                 "ad")] | None = None  # fmt: skip


class RankRequest(Struct, gc=False):  # nothing refers back to it: never in a cycle
    user_id: Id
    candidates: Annotated[list[Candidate], Meta(min_length=1)]
    request_id: Annotated[str, Meta(max_length=128)] | None = None
    context: Annotated[dict[str, ContextValue], Meta(extra_json_schema=CONTEXT_SCHEMA)] = {}
    # an integer by JSON Schema's rule (3 or 3.0: service.openapi says integer); parse_rank
    # refuses 2.5
    top_k: Annotated[float, Meta(ge=1, description="return only the best k")] | None = None
    timeout_ms: Annotated[float, Meta(gt=0, description="the caller's deadline (like "
                                      "OpenRTB tmax)")] | None = None  # fmt: skip
    explain: Annotated[bool, Meta(description="per ad, the behaviour items that weighed "
                                  "most")] = False  # fmt: skip


class ExplanationItem(Struct, gc=False):
    item_id: str
    weight: float


RankedBy = Literal["p_ctr", "cpm", "cpc", "cpa"]
P_CVR_DOC = "predicted conversion probability of a click, where the model has a conversion head"


class RankedAd(Struct, kw_only=True, omit_defaults=True, gc=False):
    ad_id: str
    rank: int
    p_ctr: float
    source: Annotated[Literal["model", "prior"], Meta(
        description="model, or prior when the ad has no vector yet")]  # fmt: skip
    ranked_by: Annotated[RankedBy, Meta(
        description="p_ctr without bids, else the eCPM formula of the ad's bid_type")]  # fmt: skip
    ecpm: Annotated[float, Meta(description="expected revenue per 1,000 impressions, when bids "
                                "were given")] | None = None  # fmt: skip
    p_cvr: Annotated[float, Meta(description=P_CVR_DOC)] | None = None
    explanation: Annotated[list[ExplanationItem], Meta(
        description="when explain was asked")] | None = None  # fmt: skip


class RankMetrics(Struct, gc=False):
    total_ms: float
    redis_ms: float
    encode_ms: float
    queue_ms: float
    score_ms: float
    batch_size: Annotated[int, Meta(description="requests scored in the same ranker call")]
    ad_cache_hits: int
    ad_cache_misses: int
    user_found: bool


DegradedReason = Literal[
    "redis_unavailable", "encoder_deadline", "encoder_overloaded", "encoder_unavailable"
]


class RankResponse(Struct, gc=False):
    request_id: str
    model_version: Annotated[str, Meta(description="the arm's bundle version; a blend's "
                                       "parts' versions joined by +")]  # fmt: skip
    arm: Annotated[str, Meta(description="the experiment arm that ranked (docs/experiments.md)")]
    ranked: list[RankedAd]
    metrics: RankMetrics
    degraded: Annotated[bool, Meta(description="a fallback answered for part of the work")]
    degraded_reasons: list[DegradedReason]


DECODER = msgspec.json.Decoder(RankRequest)
ENCODER = msgspec.json.Encoder()
