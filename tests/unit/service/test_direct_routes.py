"""DirectRoutes answers a hot route exactly as the FastAPI route does, errors included."""

import pytest
from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.testclient import TestClient

from service.errors import InvalidRequest, Overloaded, install_error_handlers
from service.server.direct_routes import DirectRoutes
from service.server.requests import json_response


async def endpoint(request: Request) -> Response:
    kind = request.query_params.get("fail")
    if kind == "invalid":
        raise InvalidRequest("candidates: at least one is required", "rid-1")
    if kind == "overloaded":
        raise Overloaded("queue full", "rid-2", retry_after_s=3)
    if kind == "bug":
        raise RuntimeError("a bug")
    return json_response(b'{"ok":true}')


def make_app() -> FastAPI:
    app = FastAPI()
    app.add_api_route("/hot", endpoint, methods=["POST"])
    app.add_api_route("/other", lambda: {"other": True}, methods=["GET"])
    install_error_handlers(app)
    return app


def answers(asgi: object, method: str, url: str) -> tuple[int, bytes, str | None]:
    with TestClient(asgi, raise_server_exceptions=False) as client:  # type: ignore[arg-type]
        r = client.request(method, url, headers={"x-request-id": "rid-h"})
    return r.status_code, r.content, r.headers.get("retry-after")


@pytest.mark.parametrize("query", ["", "?fail=invalid", "?fail=overloaded", "?fail=bug"])
def test_the_direct_route_answers_as_the_fastapi_route(query: str) -> None:
    app = make_app()
    direct = DirectRoutes(app, {("POST", "/hot"): endpoint})
    via_fastapi = answers(app, "POST", "/hot" + query)
    assert answers(direct, "POST", "/hot" + query) == via_fastapi
    assert via_fastapi[0] == {"": 200, "?fail=invalid": 422, "?fail=overloaded": 503,
                              "?fail=bug": 500}[query]  # fmt: skip


def test_other_methods_and_paths_go_to_the_app() -> None:
    app = make_app()
    direct = DirectRoutes(app, {("POST", "/hot"): endpoint})
    assert answers(direct, "GET", "/other")[:2] == (200, b'{"other":true}')
    assert answers(direct, "GET", "/hot")[0] == 405
    assert answers(direct, "POST", "/missing")[0] == 404
