"""A pure ASGI middleware: request duration by route and status, and the optional access log.
(Pure ASGI, not BaseHTTPMiddleware: it adds microseconds, not a task per request.)"""

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics import Metrics

access_log = logging.getLogger("adrank.access")

ROUTES = frozenset({"/rank", "/ads", "/events", "/healthz", "/readyz", "/metrics", "/admin/reload"})


class TimingMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, log_requests: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self._record(scope, status[0], time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        path = scope["path"]
        route = path if path in ROUTES else "other"
        self.metrics.request_duration.labels(route, str(status)).observe(seconds)
        if self.log_requests:
            access_log.info("request", extra=_fields(scope, route, status, seconds))


def _fields(scope: Scope, route: str, status: int, seconds: float) -> dict[str, Any]:
    return {"method": scope["method"], "route": route, "status": status,
            "duration_ms": round(seconds * 1000, 3)}  # fmt: skip
