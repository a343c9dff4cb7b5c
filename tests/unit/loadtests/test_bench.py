"""The benchmark's own parts: percentiles, saturation, CPU split, tables, and the open-loop
client against a small local HTTP server (latency counts from the scheduled send)."""

import asyncio
import math
from pathlib import Path

import pytest

from loadtests.bench import parse_args
from loadtests.bench_procs import Variant
from loadtests.httpload import FAILED, Result, encode_post, latency_summary, run_open_loop
from loadtests.report import (
    EncoderPoint,
    Point,
    closed_loop_table,
    cpu_shares,
    encoder_table,
    markdown_table,
    open_loop_table,
    saturated,
    stage_medians,
    workers_note,
)


def test_latency_summary_in_ms() -> None:
    s = latency_summary([i / 1000 for i in range(1, 101)])  # 1..100 ms
    assert s["p50_ms"] == pytest.approx(50.5)
    assert s["p95_ms"] == pytest.approx(95.05)
    assert s["p99_ms"] == pytest.approx(99.01)
    assert all(math.isnan(v) for v in latency_summary([]).values())


def test_result_counts_only_200_as_served() -> None:
    r = Result(seconds=2.0)
    for status, latency in ((200, 0.010), (200, 0.030), (503, 0.001), (FAILED, 0.0)):
        r.record(status, latency)
    s = r.summary()
    assert s["rps"] == 1.0 and s["errors"] == 2.0
    assert s["p50_ms"] == pytest.approx(20.0)  # the fast 503 is not in the latencies
    other = Result(seconds=1.0)
    other.record(200, 0.02)
    r.add(other)
    assert r.ok == 3 and r.seconds == 3.0 and r.statuses[503] == 1


def test_saturation_rule() -> None:
    assert not saturated(sent=100, achieved=95, errors=0, answered=570)
    assert saturated(sent=100, achieved=80, errors=0, answered=480)  # fell behind
    assert saturated(sent=100, achieved=99, errors=10, answered=590)  # 1.7% errors
    assert not saturated(sent=100, achieved=99, errors=5, answered=595)


def test_cpu_shares() -> None:
    assert cpu_shares({1: 10.0, 2: 10.0}, {1: 13.0, 2: 11.0}) == [0.75, 0.25]
    assert cpu_shares({}, {1: 2.0, 2: 0.0}) == [1.0, 0.0]
    assert cpu_shares({1: 5.0}, {1: 5.0}) == []


def test_stage_medians() -> None:
    metrics = [{"total_ms": t, "score_ms": 1.0, "batch_size": b}
               for t, b in ((1, 1), (3, 2), (10, 4))]  # fmt: skip
    assert stage_medians(metrics) == {"total_ms": 3.0, "score_ms": 1.0, "batch_size": 2.0}
    assert stage_medians([]) == {}


def test_markdown_table_aligns_numbers_right() -> None:
    text = markdown_table(["n", "name"], [["1,200", "bare"], ["3.5", "rank"]])
    assert text.splitlines() == ["| n | name |", "|---:|---|", "| 1,200 | bare |",
                                 "| 3.5 | rank |"]  # fmt: skip


def pt(variant: str, mode: str, load: float, rps: float, split: list[float] | None = None,
       sat: bool = False) -> Point:  # fmt: skip
    return Point(variant, mode, load, rps, 1.0, 2.0, 3.0, 0, worker_cpu=split or [],
                 saturated=sat, cpu_ms=2000 / rps)  # fmt: skip


