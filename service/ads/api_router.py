"""``PUT /ads``."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.ads.protocol import DECODER
from service.openapi import ERRORS, answers, json_body
from service.server.requests import accept, check_count, check_text, decode, ok, request_id

router = APIRouter(tags=["catalog"])


@router.put(
    "/ads",
    summary="Upsert ads (text → vector, stored for the current model)",
    responses={**answers("AdsResponse"), **ERRORS},
    openapi_extra=json_body("AdsRequest"),
)
async def put_ads(request: Request) -> Response:
    svc, body = await accept(request)
    req = decode(DECODER, body)
    request_id(request, None)
    limits = svc.settings.limits
    check_count("ads", len(req.ads), limits.max_ads)
    for i, ad in enumerate(req.ads):
        check_text(f"ads.{i}.ad_id", ad.ad_id, limits.max_id_chars)
        for name in ("title", "description", "category"):
            check_text(f"ads.{i}.{name}", getattr(ad, name), limits.max_text_chars)
    return ok(await request.app.state.ads.upsert(req))
