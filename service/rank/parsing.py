"""Parsing a /rank body into :class:`RankInput`: msgspec decodes and checks the wire shape
(service.rank.protocol) in one pass; then the limits of the settings, the ranges of context
fields and the all-or-none rule of bids."""

from dataclasses import dataclass
from typing import Any

import numpy as np

from service.errors import InvalidRequest
from service.features.text import AdText
from service.rank.protocol import BID_TYPES, CONTEXT_RANGES, DECODER, Candidate
from service.server.requests import check_count, check_text, decode
from service.settings import LimitSettings

TEXT_FIELDS = ("title", "description", "category")
CODES = {name: code for code, name in enumerate(BID_TYPES)}


@dataclass(frozen=True)
class RankInput:
    """A validated /rank request in the shape the serving code wants."""

    user_id: str
    request_id: str | None
    context: dict[str, Any]
    ad_ids: list[str]
    bids: np.ndarray | None  # float64 (n,) when every candidate has a bid, else None
    bid_types: np.ndarray | None  # int8 (n,) codes of BID_TYPES with bids, None if all cpc
    texts: dict[int, AdText]  # candidate position → its text, for candidates that sent one
    top_k: int | None
    timeout_ms: float | None
    explain: bool


def parse_rank(body: bytes, limits: LimitSettings) -> RankInput:
    req = decode(DECODER, body)
    cands = req.candidates
    check_count("candidates", len(cands), limits.max_candidates)
    check_text("user_id", req.user_id, limits.max_id_chars)
    ad_ids = [c.ad_id for c in cands]
    if max(map(len, ad_ids)) > limits.max_id_chars:
        for i, ad_id in enumerate(ad_ids):
            check_text(f"candidates.{i}.ad_id", ad_id, limits.max_id_chars)
    if req.context:
        check_context(req.context)
    texts = {i: _text(c, f"candidates.{i}", limits) for i, c in enumerate(cands)
             if c.title is not None or c.description is not None
             or c.category is not None}  # fmt: skip
    bids = _bids([c.bid for c in cands])
    return RankInput(req.user_id, req.request_id, req.context, ad_ids, bids,
                     _bid_types(cands) if bids is not None else None, texts,
                     _top_k(req.top_k), req.timeout_ms, req.explain)  # fmt: skip


def check_context(context: dict[str, Any]) -> None:
    """Fields with a range hold an integer in it (a caller bug otherwise, not a new value)."""
    for name, (low, high) in CONTEXT_RANGES.items():
        value = context.get(name)
        if value is None:
            continue
        whole = (
            isinstance(value, int | float) and not isinstance(value, bool) and value == int(value)
        )
        if not whole or value < low or (high is not None and value > high):
            span = f"{low}–{high}" if high is not None else f"≥ {low}"
            raise InvalidRequest(f"context.{name}: {value!r} is not an integer in {span}")


def _bid_types(cands: list[Candidate]) -> np.ndarray | None:
    """Each candidate's bid type as its code in BID_TYPES; None when all are cpc (the usual
    case: nothing to look up per candidate)."""
    if all(c.bid_type == "cpc" for c in cands):
        return None
    return np.fromiter((CODES[c.bid_type] for c in cands), dtype=np.int8, count=len(cands))


def _top_k(top_k: float | None) -> int | None:
    if top_k is not None and not float(top_k).is_integer():
        raise InvalidRequest(f"top_k: {top_k!r} is not an integer")
    return None if top_k is None else int(top_k)


def _text(c: Candidate, where: str, limits: LimitSettings) -> AdText:
    parts = [c.title or "", c.description or "", c.category or ""]
    for name, value in zip(TEXT_FIELDS, parts, strict=True):
        check_text(f"{where}.{name}", value, limits.max_text_chars)
    title, description, category = parts
    return AdText(title, description, category, c.price)


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
