"""Wire shapes of ``POST /ads/{ad_id}/variants`` and ``GET /ads/{ad_id}/variants/{job_id}``."""

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from service.rank.protocol import CONTEXT_SCHEMA, ContextValue

Text = Annotated[str, Meta(min_length=1)]
JobState = Literal["queued", "running", "done", "failed"]

VARIANTS_EXAMPLE: dict[str, Any] = {
    "variants": 8,
    "seed": 7,
    "audience": {"sample": 200},
    "context": {"device": "mobile", "hour": 20},
}


class AudienceSpec(Struct, forbid_unknown_fields=True):
    """Who the variants are scored for: a sample of the users Redis holds, or given users
    (one of the two; none = a sample of ``variants.audience_sample`` users)."""

    sample: Annotated[float, Meta(ge=1, description="users sampled from Redis")] | UnsetType = UNSET
    user_ids: Annotated[list[Text], Meta(min_length=1, description="these users")] | UnsetType = (
        UNSET
    )


class VariantsRequest(Struct, forbid_unknown_fields=True):
    # integers by JSON Schema's rule (8 or 8.0: service.openapi says integer); the route
    # refuses 2.5 and hands on ints
    variants: Annotated[float, Meta(ge=1, description="variants to generate")] = 8
    seed: Annotated[float, Meta(ge=0, le=2**31 - 1, description="the generator's seed: "
                                "the same seed, ad and generator give the same "
                                "variants")] = 0  # fmt: skip
    audience: AudienceSpec = msgspec.field(default_factory=AudienceSpec)
    context: Annotated[dict[str, ContextValue], Meta(extra_json_schema=CONTEXT_SCHEMA)] = {}
    title: Annotated[Text, Meta(description="the ad's title; none = the text PUT /ads "
                                "stored")] | UnsetType = UNSET  # fmt: skip
    description: str | UnsetType = UNSET
    category: str | UnsetType = UNSET


class JobAccepted(Struct):
    job_id: str
    status: JobState
    status_url: str


class ScoredCopy(Struct, kw_only=True):
    title: str
    description: str
    mean_pctr: Annotated[float, Meta(description="mean predicted CTR over the audience")]
    uplift: Annotated[float, Meta(description="mean_pctr over the original's, minus 1")]
    spread: Annotated[float, Meta(description="standard deviation over the audience of the "
                                  "per-user uplift (a user's pCTR ratio minus 1)")]  # fmt: skip
    uplift_p10: Annotated[float, Meta(description="10th percentile of the per-user uplift")]
    uplift_p90: Annotated[float, Meta(description="90th percentile of the per-user uplift")]
    share_better: Annotated[float, Meta(description="share of the audience for whom it beats "
                                        "the original")]  # fmt: skip


class DroppedCopy(Struct):
    title: str
    description: str
    reasons: Annotated[list[str], Meta(description="the checks it failed (fact_missing:…, "
                                       "new_claim:…, unsafe, too_long:…, duplicate)")]  # fmt: skip


class Timings(Struct):
    queued_ms: float
    generate_ms: float
    check_ms: float
    score_ms: float
    total_ms: float


class VariantsResult(Struct, kw_only=True):
    generator: str
    model_version: str
    audience_users: Annotated[int, Meta(description="users scored")]
    audience_skipped: Annotated[int, Meta(description="users asked for that have no behaviour "
                                          "stored for the model")]  # fmt: skip
    original: ScoredCopy
    variants: Annotated[list[ScoredCopy], Meta(description="kept variants, best first")]
    dropped: list[DroppedCopy]
    timings: Timings


class JobStatus(Struct, kw_only=True, omit_defaults=True):
    job_id: str
    ad_id: str
    status: JobState
    created_at: Annotated[float, Meta(description="unix seconds")]
    result: Annotated[VariantsResult, Meta(description="when done")] | None = None
    error: Annotated[str, Meta(description="when failed")] | None = None


DECODER = msgspec.json.Decoder(VariantsRequest)
