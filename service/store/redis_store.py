"""Redis I/O of the service (redis.asyncio + hiredis; one Redis or a Redis Cluster).

The request path makes one round trip: with one Redis, a pipeline of GET user + MGET ads;
in a cluster, the GET of the user (one slot) and the MGET of the cache misses (grouped by
node) go out concurrently. When every ad is cached in process (the common case) only the
user is read, and the users of requests arriving together are read in one MGET. Calls have
short timeouts and go through a circuit breaker; a failed read is reported, never raised, so
the caller can answer from its fallback (cold-start user, ads from text or prior). Writes
raise :class:`DependencyDown`. Clients are built without retries (clients.py): a retry would
only add latency.
"""

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from service.errors import DependencyDown
from service.metrics import Metrics
from service.settings import RedisSettings
from service.store import clients
from service.store.breaker import CircuitBreaker
from service.store.coalesce import ReadCoalescer
from service.store.keys import KeyLayout

_MAX_ATTEMPTS = 20
_SET_IF_UNCHANGED = """
for i = 1, 2 do
  local value = redis.call('GET', KEYS[i])
  if (value and redis.sha1hex(value) or '') ~= ARGV[i] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[5])
redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[5])
return 1
"""
"""KEYS: matrix, history (one slot). ARGV: sha1 of the values read ('' = none), the new
values, TTL. Writes both only if neither changed since it was read; returns 1 if written."""
UserUpdate = Callable[[bytes | None, bytes | None], Awaitable[tuple[bytes, bytes]]]
"""(old matrix, old raw history) → (new matrix, new raw history)"""


@dataclass(frozen=True)
class RankRead:
    """What the request path read: ``ok`` False means Redis failed (or the breaker is open)."""

    user: bytes | None
    ads: list[bytes | None]
    ok: bool
    seconds: float


