"""Hot routes straight to their endpoint, past FastAPI's middleware stack and router.

``POST /rank`` runs on every ad request. FastAPI's layers (its error, telemetry and body-limit
middlewares, routing, dependency solving, an exit stack) cost CPU on every request that this
route does not use — it reads, limits and parses its body itself (what they cost:
docs/benchmarks.md, "Request-path changes"). Here the same
endpoint function runs and the app's own exception handlers render its errors, so the
answers are those of the FastAPI route, which stays for the OpenAPI docs.
"""

from collections.abc import Awaitable, Callable, Mapping

from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, Exception], Awaitable[Response]]


class DirectRoutes:
    """ASGI: ``(method, path)`` in ``routes`` → its endpoint; anything else → ``app``."""

    def __init__(self, app: FastAPI, routes: Mapping[tuple[str, str], Endpoint]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = None
        if scope["type"] == "http":
            endpoint = self.routes.get((scope["method"], scope["path"]))
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app  # what Request.app reads (FastAPI sets it on its own path)
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except Exception as exc:
            response = await self.handler(exc)(request, exc)
        await response(scope, receive, send)

    def handler(self, exc: Exception) -> Handler:
        """The app's handler for ``exc``: the one registered for its nearest class."""
        handlers = self.app.exception_handlers
        for cls in type(exc).__mro__:
            if cls in handlers:
                return handlers[cls]  # type: ignore[return-value]
        raise exc
