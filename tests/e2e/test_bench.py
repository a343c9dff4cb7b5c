"""The benchmark driver's smoke run (``--quick``) against the tiny bundle: it starts what it
needs, measures every variant and writes the report, the plot and the raw results; and the
GIL profile of one loaded worker."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtests.gil_profile import PY_SPY
from tests.support.processes import ROOT

BARE = ("bare", "bare-2w")
VARIANTS = (*BARE, "rank", "rank-nobatch", "rank-2w-reuseport", "rank-2w-shared")


def test_quick_bench_writes_tables_and_plot(tiny_bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    done = subprocess.run([sys.executable, "-m", "loadtests.bench", "--bundle", str(tiny_bundle),
                           "--quick", "--out", str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=150)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = (out / "bench.md").read_text()
    assert report in done.stdout  # printed as well
    for variant in VARIANTS:
        for clients in (1, 16):
            assert f"| {clients} | {variant} | " in report
    for variant in VARIANTS[len(BARE) :]:
        assert f"| 20 | {variant} | " in report  # the first open-loop rate
    assert "| onnxruntime | 1 | 64 | " in report and "| PUT /ads | 4 | 64 | " in report
    assert "At 16 clients: `rank-2w-reuseport`" in report
    assert (out / "latency_vs_throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((out / "results.json").read_text())
    closed = [p for p in results["points"] if p["mode"] == "closed"]
    assert {p["variant"] for p in closed} == set(VARIANTS)
    assert all(p["errors"] == 0 and p["rps"] > 0 for p in closed)
    assert all(p["cpu_ms"] > 0 for p in closed)  # server CPU per request, every variant
    assert all(p["stages"]["score_ms"] > 0 for p in closed if p["variant"] not in BARE)
    assert all(len(p["worker_cpu"]) == 2 for p in closed if "2w" in p["variant"])


@pytest.fixture
def py_spy_attaches() -> None:
    """py-spy reads another process's memory (ptrace), which some containers forbid."""
    if PY_SPY is None:
        pytest.skip("py-spy is not installed")
    target = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.3)
        dump = subprocess.run([PY_SPY, "dump", "--pid", str(target.pid)], capture_output=True,
                              timeout=30)  # fmt: skip
    finally:
        target.kill()
        target.wait()
    if dump.returncode != 0:
        pytest.skip(f"py-spy cannot attach here: {dump.stderr.decode()[-300:]}")


@pytest.mark.usefixtures("py_spy_attaches")
def test_gil_profile_samples_a_loaded_worker(tiny_bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "gil"
    done = subprocess.run([sys.executable, "-m", "loadtests.gil_profile", "--bundle",
                           str(tiny_bundle), "--out", str(out), "--clients", "4", "--seconds",
                           "2", "--warmup-s", "0.5", "--ads", "100", "--users", "20"],
                          cwd=ROOT, capture_output=True, text=True, timeout=150)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = (out / "gil_profile.md").read_text()
    assert "| MainThread | " in report and "| adrank-ranker_0 | " in report
    assert "`RankRun.scored (service/rank/serving.py)`" in report  # the loop ran /rank
    assert (out / "gil.txt").stat().st_size > 0 and (out / "threads.txt").stat().st_size > 0
