"""Ranking (pure): eCPM or pCTR order, top-k, explanations, and the response rows."""

from collections.abc import Sequence

import numpy as np

from service.errors import InvalidRequest
from service.rank.parsing import RankInput
from service.rank.protocol import BID_TYPES, ExplanationItem, RankedAd, RankedBy

EXPLAIN_ITEMS = 3


CPM, CPC, CPA = (BID_TYPES.index(t) for t in ("cpm", "cpc", "cpa"))


def ecpm(
    p_ctr: np.ndarray, bids: np.ndarray, bid_types: np.ndarray | None = None,
    p_cvr: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """Expected revenue per thousand impressions, one auction for every bid type: a cpm bid
    as it is, a cpc bid × pCTR × 1000, a cpa bid × pCTR × pCVR × 1000 (``bid_types`` None:
    all cpc)."""
    value = bids * p_ctr * 1000.0
    if bid_types is None:
        return value
    value = np.where(bid_types == CPM, bids, value)
    if p_cvr is not None:
        value = np.where(bid_types == CPA, value * p_cvr, value)
    return value


def order(scores: np.ndarray, top_k: int | None) -> np.ndarray:
    """Positions by descending score (ties keep request order), cut to ``top_k``."""
    ranked = np.argsort(-scores, kind="stable")
    return ranked if top_k is None else ranked[:top_k]


def explanation(
    attention: np.ndarray, item_ids: Sequence[str], k: int = EXPLAIN_ITEMS
) -> list[ExplanationItem]:
    """The ``k`` behaviour items with the largest attention weight (real items only)."""
    n = min(len(item_ids), attention.shape[0])
    if n == 0:
        return []
    weights = attention[:n]
    top = np.argsort(-weights, kind="stable")[:k]
    return [ExplanationItem(item_ids[i], round(float(weights[i]), 6)) for i in top]


def ranked_rows(
    ad_ids: Sequence[str],
    p_ctr: np.ndarray,
    ecpms: np.ndarray | None,
    from_model: np.ndarray,
    positions: np.ndarray,
    explanations: dict[int, list[ExplanationItem]] | None,
    ranked_by: Sequence[RankedBy],
    p_cvr: np.ndarray | None = None,
) -> list[RankedAd]:
    """Response rows in rank order (``explanations``: by candidate position, when asked;
    ``ranked_by``: one formula for all, or one per candidate)."""
    p_list, pos_list, model_list = p_ctr.tolist(), positions.tolist(), from_model.tolist()
    e_list = ecpms.tolist() if ecpms is not None else None
    c_list = p_cvr.tolist() if p_cvr is not None else None
    one = ranked_by[0] if len(ranked_by) == 1 else None
    return [
        RankedAd(ad_id=ad_ids[i], rank=rank, p_ctr=p_list[i],
                 source="model" if model_list[i] else "prior", ranked_by=one or ranked_by[i],
                 ecpm=None if e_list is None else e_list[i],
                 p_cvr=None if c_list is None else c_list[i],
                 explanation=None if explanations is None else explanations.get(i, []))
        for rank, i in enumerate(pos_list, start=1)
    ]  # fmt: skip


def ranked_by(req: RankInput) -> Sequence[RankedBy]:
    """The formula that ranked the ads: one for all, or one per candidate in a mixed auction."""
    if req.bids is None:
        return ("p_ctr",)
    if req.bid_types is None:
        return ("cpc",)
    return [BID_TYPES[code] for code in req.bid_types.tolist()]


def check_bid_types(req: RankInput, has_cvr: bool, version: str) -> None:
    """A cpa bid needs a model that predicts conversions."""
    if req.bid_types is None or has_cvr:
        return
    cpa = np.flatnonzero(req.bid_types == CPA)
    if cpa.size:
        where = f"candidates.{int(cpa[0])}.bid_type"
        raise InvalidRequest(f"{where}: cpa needs a model with a conversion head; model "
                             f"{version} predicts clicks only")  # fmt: skip