class RedisStore:
    def __init__(self, url: str, settings: RedisSettings, metrics: Metrics) -> None:
        self.url = url
        self.keys = KeyLayout(settings.key_prefix)
        self.settings = settings
        self.metrics = metrics
        self.read_timeout_s = settings.timeout_ms / 1000
        self.fast = clients.make_client(
            url, self.read_timeout_s, settings.max_connections, settings.cluster
        )
        self.slow = clients.make_client(
            url, settings.write_timeout_ms / 1000, settings.max_connections, settings.cluster
        )
        self._set_if_unchanged = self.slow.register_script(_SET_IF_UNCHANGED)
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset_s)
        self._user_reads = ReadCoalescer(self._read_users)

    async def warm(self, n: int) -> None:
        """Open ``n`` request-path connections now, so a burst does not pay for connecting
        (and, in a cluster, read the slot map into both clients: see clients.warm)."""
        await clients.warm(self.fast, n)
        await clients.warm(self.slow, 0)

    async def close(self) -> None:
        await self.fast.aclose()
        await self.slow.aclose()

    async def read_for_rank(self, version: str, user_id: str, ad_ids: Sequence[str]) -> RankRead:
        """The user's matrix and the given ads in one round trip. With no ads to read (a warm
        ad cache) the user's GET joins the other requests' of this loop turn in one MGET."""
        start = time.perf_counter()
        if not self.breaker.allow():
            self.metrics.redis_errors.labels("rank_read", "breaker_open").inc()
            return RankRead(None, [None] * len(ad_ids), False, 0.0)
        user_key = self.keys.user(version, user_id)
        if not ad_ids:
            try:
                user = await self._user_reads.get(user_key)
            except (RedisError, OSError):  # counted once, by the shared call
                return RankRead(None, [], False, time.perf_counter() - start)
            return RankRead(user, [], True, time.perf_counter() - start)
        ad_keys = [self.keys.ad(version, a) for a in ad_ids]
        try:
            if isinstance(self.fast, RedisCluster):
                user, ads = await self._read_cluster(self.fast, user_key, ad_keys)
            else:
                user, ads = await self._read(user_key, ad_keys)
        except (RedisError, OSError) as exc:  # OSError includes TimeoutError
            self._count_failure("rank_read", exc)
            return RankRead(None, [None] * len(ad_ids), False, time.perf_counter() - start)
        self._succeeded("rank_read", start)
        return RankRead(user, ads, True, time.perf_counter() - start)

    async def _read_users(self, keys: list[str]) -> list[Any]:
        """One MGET of the users read in one loop turn (see ReadCoalescer)."""
        start = time.perf_counter()
        try:
            if isinstance(self.fast, RedisCluster):  # grouped by slot, nodes at once
                async with asyncio.timeout(self.read_timeout_s):
                    values = await self.fast.mget_nonatomic(keys)
            else:
                values = await self.fast.mget(keys)
        except (RedisError, OSError) as exc:
            self._count_failure("rank_read", exc)
            raise
        self._succeeded("rank_read", start)
        return values

    async def _read(self, user_key: str, ad_keys: list[str]) -> tuple[Any, list[Any]]:
        async with self.fast.pipeline(transaction=False) as pipe:
            pipe.get(user_key)
            pipe.mget(ad_keys)
            user, ads = await pipe.execute()
        return user, ads

    async def _read_cluster(
        self, client: RedisCluster, user_key: str, ad_keys: list[str]
    ) -> tuple[Any, list[Any]]:
        """The user's slot and the misses' nodes at once; the whole read within the
        per-call timeout (a cluster client may also re-read the slot map after a failure)."""
        async with asyncio.timeout(self.read_timeout_s):
            user, ads = await asyncio.gather(client.get(user_key), client.mget_nonatomic(ad_keys))
        return user, ads

    def _count_failure(self, op: str, exc: BaseException) -> None:
        self.breaker.failure()
        self.metrics.breaker_open.set(self.breaker.state != "closed")
        self.metrics.redis_errors.labels(op, type(exc).__name__).inc()

    def _succeeded(self, op: str, start: float) -> None:
        self.metrics.redis_latency.labels(op).observe(time.perf_counter() - start)
        if self.breaker.state != "closed":
            self.metrics.breaker_open.set(0)
        self.breaker.success()

    async def write(self, op: str, pairs: Sequence[tuple[str, bytes]], ttl_s: int) -> None:
        """SET many keys with a TTL in one pipeline; raise DependencyDown when Redis fails."""

        def fill(pipe: Any) -> None:
            for key, value in pairs:
                pipe.set(key, value, ex=ttl_s)

        await self.pipeline(op, fill)

    async def pipeline(self, op: str, fill: Callable[[Any], None]) -> None:
        """One pipeline of the commands ``fill`` queues (not a transaction: each command is
        atomic on its own); raise DependencyDown when Redis fails."""
        start = time.perf_counter()
        try:
            async with self.slow.pipeline(transaction=False) as pipe:
                fill(pipe)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._count_failure(op, exc)
            raise DependencyDown(f"Redis write failed ({type(exc).__name__})") from exc
        self._succeeded(op, start)

    async def get_many(self, op: str, keys: list[str]) -> list[bytes | None]:
        """MGET on the write path's client (keys of one slot in a cluster); raise
        DependencyDown when Redis fails."""
        start = time.perf_counter()
        try:
            if isinstance(self.slow, RedisCluster):
                values = await self.slow.mget_nonatomic(keys)
            else:
                values = await self.slow.mget(keys)
        except (RedisError, OSError) as exc:
            self._count_failure(op, exc)
            raise DependencyDown(f"Redis read failed ({type(exc).__name__})") from exc
        self._succeeded(op, start)
        return [_raw(v) for v in values]

    async def ping(self) -> bool:
        return await clients.ping(self.fast)

    async def update_user(self, version: str, user_id: str, compute: UserUpdate) -> None:
        """Read-modify-write of one user's matrix and raw history, atomically.

        Read both keys (one slot: keys.py), ``compute`` the new values, and write them with
        a script that first checks that neither key changed since the read (compare and
        set on their SHA-1); if another writer got there first, start over — so two racing
        event batches for one user never lose each other's events. The same code runs on
        one Redis and on a cluster (a script over keys of one slot runs on that slot's node;
        redis-py's async cluster pipeline cannot WATCH without blocking the event loop).
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
            self._count_failure("update_user", exc)
            raise DependencyDown(f"Redis user update failed ({type(exc).__name__})") from exc

    async def _try_update(self, keys: tuple[str, str], compute: UserUpdate) -> bool:
        old = await self.slow.mget(keys)  # one slot
        matrix, history = _raw(old[0]), _raw(old[1])
        new_matrix, new_history = await compute(matrix, history)
        args = (_digest(matrix), _digest(history), new_matrix, new_history,
                self.settings.user_ttl_s)  # fmt: skip
        return bool(await self._set_if_unchanged(keys=keys, args=args))


def _raw(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value  # bytes: no decode_responses


def _digest(value: bytes | None) -> str:
    """What the script compares: SHA-1 hex of a value read, '' for a missing key."""
    return "" if value is None else hashlib.sha1(value).hexdigest()
