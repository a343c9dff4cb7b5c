"""What the statistics of an experiment hold (``stats.analyze`` builds them). Plain frozen
dataclasses; ``as_dict`` gives their JSON shape (NaN where a figure cannot be computed, e.g. a
CTR without impressions).

Metric names: ``ctr`` = clicks / impressions, ``cvr`` = conversions / clicks, ``rpm`` =
revenue per 1,000 requests. Each is a ratio of per-user sums (users are the randomisation
unit); intervals are at the confidence level 1 - α.
"""

import math
from dataclasses import asdict, dataclass, field
from typing import Any

METRIC_NAMES: tuple[str, ...] = ("ctr", "cvr", "rpm")
METRIC_LABELS: dict[str, str] = {
    "ctr": "CTR",
    "cvr": "CVR",
    "rpm": "revenue / 1k requests",
}


@dataclass(frozen=True)
class Estimate:
    """A figure and its confidence interval [low, high]."""

    value: float
    low: float
    high: float

    @classmethod
    def missing(cls) -> "Estimate":
        return cls(math.nan, math.nan, math.nan)

    def covers(self, x: float) -> bool:
        return self.low <= x <= self.high


@dataclass(frozen=True)
class ArmSummary:
    """One arm's totals and its ratio metrics (each with its delta-method interval)."""

    arm: str
    weight: float | None  # the configured weight; None for an arm the meta does not list
    users: int
    requests: int
    impressions: int
    clicks: int
    conversions: int
    revenue: float
    ctr: Estimate
    cvr: Estimate
    rpm: Estimate


@dataclass(frozen=True)
class Difference:
    """One metric of a treatment arm against the control.

    ``control`` and ``treatment`` are the two arms' values (CUPED-adjusted when ``cuped``);
    ``lift`` the relative difference treatment / control - 1, ``diff`` the absolute one
    treatment - control, each with its interval; ``pvalue`` of the test of no difference;
    ``significant``: pvalue < α.
    """

    metric: str
    control: float
    treatment: float
    lift: Estimate
    diff: Estimate
    pvalue: float
    significant: bool
    cuped: bool = False


@dataclass(frozen=True)
class Comparison:
    """A treatment arm against the control: ``differences`` per metric name, the pairwise
    sample-ratio p-value of the two arms' users against their weights (NaN without weights),
    and the smallest relative CTR lift detectable at 80% power and α for these users (NaN
    when it cannot be computed)."""

    arm: str
    control: str
    differences: dict[str, Difference]
    srm_pvalue: float
    detectable_ctr_lift: float

    @property
    def ctr(self) -> Difference:
        return self.differences["ctr"]


@dataclass(frozen=True)
class SrmCheck:
    """Sample-ratio mismatch: users per arm against the configured weights (chi-square
    goodness of fit over the arms with a positive weight). ``mismatch``: pvalue < ``alpha``
    (a strict threshold: a mismatch means the counts cannot be trusted)."""

    users: dict[str, int]
    expected: dict[str, float]
    pvalue: float
    alpha: float
    mismatch: bool


@dataclass(frozen=True)
class CupedInfo:
    """CUPED was asked for: ``metrics`` the covariates adjusted (a metric whose covariate
    has no denominator in some arm is left unadjusted), ``users_with_history``: users of this
    experiment found in the covariate frame."""

    metrics: tuple[str, ...]
    users_with_history: int
    source: str | None = None  # e.g. the earlier experiment's name


@dataclass(frozen=True)
class Analysis:
    """The statistics of one experiment: per arm (configured order), each non-control arm
    against the control, the SRM check (None with fewer than two weighted arms), CUPED
    (None when not asked for) and notes on what could not be analysed."""

    control: str
    alpha: float
    arms: tuple[ArmSummary, ...]
    comparisons: tuple[Comparison, ...]
    srm: SrmCheck | None
    cuped: CupedInfo | None = None
    power: float = 0.8
    notes: tuple[str, ...] = field(default=())

    def comparison(self, arm: str) -> Comparison:
        for comparison in self.comparisons:
            if comparison.arm == arm:
                return comparison
        raise KeyError(f"no comparison of arm {arm!r} (control {self.control!r})")

    def as_dict(self) -> dict[str, Any]:
        return finite(asdict(self))


def finite(value: Any) -> Any:
    """NaN and ±inf → None, recursively (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value
