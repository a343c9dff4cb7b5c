"""Ad outcomes through POST /events, end to end: an impression, a click and a conversion of an
ad /rank ranked move the Prometheus counters by exactly those amounts; bad outcomes are a 422
that counts nothing; outcomes are counted while Redis is down."""

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import StartService, uid
from tests.e2e.test_errors import assert_error
from tests.e2e.test_rank import put_ads, rank
from tests.support.processes import RedisProcess

KINDS = ("impression", "click", "conversion")


def counters(client: httpx.Client) -> dict[str, float]:
    """The outcome counters by type, and ``value``: the conversion value's sum."""
    found = {kind: 0.0 for kind in KINDS} | {"value": 0.0}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for s in family.samples:
            if s.name == "adrank_outcomes_total":
                found[s.labels["type"]] = s.value
            elif s.name == "adrank_conversion_value_total":
                found["value"] = s.value
    return found


def post_outcomes(client: httpx.Client, *outcomes: dict) -> httpx.Response:
    return client.post("/events", json={"outcomes": list(outcomes)})


def test_outcomes_of_a_ranked_ad_move_the_counters_by_exactly_that(client: httpx.Client) -> None:
    user = uid("u")
    ranked = rank(client, user_id=user, candidates=[{"ad_id": a} for a in put_ads(client)])
    rid, ad = ranked["request_id"], ranked["ranked"][0]["ad_id"]
    before = counters(client)
    shown = {"request_id": rid, "ad_id": ad, "user_id": user}
    for outcome in ({"type": "impression", "ts": 1_763_900_000}, {"type": "click"},
                    {"type": "conversion", "value": 12.5}):  # fmt: skip
        r = post_outcomes(client, shown | outcome)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["model_version"]
        assert (out["accepted"], out["users"], out["outcomes"]) == (0, 0, 1)
    after = counters(client)
    assert {k: after[k] - before[k] for k in after} == {
        "impression": 1, "click": 1, "conversion": 1, "value": 12.5}  # fmt: skip


def test_events_and_outcomes_in_one_request(client: httpx.Client) -> None:
    event = {"user_id": uid("u"), "item_id": "item-1", "text": "trail running shoes"}
    outcome = {"request_id": uid("req"), "ad_id": "ad-1", "type": "impression"}
    r = client.post("/events", json={"events": [event], "outcomes": [outcome, outcome]})
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["users"], r.json()["outcomes"]) == (1, 1, 2)


def test_bad_outcomes_are_422_and_count_nothing(client: httpx.Client) -> None:
    shown = {"request_id": uid("req"), "ad_id": "ad-1"}
    before = counters(client)
    assert_error(post_outcomes(client, shown | {"type": "purchase"}), 422, "invalid_request",
                 "outcomes.0.type")  # fmt: skip
    assert_error(post_outcomes(client, shown | {"type": "impression"},
                               shown | {"type": "click", "value": 3}),
                 422, "invalid_request", "outcomes.1.value: only a conversion")  # fmt: skip
    assert_error(post_outcomes(client, {"ad_id": "ad-1", "type": "click"}), 422,
                 "invalid_request", "outcomes.0.request_id")  # fmt: skip
    long_id = shown | {"type": "click", "request_id": "r" * 257}
    assert_error(post_outcomes(client, long_id), 422, "invalid_request", "outcomes.0.request_id")
    for empty in ({}, {"events": [], "outcomes": []}):
        assert_error(client.post("/events", json=empty), 422, "invalid_request",
                     "at least one event")  # fmt: skip
    assert counters(client) == before


def test_openapi_shows_outcomes(client: httpx.Client) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    outcome = schemas["Outcome"]
    assert sorted(outcome["properties"]["type"]["enum"]) == sorted(KINDS)
    assert set(outcome["required"]) == {"request_id", "ad_id", "type"}
    assert {"events", "outcomes"} <= set(schemas["EventsRequest"]["properties"])
    assert schemas["EventsRequest"]["examples"][0]["outcomes"]
    assert "outcomes" in schemas["EventsResponse"]["required"]


def test_outcomes_are_refused_while_redis_is_down(
    start_service: StartService, tmp_path: Path
) -> None:
    redis = RedisProcess(tmp_path)
    redis.start()
    try:
        service = start_service(redis=redis)
        redis.stop()
        with httpx.Client(base_url=service.url, timeout=10) as client:
            _while_down(client)
    finally:
        redis.stop()


def _while_down(client: httpx.Client) -> None:
    """Outcomes are counted per experiment arm in Redis: with Redis down the request is
    refused whole (503, retry), its outcomes counted nowhere — a retry would count them
    twice — behaviour events or not."""
    outcome = {"request_id": uid("req"), "ad_id": "ad-1", "type": "click"}
    event = {"user_id": uid("u"), "item_id": "item-1", "text": "trail running shoes"}
    before = counters(client)
    assert_error(post_outcomes(client, outcome), 503, "dependency_down")
    mixed = client.post("/events", json={"events": [event], "outcomes": [outcome]})
    assert_error(mixed, 503, "dependency_down")
    assert counters(client)["click"] - before["click"] == 0
