"""The read coalescer with a fake multi-key read (no Redis): reads of one loop turn share a
call, later turns get their own, a failed call fails each of its reads."""

import asyncio

import pytest

from service.store.coalesce import ReadCoalescer


class FakeStore:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail

    async def mget(self, keys: list[str]) -> list[str]:
        self.calls.append(keys)
        await asyncio.sleep(0)  # in flight for a loop turn, as a network read is (no timed wait)
        if self.fail:
            raise ConnectionError("down")
        return [f"value of {k}" for k in keys]


async def test_reads_of_one_turn_share_one_call_in_order() -> None:
    store = FakeStore()
    reads = ReadCoalescer(store.mget)
    values = await asyncio.gather(*(reads.get(f"u{i}") for i in range(5)))
    assert values == [f"value of u{i}" for i in range(5)]
    assert store.calls == [["u0", "u1", "u2", "u3", "u4"]]


async def test_requests_arriving_together_share_a_call_and_later_ones_get_their_own() -> None:
    store = FakeStore()
    reads = ReadCoalescer(store.mget)

    async def request(user: str) -> str:
        return await reads.get(user)

    first = await asyncio.gather(request("a"), request("b"), request("a"))
    later = await request("c")
    assert first == ["value of a", "value of b", "value of a"] and later == "value of c"
    assert store.calls == [["a", "b", "a"], ["c"]]


async def test_a_failed_call_fails_each_read_and_a_gone_reader_is_skipped() -> None:
    store = FakeStore(fail=True)
    reads = ReadCoalescer(store.mget)
    gone = reads.get("left")
    waiting = [reads.get("u1"), reads.get("u2")]
    gone.cancel()
    for read in waiting:
        with pytest.raises(ConnectionError):
            await read
    assert store.calls == [["left", "u1", "u2"]]
