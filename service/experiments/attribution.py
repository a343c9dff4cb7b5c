"""Outcomes (impressions, clicks, conversions, revenue) attributed to the arm that ranked.

An outcome's request id names its arm: a record not yet flushed is found in process, else in
Redis (``exp:{E}:req:<id>``, one MGET). An unknown request id with a ``user_id`` is
attributed by the user's arm under the current arms; without one it stays unattributed.
The counts go to the arm's ``users`` and ``series`` hashes in one pipeline.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from service.events.protocol import Outcome
from service.experiments.arms import ArmSet
from service.experiments.exposures import ExposureLog
from service.experiments.tally import Tally
from service.metrics import Metrics
from service.store.redis_store import RedisStore

METRIC_OF = {"impression": "i", "click": "c", "conversion": "v"}


@dataclass(frozen=True)
class Owner:
    experiment: str
    arm: str
    user_id: str


class Attribution:
    def __init__(self, store: RedisStore, exposures: ExposureLog, metrics: Metrics) -> None:
        self.store = store
        self.exposures = exposures
        self.metrics = metrics

    async def count(self, outcomes: Sequence[Outcome], arms: ArmSet, now: float) -> int:
        """Count the outcomes per arm; the number attributed. Raises DependencyDown."""
        if not outcomes:
            return 0
        owners = await self._owners({o.request_id for o in outcomes}, arms)
        tally = Tally(self.store.keys, arms.config.series_bucket_s)
        per_arm: Counter[tuple[str, str]] = Counter()
        how: Counter[str] = Counter()
        for o in outcomes:
            owner = owners.get(o.request_id)
            how["request" if owner else "user" if o.user_id else "none"] += 1
            if owner is None and o.user_id is not None:
                owner = Owner(arms.config.name, arms.arm_of(o.user_id).name, o.user_id)
            if owner is None:
                continue
            ts = o.ts if o.ts is not None else now
            tally.count(owner.experiment, owner.arm, owner.user_id, METRIC_OF[o.type], ts)
            if o.revenue:
                tally.count(owner.experiment, owner.arm, owner.user_id, "r", ts, o.revenue)
            per_arm[(owner.arm, o.type)] += 1
        if tally:
            await self.store.pipeline("outcomes", tally.queue)
        for (arm, kind), n in per_arm.items():
            self.metrics.arm_outcomes.labels(arm, kind).inc(n)
        for kind, n in how.items():
            self.metrics.attribution.labels(kind).inc(n)
        return sum(per_arm.values())

    async def _owners(self, request_ids: set[str], arms: ArmSet) -> dict[str, Owner]:
        """The arm of each request id still known: in process first, then in Redis (under
        the current experiment's name)."""
        owners: dict[str, Owner] = {}
        unknown: list[str] = []
        for rid in request_ids:
            e = self.exposures.lookup(rid)
            if e is None:
                unknown.append(rid)
            else:
                owners[rid] = Owner(e.arms.config.name, e.arm, e.user_id)
        if unknown:
            name = arms.config.name
            keys = [self.store.keys.exp_request(name, rid) for rid in unknown]
            for rid, value in zip(unknown, await self.store.get_many("outcomes", keys),
                                  strict=True):  # fmt: skip
                if value is not None:
                    arm, _, user_id = value.decode().partition("\t")
                    owners[rid] = Owner(name, arm, user_id)
        return owners
