"""``POST /ads/{ad_id}/variants`` and ``GET /ads/{ad_id}/variants/{job_id}`` (admin key)."""

from urllib.parse import quote

import msgspec
from fastapi import APIRouter, Request
from starlette.responses import Response

from service.copy.protocol import DECODER, JobAccepted, VariantsRequest
from service.errors import InvalidRequest
from service.openapi import ERRORS, answers, json_body, json_content
from service.rank.parsing import check_context
from service.server.requests import accept, check_count, check_text, decode, ok, request_id
from service.settings import LimitSettings

router = APIRouter(tags=["ad copy"])

NOT_FOUND = {"description": "unknown ad (no stored text, no title given) or job",
             "content": json_content("ErrorBody")}  # fmt: skip
UNAVAILABLE = {**ERRORS[503], "description": "copy_queue_full (queued + running jobs at "
               "variants.max_jobs) or copy_unavailable (jobs off, or the copy extra is not "
               "installed); see Retry-After"}  # fmt: skip
ACCEPTED = {"description": "the job is queued; poll status_url", "content":
            json_content("JobAccepted"), "headers": {"Location": {
                "description": "the job's status_url", "schema": {"type": "string"}}}}  # fmt: skip


@router.post(
    "/ads/{ad_id}/variants",
    status_code=202,
    summary="Start a job: variants of the ad's copy, checked and scored for an audience",
    responses={202: ACCEPTED, **ERRORS, 404: NOT_FOUND, 503: UNAVAILABLE},
    openapi_extra=json_body("VariantsRequest", required=False),
)
async def post_variants(request: Request, ad_id: str) -> Response:
    """Generation runs in a separate worker process, one job at a time; the answer comes at
    once with the job's id. An empty body takes every default (the ad's stored text)."""
    svc, body = await accept(request, admin=True)
    request_id(request, None)
    req = parse_variants(body, svc.settings.limits)
    job = await request.app.state.variants.submit(ad_id, req)
    url = f"/ads/{quote(ad_id, safe='')}/variants/{job.job_id}"
    accepted = JobAccepted(job.job_id, job.state, url)
    return Response(msgspec.json.encode(accepted), 202, headers={"Location": url},
                    media_type="application/json")  # fmt: skip


@router.get(
    "/ads/{ad_id}/variants/{job_id}",
    summary="A variants job: its state and, when done, the scored variants",
    responses={**answers("JobStatus"), 401: ERRORS[401], 403: ERRORS[403], 404: NOT_FOUND},
)
async def get_variants(request: Request, ad_id: str, job_id: str) -> Response:
    """Finished jobs are kept ``variants.keep_seconds`` (and at most ``variants.keep_jobs``),
    in memory: then, or after a restart, the job is a 404."""
    await accept(request, admin=True, limit=1024)
    request_id(request, None)
    return ok(request.app.state.variants.status(ad_id, job_id))


def parse_variants(body: bytes, limits: LimitSettings) -> VariantsRequest:
    """The body decoded, checked against the settings' limits (the schema carries them too)
    and the context's ranges, its whole numbers as ints."""
    req = decode(DECODER, body) if body else VariantsRequest()
    variants = whole("variants", req.variants, limits.max_variants)
    audience = req.audience
    users, sample = audience.user_ids, audience.sample
    if isinstance(users, list) and isinstance(sample, float | int):
        raise InvalidRequest("audience: give sample or user_ids, not both")
    if isinstance(users, list):
        check_count("audience.user_ids", len(users), limits.max_audience_users)
        for i, user_id in enumerate(users):
            check_text(f"audience.user_ids.{i}", user_id, limits.max_id_chars)
    if isinstance(sample, float | int):
        sample = whole("audience.sample", sample, limits.max_audience_users)
        audience = msgspec.structs.replace(audience, sample=sample)
    for name in ("title", "description", "category"):
        value = getattr(req, name)
        check_text(name, value if isinstance(value, str) else None, limits.max_text_chars)
    check_context(req.context)
    seed = whole("seed", req.seed, 2**31 - 1)
    return msgspec.structs.replace(req, variants=variants, seed=seed, audience=audience)


def whole(field: str, value: float, limit: int) -> int:
    if value != int(value):
        raise InvalidRequest(f"{field}: {value!r} is not an integer")
    if value > limit:
        raise InvalidRequest(f"{field}: {value:g}, the limit is {limit}")
    return int(value)
