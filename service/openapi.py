"""The OpenAPI schema: FastAPI's paths, and components generated from the wire structs; the
declarations routes use for the bodies they parse themselves and for their answers.

The structs that decode requests and encode answers are the one source of the schema; what
the structs cannot say is added here from the same sources the code checks: the limits of
the settings (id and text lengths, list sizes), the all-or-none rule of bids, the rules of
/events (an event or an outcome, a value only on a conversion), and examples.
"""

from collections.abc import Sequence
from typing import Any

import msgspec
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from service.admin.protocol import ReloadRequest, ReloadResponse
from service.ads.protocol import ADS_EXAMPLE, AdsRequest, AdsResponse
from service.copy.protocol import VARIANTS_EXAMPLE, JobAccepted, JobStatus, VariantsRequest
from service.errors import ErrorBody
from service.events.protocol import EVENTS_EXAMPLE, EventsRequest, EventsResponse
from service.experiments.config import ExperimentSettings
from service.health.protocol import Health, Readiness
from service.rank.protocol import BID_TYPES, RANK_EXAMPLE, RankRequest, RankResponse
from service.settings import LimitSettings

WIRE_TYPES = (RankRequest, RankResponse, AdsRequest, AdsResponse, EventsRequest,
              EventsResponse, ReloadRequest, ReloadResponse, Health, Readiness,
              VariantsRequest, JobAccepted, JobStatus, ErrorBody)  # fmt: skip
EXAMPLES = {"RankRequest": RANK_EXAMPLE, "AdsRequest": ADS_EXAMPLE, "EventsRequest": EVENTS_EXAMPLE,
            "ReloadRequest": {"bundle_path": "models/v2"},
            "VariantsRequest": VARIANTS_EXAMPLE}  # fmt: skip


def json_content(name: str) -> dict[str, Any]:
    """The ``content`` of a JSON body whose schema is the component ``name``."""
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}


_ERROR_BODY = json_content("ErrorBody")
_RETRY_AFTER = {"Retry-After": {"description": "seconds", "schema": {"type": "string"}}}
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no API key", "content": _ERROR_BODY},
    403: {"description": "wrong API key", "content": _ERROR_BODY},
    413: {"description": "body or list too large", "content": _ERROR_BODY},
    422: {"description": "invalid request; the message names the field", "content": _ERROR_BODY},
    503: {"description": "overloaded, past the deadline, or not ready; see Retry-After",
          "content": _ERROR_BODY, "headers": _RETRY_AFTER},
}  # fmt: skip


