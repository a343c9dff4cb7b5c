"""Ad outcomes in POST /events: decoding and its rules (errors name the field), and counting
them in the metrics without Redis or encoding."""

from typing import Any

import msgspec
import pytest

from service.errors import InvalidRequest, PayloadTooLarge
from service.events.api_router import check_request
from service.events.protocol import DECODER, EVENTS_EXAMPLE, EventsRequest
from service.events.serving import count_outcomes
from service.metrics import Metrics
from service.server.requests import decode
from service.settings import LimitSettings

LIMITS = LimitSettings(max_events=3, max_id_chars=8)


def outcome(**fields: Any) -> dict[str, Any]:
    return {"request_id": "r-1", "ad_id": "ad-1", "type": "click", **fields}


def parse(body: dict[str, Any], limits: LimitSettings = LIMITS) -> EventsRequest:
    req = decode(DECODER, msgspec.json.encode(body))
    check_request(req, limits)
    return req


def test_outcomes_alone_are_a_request_and_events_default_to_none() -> None:
    req = parse({"outcomes": [outcome(type="conversion", value=12.5, user_id="u", ts=1)]})
    assert req.events == [] and len(req.outcomes) == 1
    o = req.outcomes[0]
    assert (o.type, o.value, o.user_id, o.ts) == ("conversion", 12.5, "u", 1)
    assert parse({"outcomes": [outcome(value=None)]}).outcomes[0].value is None


def test_the_example_is_valid() -> None:
    req = parse(EVENTS_EXAMPLE, LimitSettings())
    assert len(req.events) == 1 and [o.type for o in req.outcomes] == [
        "impression", "click", "conversion"]  # fmt: skip


@pytest.mark.parametrize("body", [{}, {"events": []}, {"outcomes": []},
                                  {"events": [], "outcomes": []}])  # fmt: skip
def test_a_request_without_events_or_outcomes_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest, match=r"^body: give at least one event"):
        parse(body)


@pytest.mark.parametrize(("fields", "message"), [
    ({"type": "purchase"}, r"^outcomes\.0\.type: Invalid enum value 'purchase'$"),
    ({"type": None}, r"^outcomes\.0\.type: Expected `str`, got `null`$"),
    ({"value": -1, "type": "conversion"}, r"^outcomes\.0\.value: Expected `float` >= 0"),
    ({"value": "9.5", "type": "conversion"}, r"^outcomes\.0\.value: Expected `float \| null`"),
    ({"ts": -5}, r"^outcomes\.0\.ts: Expected `float` >= 0"),
    ({"request_id": ""}, r"^outcomes\.0\.request_id: Expected `str` of length >= 1$"),
    ({"user_id": ""}, r"^outcomes\.0\.user_id: Expected `str` of length >= 1$"),
])  # fmt: skip
def test_bad_fields_are_refused_naming_them(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        parse({"outcomes": [outcome(**fields)]})


@pytest.mark.parametrize("field", ["request_id", "ad_id", "type"])
def test_required_fields_are_named_when_missing(field: str) -> None:
    body = outcome()
    del body[field]
    with pytest.raises(InvalidRequest, match=rf"^outcomes\.0\.{field}: required field is missing$"):
        parse({"outcomes": [body]})


@pytest.mark.parametrize("kind", ["impression", "click"])
def test_a_value_belongs_to_conversions_only(kind: str) -> None:
    body = {"outcomes": [outcome(type="conversion", value=1), outcome(type=kind, value=0)]}
    with pytest.raises(InvalidRequest, match=rf"^outcomes\.1\.value: only a conversion .* {kind}$"):
        parse(body)


@pytest.mark.parametrize("field", ["request_id", "ad_id", "user_id"])
def test_long_ids_are_refused_naming_the_field(field: str) -> None:
    body = {"outcomes": [outcome(), outcome(**{field: "x" * 9})]}
    with pytest.raises(InvalidRequest, match=rf"^outcomes\.1\.{field}: 9 characters, the limit "
                       r"is 8$"):  # fmt: skip
        parse(body)


def test_outcomes_are_bounded_like_events() -> None:
    with pytest.raises(PayloadTooLarge, match=r"^outcomes: 4 items, the limit is 3$"):
        parse({"outcomes": [outcome()] * 4})
    event = {"user_id": "u", "item_id": "i", "text": "t"}
    assert len(parse({"events": [event] * 3, "outcomes": [outcome()] * 3}).outcomes) == 3


def test_outcomes_are_counted_by_type_with_the_conversion_value() -> None:
    metrics = Metrics()
    req = parse({"outcomes": [outcome(type="impression"), outcome(type="click"),
                              outcome(type="conversion", value=12.5)]})  # fmt: skip
    count_outcomes(metrics, req.outcomes)
    count_outcomes(metrics, parse({"outcomes": [outcome(type="conversion", value=0.25)]}).outcomes)
    counts = {k: sample(metrics, "adrank_outcomes_total", type=k)
              for k in ("impression", "click", "conversion")}  # fmt: skip
    assert counts == {"impression": 1, "click": 1, "conversion": 2}
    assert sample(metrics, "adrank_conversion_value_total") == 12.75


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)
