"""Redis clients of the service: one Redis (``redis.asyncio.Redis``) or a Redis Cluster
(``redis.asyncio.cluster.RedisCluster``), both on hiredis, with per-call socket timeouts and
no retries — on the request path a retry only adds latency; the circuit breaker and the
fallbacks handle failures.

In a cluster, ``url`` names any one node; the client asks it for the slot map and opens
connections to every node (``max_connections`` per node).
"""

import asyncio
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Client = aioredis.Redis | RedisCluster


def make_client(url: str, timeout_s: float, max_connections: int, cluster: bool) -> Client:
    options: dict[str, Any] = {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "retry": Retry(NoBackoff(), 0),
        "max_connections": max_connections,
        "health_check_interval": 0,
        "driver_info": None,  # no CLIENT SETINFO on each new connection
    }
    if cluster:
        return RedisCluster.from_url(url, **options)
    return aioredis.Redis.from_url(url, retry_on_timeout=False, **options)


async def warm(client: Client, n: int) -> None:
    """Open ``n`` connections now (to every node of a cluster), so a burst does not pay
    for connecting. Failures are logged, not raised: start-up goes on, readiness tells.

    A cluster client is initialised here, before any traffic: redis-py's async cluster
    client (8.1) fails about half of a burst of concurrent first calls with
    ``ConnectionError`` when the burst itself triggers its lazy initialisation.
    """
    if isinstance(client, RedisCluster):
        await _warm_cluster(client, n)
        return
    pool = client.connection_pool
    got = await asyncio.gather(*(pool.get_connection() for _ in range(n)),
                               return_exceptions=True)  # fmt: skip
    for conn in got:
        if not isinstance(conn, BaseException):
            await pool.release(conn)


async def _warm_cluster(client: RedisCluster, n: int) -> None:
    try:
        await client.initialize()  # reads the slot map from the node named by the URL
    except (RedisError, OSError) as exc:
        log.warning("redis cluster not reachable at start-up: %s", type(exc).__name__)
        return
    for node in client.get_nodes():
        conns = [node.acquire_connection() for _ in range(min(n, node.max_connections))]
        await asyncio.gather(*(c.connect() for c in conns), return_exceptions=True)
        for conn in conns:
            node.release(conn)


async def ping(client: Client) -> bool:
    """Does Redis answer? In a cluster: does every primary answer (a primary down means a
    share of the users and ads cannot be read)."""
    try:
        if isinstance(client, RedisCluster):
            return bool(await client.ping(target_nodes=RedisCluster.PRIMARIES))
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
