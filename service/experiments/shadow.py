"""The shadow bundle: scores a share of the live requests after they are answered, its
answer discarded and its order compared with the live one (Spearman's rank correlation and
top-1 agreement, in the metrics).

Bounded and shed first: a request is offered only after its answer is built; it is skipped
when ``max_pending`` shadow scorings are in flight or the live arm's ranker already has a
full batch waiting. The shadow encodes no new ads (they score by their prior) and its own
failures are counted, never raised.
"""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

import numpy as np

from service.errors import AdrankError
from service.experiments.arms import Arm, ArmSet
from service.metrics import Metrics
from service.rank.parsing import RankInput
from service.rank.scores import Scored, Scores
from service.runtime.model import LoadedModel

log = logging.getLogger(__name__)

ScoreAlone = Callable[[LoadedModel, RankInput], Awaitable[Scored]]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation of two score vectors (ties broken by position); nan below 2."""
    if a.size < 2:
        return float("nan")
    ra = np.argsort(np.argsort(-a, kind="stable"), kind="stable")
    rb = np.argsort(np.argsort(-b, kind="stable"), kind="stable")
    return float(np.corrcoef(ra, rb)[0, 1])


class Shadow:
    def __init__(self, metrics: Metrics, busy_pairs: int) -> None:
        self.metrics = metrics
        self.busy_pairs = busy_pairs  # live queue depth (pairs) at which the shadow sheds
        self.pending = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def offer(
        self, arms: ArmSet, live: Arm, req: RankInput, scores: Scores, score: ScoreAlone
    ) -> None:
        config, model = arms.config.shadow, arms.shadow
        if config is None or model is None or random.random() >= config.share:
            return
        batcher = live.models[0].rank_batcher
        busy = batcher is not None and batcher.queued_cost >= self.busy_pairs
        if busy or self.pending >= config.max_pending:
            self.metrics.shadow.labels("shed").inc()
            return
        self.pending += 1
        task = asyncio.get_running_loop().create_task(self._compare(model, req, scores, score))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _compare(
        self, model: LoadedModel, req: RankInput, live: Scores, score: ScoreAlone
    ) -> None:
        try:
            shadow = (await score(model, req)).scores
        except AdrankError as exc:  # overloaded, past its deadline, model gone
            self.metrics.shadow.labels("shed" if exc.status == 503 else "failed").inc()
            return
        except Exception:
            log.exception("shadow scoring failed")
            self.metrics.shadow.labels("failed").inc()
            return
        finally:
            self.pending -= 1
        a, b = live.ranking_values(req), shadow.ranking_values(req)
        self.metrics.shadow.labels("scored").inc()
        rho = spearman(a, b)
        if not np.isnan(rho):
            self.metrics.shadow_correlation.observe(rho)
        agree = int(np.argmax(a)) == int(np.argmax(b))
        self.metrics.shadow_top1.labels("yes" if agree else "no").inc()

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
