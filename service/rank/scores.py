"""What scoring one request produced (:class:`Scored`), and a blend arm's combination of
its parts' scores."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.experiments.blend import blend
from service.rank.parsing import RankInput
from service.rank.protocol import DegradedReason
from service.rank.ranking import ecpm
from service.runtime.pairs import ScoreResult
from service.store.codec import UserMatrix


@dataclass(frozen=True)
class Scores:
    p_ctr: np.ndarray  # (n,) per candidate
    p_cvr: np.ndarray | None  # (n,) per candidate, where the model has a conversion tower
    from_model: np.ndarray  # (n,) bool
    model_rows: np.ndarray  # candidate positions scored by the model
    result: ScoreResult | None  # the ranker's answer for those rows
    queue_s: float = 0.0

    def timings(self) -> dict[str, Any]:
        r = self.result
        if r is None:
            return {"queue_ms": 0.0, "score_ms": 0.0, "batch_size": 0}
        return {"queue_ms": self.queue_s * 1000, "score_ms": r.score_s * 1000,
                "batch_size": r.batch_requests}  # fmt: skip

    def ranking_values(self, req: RankInput) -> np.ndarray:
        """What orders the candidates: eCPM when bids are given, else pCTR."""
        if req.bids is None:
            return self.p_ctr
        return ecpm(self.p_ctr, req.bids, req.bid_types, self.p_cvr)


@dataclass(frozen=True)
class Scored:
    """One model's way through a request: its scores and what it took."""

    scores: Scores
    user: UserMatrix | None
    redis_s: float
    encode_s: float
    cache_misses: int
    reasons: list[DegradedReason]


def blend_scored(parts: Sequence[Scored], weights: Sequence[float]) -> Scored:
    """A blend arm's answer: pCTR (and pCVR, when every part has it) the sigmoid of the
    weighted sum of the parts' logits; an ad counts as model-scored only if every part
    scored it; explanations and batch timings from the first part; stage times the
    slowest part's (they ran at once)."""
    first = parts[0]
    cvrs = [p.scores.p_cvr for p in parts]
    p_cvr = blend(cvrs, weights) if all(c is not None for c in cvrs) else None  # type: ignore[arg-type]
    scores = Scores(
        blend([p.scores.p_ctr for p in parts], weights), p_cvr,
        np.logical_and.reduce([p.scores.from_model for p in parts]),
        first.scores.model_rows, first.scores.result,
        max(p.scores.queue_s for p in parts),
    )  # fmt: skip
    reasons = list(dict.fromkeys(r for p in parts for r in p.reasons))
    return Scored(scores, first.user, max(p.redis_s for p in parts),
                  max(p.encode_s for p in parts), first.cache_misses, reasons)  # fmt: skip
