"""Parsing a /rank body into :class:`RankInput`, fast.

Valid requests take a fast path: ``msgspec`` decodes the JSON straight into typed structs,
checking exact JSON types and the constraints of ``RankRequest`` in one pass (about two thirds
the cost of ``orjson.loads`` plus checks in Python, for 100 candidates; the structs are not
tracked by the garbage collector, 100 dicts were). Anything msgspec refuses —
a wrong type, a coercible string, a missing field — goes through the pydantic model
(``RankRequest``), which either accepts it (lax coercions stay the documented behaviour) or
produces the error message naming the field. The structs are stricter than the model, so the
fast path never accepts what the model would refuse. The limits of the settings (lengths,
candidate count) are checked after either path.
"""

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
import numpy as np
from pydantic import ValidationError

from service.errors import InvalidRequest
from service.features.text import AdText
from service.http import check_count, check_text, describe
from service.rank.protocol import RankRequest
from service.settings import LimitSettings

TEXT_FIELDS = ("title", "description", "category")

_Id = Annotated[str, msgspec.Meta(min_length=1)]
_ContextValue = str | int | float | bool | None


class _Candidate(msgspec.Struct, gc=False):  # holds no containers: never in a cycle
    ad_id: _Id
    bid: Annotated[float, msgspec.Meta(ge=0)] | None = None
    title: str | None = None
    description: str | None = None
    category: str | None = None


class _Request(msgspec.Struct, gc=False):  # nothing refers back to it: never in a cycle
    """``RankRequest`` as msgspec reads it: same fields and constraints, exact JSON types."""

    user_id: _Id
    candidates: Annotated[list[_Candidate], msgspec.Meta(min_length=1)]
    request_id: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    context: dict[str, _ContextValue] = {}
    top_k: Annotated[int, msgspec.Meta(ge=1)] | None = None
    timeout_ms: Annotated[float, msgspec.Meta(gt=0)] | None = None
    explain: bool = False


_DECODER = msgspec.json.Decoder(_Request)


@dataclass(frozen=True)
class RankInput:
    """A validated /rank request in the shape the serving code wants."""

    user_id: str
    request_id: str | None
    context: dict[str, Any]
    ad_ids: list[str]
    bids: np.ndarray | None  # float64 (n,) when every candidate has a bid, else None
    texts: dict[int, AdText]  # candidate position → its text, for candidates that sent one
    top_k: int | None
    timeout_ms: float | None
    explain: bool


def parse_rank(body: bytes, limits: LimitSettings) -> RankInput:
    if not body:
        raise InvalidRequest("body: a JSON object is required")
    try:
        req = _DECODER.decode(body)
    except msgspec.DecodeError:  # also msgspec.ValidationError: pydantic decides
        req = _via_model(body)
    return _within_limits(req, limits)


def _via_model(body: bytes) -> _Request:
    """The slow path: pydantic's lax reading, or its error naming the field."""
    try:
        model = RankRequest.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidRequest(describe(exc)) from None
    try:
        return msgspec.convert(model.model_dump(), _Request)
    except msgspec.ValidationError:  # pydantic accepted it: only a lax coercion lands here
        raise InvalidRequest("request could not be read") from None


def _within_limits(req: _Request, limits: LimitSettings) -> RankInput:
    cands = req.candidates
    check_count("candidates", len(cands), limits.max_candidates)
    check_text("user_id", req.user_id, limits.max_id_chars)
    ad_ids = [c.ad_id for c in cands]
    if max(map(len, ad_ids)) > limits.max_id_chars:
        for i, ad_id in enumerate(ad_ids):
            check_text(f"candidates.{i}.ad_id", ad_id, limits.max_id_chars)
    texts = {i: _text(c, f"candidates.{i}", limits) for i, c in enumerate(cands)
             if c.title is not None or c.description is not None
             or c.category is not None}  # fmt: skip
    return RankInput(req.user_id, req.request_id, req.context, ad_ids,
                     _bids([c.bid for c in cands]), texts, req.top_k, req.timeout_ms,
                     req.explain)  # fmt: skip


def _text(c: _Candidate, where: str, limits: LimitSettings) -> AdText:
    parts = [c.title or "", c.description or "", c.category or ""]
    for name, value in zip(TEXT_FIELDS, parts, strict=True):
        check_text(f"{where}.{name}", value, limits.max_text_chars)
    return AdText(*parts)


def _bids(bids: list[float | None]) -> np.ndarray | None:
    """All bids (rank by eCPM) or none (rank by pCTR)."""
    missing = bids.count(None)
    if missing == len(bids):
        return None
    if missing:
        raise InvalidRequest(
            f"candidates: bid is given for {len(bids) - missing} of {len(bids)} candidates; "
            "give it for all (rank by eCPM) or none (rank by pCTR)"
        )
    return np.array(bids, dtype=np.float64)
