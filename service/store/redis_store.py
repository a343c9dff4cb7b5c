"""Redis I/O of the service (redis.asyncio + hiredis), behind the small ``Store`` seam.

The request path makes one round trip: a pipeline of GET user + MGET ads. Calls have short
timeouts and go through a circuit breaker; a failed read is reported, never raised, so the
caller can answer from its fallback (cold-start user, ads from text or prior). Writes raise
:class:`DependencyDown`. Clients are built without retries: a retry would only add latency.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, WatchError

from service.errors import DependencyDown
from service.metrics import Metrics
from service.settings import RedisSettings
from service.store.breaker import CircuitBreaker
from service.store.keys import KeyLayout

_MAX_ATTEMPTS = 20
UserUpdate = Callable[[bytes | None, bytes | None], Awaitable[tuple[bytes, bytes]]]
"""(old matrix, old raw history) → (new matrix, new raw history)"""


@dataclass(frozen=True)
class RankRead:
    """What the request path read: ``ok`` False means Redis failed (or the breaker is open)."""

    user: bytes | None
    ads: list[bytes | None]
    ok: bool
    seconds: float


def make_client(url: str, timeout_s: float, max_connections: int) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        max_connections=max_connections,
        health_check_interval=0,
        driver_info=None,  # no CLIENT SETINFO on each new connection
    )


class RedisStore:
    def __init__(self, url: str, settings: RedisSettings, metrics: Metrics) -> None:
        self.url = url
        self.keys = KeyLayout(settings.key_prefix)
        self.settings = settings
        self.metrics = metrics
        self.fast = make_client(url, settings.timeout_ms / 1000, settings.max_connections)
        self.slow = make_client(url, settings.write_timeout_ms / 1000, settings.max_connections)
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset_s)

    async def warm(self, n: int) -> None:
        """Open ``n`` request-path connections now, so a burst does not pay for connecting."""
        pool = self.fast.connection_pool
        got = await asyncio.gather(*(pool.get_connection() for _ in range(n)),
                                   return_exceptions=True)  # fmt: skip
        for conn in got:
            if not isinstance(conn, BaseException):
                await pool.release(conn)

    async def close(self) -> None:
        await self.fast.aclose()
        await self.slow.aclose()

    async def read_for_rank(self, version: str, user_id: str, ad_ids: Sequence[str]) -> RankRead:
        """GET the user's matrix and MGET the given ads in one round trip."""
        start = time.perf_counter()
        if not self.breaker.allow():
            self.metrics.redis_errors.labels("rank_read", "breaker_open").inc()
            return RankRead(None, [None] * len(ad_ids), False, 0.0)
        replies: list[Any]
        try:
            if not ad_ids:  # warm cache: a plain GET costs ~30 µs less than a pipeline
                replies = [await self.fast.get(self.keys.user(version, user_id)), []]
            else:
                async with self.fast.pipeline(transaction=False) as pipe:
                    pipe.get(self.keys.user(version, user_id))
                    pipe.mget([self.keys.ad(version, a) for a in ad_ids])
                    replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            return self._failed("rank_read", exc, start, len(ad_ids))
        self._succeeded("rank_read", start)
        return RankRead(replies[0], replies[1], True, time.perf_counter() - start)

    def _failed(self, op: str, exc: BaseException, start: float, n_ads: int) -> RankRead:
        self.breaker.failure()
        self.metrics.breaker_open.set(self.breaker.state != "closed")
        self.metrics.redis_errors.labels(op, type(exc).__name__).inc()
        return RankRead(None, [None] * n_ads, False, time.perf_counter() - start)

    def _succeeded(self, op: str, start: float) -> None:
        self.metrics.redis_latency.labels(op).observe(time.perf_counter() - start)
        if self.breaker.state != "closed":
            self.metrics.breaker_open.set(0)
        self.breaker.success()

    async def write(self, op: str, pairs: Sequence[tuple[str, bytes]], ttl_s: int) -> None:
        """SET many keys with a TTL in one pipeline; raise DependencyDown when Redis fails."""
        start = time.perf_counter()
        try:
            async with self.slow.pipeline(transaction=False) as pipe:
                for key, value in pairs:
                    pipe.set(key, value, ex=ttl_s)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self.breaker.failure()
            self.metrics.redis_errors.labels(op, type(exc).__name__).inc()
            raise DependencyDown(f"Redis write failed ({type(exc).__name__})") from exc
        self._succeeded(op, start)

    async def ping(self) -> bool:
        try:
            return bool(await self.fast.ping())
        except (RedisError, OSError):
            return False

    async def update_user(self, version: str, user_id: str, compute: UserUpdate) -> None:
        """Read-modify-write of one user's matrix and raw history, atomically.

        WATCH both keys, read them, ``compute`` the new values, write them in MULTI/EXEC;
        if another writer changed either key in between, EXEC fails and we start over —
        so two racing event batches for one user never lose each other's events.
        """
        keys = (self.keys.user(version, user_id), self.keys.history(user_id))
        start = time.perf_counter()
        try:
            for _ in range(_MAX_ATTEMPTS):
                if await self._try_update(keys, compute):
                    self._succeeded("update_user", start)
                    return
            raise DependencyDown(f"user update kept conflicting ({_MAX_ATTEMPTS} attempts)")
        except (RedisError, OSError) as exc:
            self.breaker.failure()
            self.metrics.redis_errors.labels("update_user", type(exc).__name__).inc()
            raise DependencyDown(f"Redis user update failed ({type(exc).__name__})") from exc

    async def _try_update(self, keys: tuple[str, str], compute: UserUpdate) -> bool:
        async with self.slow.pipeline(transaction=True) as pipe:
            await pipe.watch(*keys)
            matrix, history = await pipe.mget(keys)  # bytes: no decode_responses
            new_matrix, new_history = await compute(_raw(matrix), _raw(history))
            pipe.multi()
            pipe.set(keys[0], new_matrix, ex=self.settings.user_ttl_s)
            pipe.set(keys[1], new_history, ex=self.settings.user_ttl_s)
            try:
                await pipe.execute()
            except WatchError:
                return False
        return True


def _raw(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value