def test_tables_compare_with_bare_and_mark_saturation() -> None:
    points = [pt("bare", "closed", 64, 2000), pt("rank", "closed", 64, 500),
              pt("rank-2w-shared", "closed", 64, 450, [1.0, 0.0]),
              pt("rank", "open", 400, 380), pt("rank", "open", 800, 500, sat=True)]  # fmt: skip
    closed = closed_loop_table(points)
    assert "| 64 | rank | 500 | 1.00 | 2.00 | 3.00 | 0 | 25% | 4.00 |  |" in closed
    assert "| 64 | rank-2w-shared | 450 | 1.00 | 2.00 | 3.00 | 0 | 22% | 4.44 | 100%/0% |" in closed
    rows = open_loop_table(points).splitlines()
    assert len(rows) == 4 and rows[-1].endswith("| saturated |")
    note = workers_note(points)
    assert "`rank-2w-shared` 450 requests/s, worker CPU split 100%/0%" in note
    assert note.startswith("At 64 clients") and "one worker: 500" in note


def test_encoder_table_ratio() -> None:
    text = encoder_table([EncoderPoint("onnxruntime", 1, 640, 1.0, 64),
                          EncoderPoint("PUT /ads", 1, 640, 2.0, 64)])  # fmt: skip
    assert "| onnxruntime | 1 | 64 | 640 | 100.0 | 100% |" in text
    assert "| PUT /ads | 1 | 64 | 320 | 200.0 | 50% |" in text


async def _slow_server(delay_s: float) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                # the server's service time, which the open-loop client must measure: the
                # subject of these tests (kept), not a wait that orders their steps
                await asyncio.sleep(delay_s)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client went away, or the test is over
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_open_loop_counts_queueing_from_the_scheduled_time() -> None:
    server, port = await _slow_server(0.05)
    request = encode_post("127.0.0.1", port, "/x", b"{}")
    async with server:
        # 5 requests due at once over one connection: served one after another, 50 ms each
        result = await run_open_loop("127.0.0.1", port, [request], [0.0] * 5, connections=1)
    assert result.ok == 5 and result.errors == 0
    waits = sorted(result.latencies_s)
    for i, latency in enumerate(waits):  # a closed loop would report ~50 ms for every one
        assert latency == pytest.approx(0.05 * (i + 1), abs=0.03)
    assert result.seconds == pytest.approx(0.25, abs=0.06)


async def test_open_loop_keeps_its_schedule_with_spare_connections() -> None:
    server, port = await _slow_server(0.05)
    request = encode_post("127.0.0.1", port, "/x", b"{}")
    async with server:
        result = await run_open_loop("127.0.0.1", port, [request], [0.0, 0.01, 0.02, 0.03])
    assert result.ok == 4 and max(result.latencies_s) < 0.09


async def test_open_loop_counts_unanswered_requests_as_failed() -> None:
    server, port = await _slow_server(5.0)
    request = encode_post("127.0.0.1", port, "/x", b"{}")
    async with server:
        result = await run_open_loop("127.0.0.1", port, [request], [0.0, 0.0], drain_s=0.2)
    assert result.statuses == {FAILED: 2} and result.ok == 0


def test_extra_variants_come_from_the_command_line() -> None:
    args = parse_args(["--bundle", "b", "--extra", "rank-c1=--model.ranker-concurrency 1",
                       "--extra", "rank-plain="])  # fmt: skip
    assert args.extra == [Variant("rank-c1", ("--model.ranker-concurrency", "1")),
                          Variant("rank-plain", ())]  # fmt: skip

    for bad in ("no-equals-sign", "bare-x=--workers 2"):
        with pytest.raises(SystemExit):
            parse_args(["--bundle", "b", "--extra", bad])


def test_an_extra_variant_can_run_another_checkout(tmp_path: Path) -> None:
    (tmp_path / "adrank").mkdir()
    (tmp_path / "adrank" / "serve_cli.py").touch()
    args = parse_args(["--bundle", "b", "--extra", f"rank-prev@{tmp_path}=--workers 2"])
    assert args.extra == [Variant("rank-prev", ("--workers", "2"), tmp_path.resolve())]
    with pytest.raises(SystemExit):
        parse_args(["--bundle", "b", "--extra", f"rank-prev@{tmp_path / 'no'}="])
