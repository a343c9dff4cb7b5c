"""``POST /admin/reload`` (admin key)."""

from pathlib import Path

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.admin.protocol import DECODER, ReloadRequest, ReloadResponse
from service.openapi import ERRORS, answers, json_body
from service.server.requests import accept, decode, ok, request_id

router = APIRouter(tags=["admin"])

REFUSED = "invalid request, or the bundle refused (bundle_rejected: missing, unverifiable or "
REFUSED += "broken; the old model serves)"
RESPONSES = {**answers("ReloadResponse", "the new model serves"), **ERRORS,
             422: {**ERRORS[422], "description": REFUSED}}  # fmt: skip


@router.post(
    "/admin/reload",
    summary="Load and warm a bundle beside the current one, then swap",
    responses=RESPONSES,
    openapi_extra=json_body("ReloadRequest", required=False),
)
async def reload(request: Request) -> Response:
    """An empty body reloads the configured bundle. A broken bundle is refused (422
    bundle_rejected) and the current model keeps serving."""
    svc, body = await accept(request, admin=True, limit=64 * 1024)
    req = decode(DECODER, body) if body else ReloadRequest()
    request_id(request, None)
    previous = svc.holder.loaded
    path = Path(req.bundle_path) if req.bundle_path else svc.settings.model.bundle_path
    model = await svc.holder.load(path)
    return ok(ReloadResponse(model.version, previous.version if previous else None,
                             round(model.load_s, 3), model.providers))  # fmt: skip
