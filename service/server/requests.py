"""What the routes share: the preamble (key, bounded body), decoding with errors that name
the field, limits, request ids, the disconnect watch, JSON answers."""

import asyncio
import itertools
import re
import uuid
from typing import Any, TypeVar

import msgspec
from fastapi import Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from service.auth import authorize
from service.errors import REQUEST_ID_HEADER, InvalidRequest, PayloadTooLarge
from service.service_state import ServiceState

T = TypeVar("T")
_INDEX = re.compile(r"\[(\d+)\]")
_MISSING = re.compile(r"Object missing required field `(.+)`")


async def accept(
    request: Request, admin: bool = False, limit: int | None = None
) -> tuple[ServiceState, bytes]:
    """What every JSON route does first: check the API key, read the body within its limit."""
    svc: ServiceState = request.app.state.svc
    authorize(request, svc.settings.auth, admin=admin)
    return svc, await read_body(request, limit or svc.settings.limits.max_body_bytes)


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


def decode(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    """Decode and validate a JSON body; errors name the field (``candidates.3.bid: ...``)."""
    if not body:
        raise InvalidRequest("body: a JSON object is required")
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(describe(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"body: not valid JSON ({exc})") from None


def describe(message: str) -> str:
    """msgspec's ``Expected `int`, got `str` - at `$.candidates[3].bid``` as
    ``candidates.3.bid: Expected `int`, got `str```, a missing field named in the path."""
    what, sep, where = message.rpartition(" - at `$")
    if not sep:
        what, where = message, ""
    path = _INDEX.sub(r".\1", where.rstrip("`")).lstrip(".")
    if missing := _MISSING.fullmatch(what):
        path, what = f"{path}.{missing[1]}".lstrip("."), "required field is missing"
    return f"{path or 'body'}: {what}"


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


def ok(data: Any) -> Response:
    """A 200 of ``data``: a wire struct (or plain JSON data)."""
    return json_response(msgspec.json.encode(data))
