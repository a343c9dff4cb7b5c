"""Whatever a client sends gets a clear 4xx with {error, error_type, request_id}, never a 500."""

from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.e2e.conftest import uid

CAND = {"ad_id": "a"}


def assert_error(r: httpx.Response, status: int, error_type: str, mentions: str = "") -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "error_type", "request_id"}
    assert body["error_type"] == error_type and body["request_id"]
    assert mentions in body["error"]


@pytest.mark.parametrize(
    ("content", "mentions"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "JSON object is required"),
        (b"[1, 2]", "body"),
        (b'{"candidates": [{"ad_id": "a"}]}', "user_id"),
        (b'{"user_id": "u"}', "candidates"),
        (b'{"user_id": "u", "candidates": []}', "candidates"),
        (b'{"user_id": "u", "candidates": "abc"}', "candidates"),
        (b'{"user_id": 12, "candidates": [{"ad_id": "a"}]}', "user_id"),
        (b'{"user_id": "u", "candidates": [{"ad_id": "a", "bid": "lots"}]}', "candidates.0.bid"),
        (b'{"user_id": "u", "candidates": [{"ad_id": "a", "bid": -1}]}', "candidates.0.bid"),
        (b'{"user_id": "u", "candidates": [{"ad_id": "a"}], "top_k": 0}', "top_k"),
        (b'{"user_id": "u", "candidates": [{"ad_id": "a"}], "timeout_ms": -5}', "timeout_ms"),
        (b'{"user_id": "", "candidates": [{"ad_id": "a"}]}', "user_id"),
        (b'{"user_id": "u", "candidates": [{"ad_id": "a", "bid": 1}, {"ad_id": "b"}]}', "bid"),
        (b'{"user_id": "u", "candidates": [{"ad_id": "a"}], "context": {"x": [1]}}', "context"),
    ],
)
def test_invalid_rank_requests_are_422(client: httpx.Client, content: bytes, mentions: str) -> None:
    r = client.post("/rank", content=content, headers={"content-type": "application/json"})
    assert_error(r, 422, "invalid_request", mentions)


def test_oversized_requests_are_413(client: httpx.Client) -> None:
    too_many = {"user_id": "u", "candidates": [{"ad_id": f"a{i}"} for i in range(1001)]}
    assert_error(client.post("/rank", json=too_many), 413, "payload_too_large", "candidates")
    huge = b'{"user_id": "u", "pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    assert_error(client.post("/rank", content=huge), 413, "payload_too_large", "body")
    many_events = {"events": [{"user_id": "u", "item_id": "i", "text": "t"}] * 1001}
    assert_error(client.post("/events", json=many_events), 413, "payload_too_large", "events")


def test_a_body_without_a_declared_length_is_read_in_chunks_and_limited(
    client: httpx.Client,
) -> None:
    def chunks(body: bytes, size: int) -> Iterator[bytes]:  # sent chunked: no content-length
        yield from (body[i : i + size] for i in range(0, len(body), size))

    huge = b'{"user_id": "u", "pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    r = client.post("/rank", content=chunks(huge, 256 * 1024))
    assert_error(r, 413, "payload_too_large", "more than")
    bad = orjson.dumps({"user_id": "u", "candidates": [{"ad_id": f"a{i}"} for i in range(50)],
                        "top_k": 0})  # fmt: skip
    assert_error(client.post("/rank", content=chunks(bad, 100)), 422, "invalid_request", "top_k")


def test_long_texts_are_422_naming_the_field(client: httpx.Client) -> None:
    body = {"user_id": "u", "candidates": [{"ad_id": "a", "title": "x" * 2001}]}
    assert_error(client.post("/rank", json=body), 422, "invalid_request", "candidates.0.title")
    ads = {"ads": [{"ad_id": "a", "title": "t", "description": "y" * 2001}]}
    assert_error(client.put("/ads", json=ads), 422, "invalid_request", "ads.0.description")


def test_bad_ads_and_events_bodies_are_422(client: httpx.Client) -> None:
    assert_error(client.put("/ads", json={"ads": [{"ad_id": "a"}]}), 422, "invalid_request",
                 "ads.0.title")  # fmt: skip
    negative = {"ads": [{"ad_id": "a", "title": "Shoes", "price": -5}]}
    assert_error(client.put("/ads", json=negative), 422, "invalid_request", "ads.0.price")
    assert_error(client.post("/events", json={"events": [{"user_id": "u"}]}), 422,
                 "invalid_request", "events.0.item_id")  # fmt: skip
    assert_error(client.post("/admin/reload", content=b"{oops"), 422, "invalid_request")


def test_unknown_routes_and_methods(client: httpx.Client) -> None:
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.get("/rank"), 405, "method_not_allowed")


def test_request_id_comes_back_in_errors(client: httpx.Client) -> None:
    r = client.post("/rank", content=b"{", headers={"x-request-id": "trace-42"})
    assert r.json()["request_id"] == "trace-42"


def test_no_500_in_the_metrics_after_all_that(client: httpx.Client) -> None:
    client.post("/rank", json={"user_id": uid("u"), "candidates": [CAND]})
    text = client.get("/metrics").text
    assert 'status="500"' not in text


def test_openapi_documents_the_bodies_with_examples(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert schemas["RankRequest"]["examples"][0]["candidates"]
    body = spec["paths"]["/rank"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"].endswith("/RankRequest")
    assert "RankResponse" in schemas and "EventsRequest" in schemas
