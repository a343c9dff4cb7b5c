"""The service's exceptions, and the one place that turns them into HTTP responses.

    AdrankError                 500 internal_error (a bug: generic message, traceback logged)
    ├── ClientError             4xx, the client can fix its request
    │   ├── InvalidRequest      422 invalid_request
    │   ├── PayloadTooLarge     413 payload_too_large
    │   ├── Unauthorized        401 unauthorized   (no key)
    │   ├── Forbidden           403 forbidden      (a key, but not a valid one for this route)
    │   ├── NotFound            404 not_found      (an unknown ad or variants job)
    │   ├── ClientClosed        499 client_closed  (the caller left; nobody reads the answer)
    │   └── BundleRejected      422 bundle_rejected (/admin/reload of a broken bundle)
    └── Unavailable             503 with Retry-After, the client may retry later
        ├── Overloaded          503 overloaded          (queue full: shed before any work)
        ├── DeadlineExceeded    503 deadline_exceeded   (the caller's timeout_ms cannot be met)
        ├── NotReady            503 not_ready           (model not loaded / warming)
        ├── DependencyDown      503 dependency_down     (a write that needs Redis)
        ├── CopyQueueFull       503 copy_queue_full     (variants jobs queued + running at the cap)
        └── CopyUnavailable     503 copy_unavailable    (variants jobs off or not installed)

Every error response is ``{"error": message, "error_type": type, "request_id": id}``.
"""

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import ClassVar

import msgspec
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"


class ErrorBody(msgspec.Struct):
    """What every error answer holds."""

    error: str
    error_type: str
    request_id: str


class AdrankError(Exception):
    status = 500
    error_type = "internal_error"
    headers: ClassVar[dict[str, str] | None] = None

    def __init__(self, message: str = "internal error", request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id


class ClientError(AdrankError):
    status = 400
    error_type = "bad_request"


class InvalidRequest(ClientError):
    status = 422
    error_type = "invalid_request"


class PayloadTooLarge(ClientError):
    status = 413
    error_type = "payload_too_large"


class Unauthorized(ClientError):
    status = 401
    error_type = "unauthorized"
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


class Forbidden(ClientError):
    status = 403
    error_type = "forbidden"


class NotFound(ClientError):
    status = 404
    error_type = "not_found"


class ClientClosed(ClientError):
    status = 499
    error_type = "client_closed"


class BundleRejected(ClientError):
    status = 422
    error_type = "bundle_rejected"


class Unavailable(AdrankError):
    """503; Retry-After is the given value, else the configured ``batch.retry_after_s``."""

    status = 503
    error_type = "unavailable"

    def __init__(
        self, message: str, request_id: str | None = None, retry_after_s: int | None = None
    ) -> None:
        super().__init__(message, request_id)
        self.retry_after_s = retry_after_s


class Overloaded(Unavailable):
    error_type = "overloaded"


class DeadlineExceeded(Unavailable):
    error_type = "deadline_exceeded"


class NotReady(Unavailable):
    error_type = "not_ready"


class DependencyDown(Unavailable):
    error_type = "dependency_down"


class CopyQueueFull(Unavailable):
    error_type = "copy_queue_full"


class CopyUnavailable(Unavailable):
    error_type = "copy_unavailable"


def request_id_of(request: Request) -> str:
    """The request's id: set by the route once known, else the header, else a new one."""
    rid = getattr(request.state, "request_id", None) or request.headers.get(REQUEST_ID_HEADER)
    if not rid:
        rid = uuid.uuid4().hex
        request.state.request_id = rid
    return rid


def error_response(
    status: int,
    error_type: str,
    message: str,
    request_id: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = orjson.dumps({"error": message, "error_type": error_type, "request_id": request_id})
    return Response(body, status, headers=headers, media_type="application/json")


def _adrank_errors(retry_after_s: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The handler of AdrankError; a 503 says when to retry (the error's own, else the
    settings' ``retry_after_s``)."""

    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AdrankError)
        rid = exc.request_id or request_id_of(request)
        if type(exc) is AdrankError:
            log.error("internal error: %s", exc.message, extra={"request_id": rid})
        headers = exc.headers
        if isinstance(exc, Unavailable):
            headers = {"Retry-After": str(exc.retry_after_s or retry_after_s)}
        return error_response(exc.status, exc.error_type, exc.message, rid, headers)

    return handle


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    message = "; ".join(_describe(e) for e in exc.errors()[:5])
    return error_response(422, "invalid_request", message, request_id_of(request))


def _describe(error: dict) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
    return f"{where}: {error.get('msg', 'invalid')}"


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    headers = exc.headers
    if exc.status_code == 405:  # every method of the path, not only its first route's
        headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
    return error_response(exc.status_code, kind, str(exc.detail), request_id_of(request), headers)


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        if route.matches(request.scope)[0] is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


async def _unexpected(request: Request, exc: Exception) -> Response:
    rid = request_id_of(request)
    log.exception("unhandled %s", type(exc).__name__, extra={"request_id": rid})
    return error_response(500, "internal_error", "internal error", rid)


def install_error_handlers(app: FastAPI, retry_after_s: int = 1) -> None:
    """The one place errors become responses (subclasses share their base's handler)."""
    app.add_exception_handler(AdrankError, _adrank_errors(retry_after_s))
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