def json_body(name: str, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` declaring a JSON body of the schema ``name`` (from ``components``),
    for routes that parse their body themselves."""
    return {"requestBody": {"required": required, "content": json_content(name)}}


def answers(name: str, description: str = "OK") -> dict[int | str, dict[str, Any]]:
    """``responses`` of a route whose 200 is the JSON schema ``name`` (no errors: add them)."""
    return {200: {"description": description, "content": json_content(name)}}


# (schema, property) → (JSON Schema keyword, the setting that limits it)
LIMITS = {
    ("RankRequest", "user_id"): ("maxLength", "max_id_chars"),
    ("RankRequest", "candidates"): ("maxItems", "max_candidates"),
    ("Candidate", "ad_id"): ("maxLength", "max_id_chars"),
    ("Candidate", "title"): ("maxLength", "max_text_chars"),
    ("Candidate", "description"): ("maxLength", "max_text_chars"),
    ("Candidate", "category"): ("maxLength", "max_text_chars"),
    ("AdsRequest", "ads"): ("maxItems", "max_ads"),
    ("Ad", "ad_id"): ("maxLength", "max_id_chars"),
    ("Ad", "title"): ("maxLength", "max_text_chars"),
    ("Ad", "description"): ("maxLength", "max_text_chars"),
    ("Ad", "category"): ("maxLength", "max_text_chars"),
    ("EventsRequest", "events"): ("maxItems", "max_events"),
    ("Event", "user_id"): ("maxLength", "max_id_chars"),
    ("Event", "item_id"): ("maxLength", "max_id_chars"),
    ("Event", "text"): ("maxLength", "max_text_chars"),
    ("EventsRequest", "outcomes"): ("maxItems", "max_events"),
    ("Outcome", "request_id"): ("maxLength", "max_id_chars"),
    ("Outcome", "ad_id"): ("maxLength", "max_id_chars"),
    ("Outcome", "user_id"): ("maxLength", "max_id_chars"),
    ("VariantsRequest", "variants"): ("maximum", "max_variants"),
    ("VariantsRequest", "title"): ("maxLength", "max_text_chars"),
    ("VariantsRequest", "description"): ("maxLength", "max_text_chars"),
    ("VariantsRequest", "category"): ("maxLength", "max_text_chars"),
    ("AudienceSpec", "user_ids"): ("maxItems", "max_audience_users"),
    ("AudienceSpec", "sample"): ("maximum", "max_audience_users"),
}

# read as floats (JSON Schema's integer takes 8.0), checked whole by the routes
WHOLE_NUMBERS = (("VariantsRequest", "variants"), ("VariantsRequest", "seed"),
                 ("AudienceSpec", "sample"))  # fmt: skip

# every candidate has a number as its bid (rank by eCPM), or none has one (rank by pCTR)
BIDS_ALL_OR_NONE = {"anyOf": [
    {"items": {"required": ["bid"], "properties": {"bid": {"type": "number"}}}},
    {"items": {"properties": {"bid": {"type": "null"}}}},
]}  # fmt: skip

# /events carries at least one behaviour event or one outcome (both lists default to empty)
EVENT_OR_OUTCOME = {"anyOf": [
    {"required": ["events"], "properties": {"events": {"minItems": 1}}},
    {"required": ["outcomes"], "properties": {"outcomes": {"minItems": 1}}},
]}  # fmt: skip

# an outcome's value is a conversion's: on any other type it is absent (or null)
VALUE_ON_CONVERSIONS = {"anyOf": [
    {"properties": {"type": {"const": "conversion"}}},
    {"properties": {"value": {"type": "null"}}},
]}  # fmt: skip


def components(limits: LimitSettings, bid_types: Sequence[str] = BID_TYPES) -> dict[str, Any]:
    """The schemas of every wire type, with the settings' limits, the bid types the model
    takes, and the rules in them."""
    _, schemas = msgspec.json.schema_components(
        WIRE_TYPES, ref_template="#/components/schemas/{name}"
    )
    for (name, prop), (keyword, setting) in LIMITS.items():
        _constrain(schemas[name]["properties"][prop], keyword, getattr(limits, setting))
    schemas["RankRequest"]["properties"]["candidates"].update(BIDS_ALL_OR_NONE)
    schemas["EventsRequest"].update(EVENT_OR_OUTCOME)
    schemas["Outcome"].update(VALUE_ON_CONVERSIONS)
    schemas["AudienceSpec"]["maxProperties"] = 1  # a sample or user ids, not both
    schemas["AudienceSpec"]["properties"]["user_ids"]["items"]["maxLength"] = limits.max_id_chars
    _constrain(schemas["RankRequest"]["properties"]["top_k"], "type", "integer")
    for name, prop in WHOLE_NUMBERS:
        _constrain(schemas[name]["properties"][prop], "type", "integer")
    schemas["Candidate"]["properties"]["bid_type"]["enum"] = list(bid_types)
    for name, example in EXAMPLES.items():
        schemas[name]["examples"] = [example]
    return schemas | settings_schemas(ExperimentSettings)


def settings_schemas(model: type[BaseModel]) -> dict[str, Any]:
    """A pydantic model's schema and those it refers to, as components."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {**schema.pop("$defs", {}), model.__name__: schema}


def _constrain(schema: dict[str, Any], keyword: str, value: object) -> None:
    """Set ``keyword`` on the schema, or on its non-null branch when it is optional."""
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") != "null":
            branch[keyword] = value


def openapi(app: FastAPI, limits: LimitSettings) -> dict[str, Any]:
    """The schema of the service as it is now: the bid types it takes follow the model being
    served (cpa only with a conversion head), so it is built per call, not cached — and
    asked for rarely (docs, client generators)."""
    schema = get_openapi(title=app.title, version=app.version, summary=app.summary,
                         routes=app.routes)  # fmt: skip
    schemas = components(limits, _bid_types(app))
    schema.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
    return schema


def _bid_types(app: FastAPI) -> list[str]:
    svc = getattr(app.state, "svc", None)
    model = svc.holder.loaded if svc is not None else None
    return [t for t in BID_TYPES if t != "cpa" or (model is not None and model.has_cvr)]
