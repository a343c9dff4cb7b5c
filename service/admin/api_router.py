"""``POST /admin/reload``, ``GET``/``PUT /admin/arms`` (admin key)."""

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from service.admin.protocol import DECODER, ReloadRequest, ReloadResponse
from service.errors import InvalidRequest
from service.experiments.arms import ArmSet
from service.experiments.config import ExperimentSettings
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
    model = await svc.holder.load(Path(req.bundle_path) if req.bundle_path else None)
    return ok(ReloadResponse(model.version, previous.version if previous else None,
                             round(model.load_s, 3), model.providers))  # fmt: skip


ARMS_RESPONSES = {**answers("ExperimentSettings", "the arms being served, each with the "
                            "versions of its bundles"), **ERRORS,
                  422: {**ERRORS[422], "description": REFUSED}}  # fmt: skip


@router.get("/admin/arms", summary="The experiment being served", responses=ARMS_RESPONSES)
async def get_arms(request: Request) -> Response:
    """The experiment's settings as served; each arm also gives ``versions``."""
    svc, _ = await accept(request, admin=True, limit=1024)
    request_id(request, None)
    return ok(arms_answer(svc.holder.arms))


@router.put(
    "/admin/arms",
    summary="Replace the experiment: load every bundle it needs, then swap",
    responses=ARMS_RESPONSES,
    openapi_extra=json_body("ExperimentSettings"),
)
async def put_arms(request: Request) -> Response:
    """The whole experiment (what the body leaves out takes the default). Bundles already
    loaded are shared; a bundle that fails to load is refused (422 bundle_rejected) and the
    running arms keep serving."""
    svc, body = await accept(request, admin=True, limit=64 * 1024)
    request_id(request, None)
    if not body:
        raise InvalidRequest("body: the experiment's settings are required (GET, edit, PUT)")
    try:
        config = ExperimentSettings.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidRequest(_first_error(exc)) from None
    return ok(arms_answer(await svc.holder.apply(config)))


def arms_answer(arms: ArmSet) -> dict[str, Any]:
    answer = arms.config.model_dump(mode="json")
    answer["arms"] = [
        {**settings, "versions": [m.version for m in arm.models]}
        for settings, arm in zip(
            [a.model_dump(mode="json") for a in arms.config.effective_arms()], arms.arms,
            strict=True)
    ]  # fmt: skip
    return answer


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return f"{where}: {err['msg']}"
