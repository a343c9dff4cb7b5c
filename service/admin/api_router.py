"""``POST /admin/reload`` (admin key)."""

from pathlib import Path

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from service.auth import authorize
from service.http import json_body, ok, parse, read_body, request_id
from service.rank.api_router import ERRORS
from service.state import ServiceState

router = APIRouter(tags=["admin"])


class ReloadRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"bundle_path": "models/v2"}]})

    bundle_path: str | None = Field(
        default=None, description="bundle directory; none = the configured one"
    )


class ReloadResponse(BaseModel):
    model_version: str
    previous_version: str | None
    load_s: float
    providers: dict[str, list[str]]


@router.post(
    "/admin/reload",
    summary="Load and warm a bundle beside the current one, then swap",
    response_model=ReloadResponse,
    responses=ERRORS,  # type: ignore[arg-type]
    openapi_extra=json_body(ReloadRequest),
)
async def reload(request: Request) -> Response:
    """A broken bundle is refused (422 bundle_rejected) and the current model keeps serving."""
    svc: ServiceState = request.app.state.svc
    authorize(request, svc.settings.auth, admin=True)
    body = await read_body(request, 64 * 1024)
    req = parse(ReloadRequest, body) if body.strip() else ReloadRequest()
    request_id(request, None)
    previous = svc.holder.loaded
    path = Path(req.bundle_path) if req.bundle_path else svc.settings.model.bundle_path
    model = await svc.holder.load(path)
    return ok(
        {
            "model_version": model.version,
            "previous_version": previous.version if previous else None,
            "load_s": round(model.load_s, 3),
            "providers": model.providers,
        }
    )
