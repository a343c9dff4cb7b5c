"""The GIL profile's reading of py-spy's collapsed stacks: threads, the loop's entry chain,
inclusive counts, and the tables."""

from loadtests.gil_profile import (
    LOOP_OWN,
    function_table,
    gil_table,
    inclusive,
    parse_collapsed,
    per_thread,
)

RAW = """\
thread (0x1): MainThread;<module> (serve_cli.py:9);Runner.run (asyncio/runners.py:118);\
run_asgi (uvicorn/h.py:401);_rank (service/serving.py:90);gather (service/cache.py:42) 6
thread (0x1): MainThread;<module> (serve_cli.py:9);Runner.run (asyncio/runners.py:118);\
run_asgi (uvicorn/h.py:401);_rank (service/serving.py:99) 3
thread (0x1): MainThread;<module> (serve_cli.py:9);Runner.run (asyncio/runners.py:118) 1
thread (0x2): adrank-ranker_0;_worker (thread.py:89);run (service/ranker.py:60) 2
"""


def test_parse_strips_line_numbers_and_the_entry_chain() -> None:
    stacks = parse_collapsed(RAW)
    assert [s.thread for s in stacks] == ["MainThread"] * 3 + ["adrank-ranker_0"]
    assert stacks[0].frames == ("run_asgi (uvicorn/h.py)", "_rank (service/serving.py)",
                                "gather (service/cache.py)")  # fmt: skip
    assert stacks[2].frames == ()  # the loop's own code
    assert stacks[3].frames[0] == "_worker (thread.py)"  # no entry chain: kept whole
    assert per_thread(stacks) == {"MainThread": 10, "adrank-ranker_0": 2}


def test_inclusive_counts_a_function_once_per_stack_across_lines() -> None:
    raw = RAW + "thread (0x1): MainThread;Runner.run (a.py:1);f (x.py:1);f (x.py:2) 4\n"
    counts = inclusive(parse_collapsed(raw), "MainThread")
    assert counts["_rank (service/serving.py)"] == 9  # lines 90 and 99 are one function
    assert counts["f (x.py)"] == 4  # recursion is not double-counted
    assert counts[LOOP_OWN] == 1
    assert "run (service/ranker.py)" not in counts  # another thread


def test_tables_give_shares_of_wall_time_and_time_per_request() -> None:
    stacks = parse_collapsed(RAW)
    table = gil_table(stacks, instants=100, rps=1000.0)  # 1 ms per request
    assert "| MainThread | 10.0% | 0.100 |" in table
    assert "| adrank-ranker_0 | 2.0% | 0.020 |" in table
    assert "| all threads | 12.0% | 0.120 |" in table
    functions = function_table(stacks, instants=100, rps=1000.0)
    assert "| `_rank (service/serving.py)` | 90.0% | 90 |" in functions
    assert "| `gather (service/cache.py)` | 60.0% | 60 |" in functions
