"""Reads of single keys made in the same event-loop turn go out as one multi-key call.

On the request path every /rank reads its user's matrix. Under load many requests reach that
read together (a ranker batch finishes, its clients send their next requests at once); one
MGET for all of them costs one command's Python and socket work in place of one each. The
first read of a turn schedules the flush with ``call_soon``, so a lone request waits no
longer than that hop. A failed call fails every read it carried.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

Fetch = Callable[[list[str]], Awaitable[list[Any]]]


class ReadCoalescer:
    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch
        self._keys: list[str] = []
        self._waiters: list[asyncio.Future[Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, key: str) -> asyncio.Future[Any]:
        """A future of ``key``'s value, read together with the other keys of this turn."""
        loop = asyncio.get_running_loop()
        if not self._keys:
            loop.call_soon(self._flush)
        future = loop.create_future()
        self._keys.append(key)
        self._waiters.append(future)
        return future

    def _flush(self) -> None:
        keys, waiters = self._keys, self._waiters
        self._keys, self._waiters = [], []
        task = asyncio.get_running_loop().create_task(self._read(keys, waiters))
        self._tasks.add(task)  # held until done, so it is not collected mid-flight
        task.add_done_callback(self._tasks.discard)

    async def _read(self, keys: list[str], waiters: list[asyncio.Future[Any]]) -> None:
        try:
            values = await self._fetch(keys)
        except Exception as exc:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        except BaseException:  # cancelled (shutdown): nobody may wait forever
            for waiter in waiters:
                waiter.cancel()
            raise
        for waiter, value in zip(waiters, values, strict=True):
            if not waiter.done():
                waiter.set_result(value)
