"""Request helpers shared by the routes: bounded body reading, fast parsing, the disconnect
watch, and the OpenAPI declaration of bodies that routes parse themselves."""

import asyncio
import itertools
import uuid
from typing import Any, TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from service.errors import REQUEST_ID_HEADER, InvalidRequest, PayloadTooLarge

M = TypeVar("M", bound=BaseModel)
MAX_ERRORS_SHOWN = 5


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than ``limit`` bytes (before reading, when declared)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body: {declared} bytes, the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    while True:  # ASGI messages read directly: Request.stream's async generator costs more
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body: more than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse(model: type[M], body: bytes) -> M:
    """Validate a JSON body; errors name the fields (``candidates.3.bid: ...``)."""
    if not body:
        raise InvalidRequest("body: a JSON object is required")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidRequest(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    if errors and errors[0]["type"] == "json_invalid":
        return f"body: not valid JSON ({errors[0]['msg']})"
    parts = []
    for err in errors[:MAX_ERRORS_SHOWN]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    more = len(errors) - MAX_ERRORS_SHOWN
    return "; ".join(parts) + (f"; and {more} more errors" if more > 0 else "")


def check_count(field: str, n: int, limit: int) -> None:
    if n > limit:
        raise PayloadTooLarge(f"{field}: {n} items, the limit is {limit}")


def check_text(field: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise InvalidRequest(f"{field}: {len(value)} characters, the limit is {limit}")


_ID_PREFIX = uuid.uuid4().hex[:8]
_ids = itertools.count(1)


def request_id(request: Request, from_body: str | None) -> str:
    """The client's id (body, then header), else a new one (cheaper than a uuid4 each)."""
    rid = from_body or request.headers.get(REQUEST_ID_HEADER) or f"{_ID_PREFIX}-{next(_ids):x}"
    request.state.request_id = rid
    return rid


def watch_disconnect(request: Request) -> asyncio.Future[Any]:
    """A task that completes when the client disconnects (cancel it when done).

    The body has been read, so the next ASGI ``receive`` returns only at disconnect.
    """
    return asyncio.ensure_future(request.receive())


def json_response(body: bytes, status: int = 200) -> Response:
    return Response(body, status, media_type="application/json")


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` declaring a JSON body of ``model`` (its schema is registered by the
    app factory), for routes that parse their body themselves."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def ok(data: Any) -> Response:
    return json_response(orjson.dumps(data))
