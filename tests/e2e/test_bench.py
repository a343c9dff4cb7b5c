"""The benchmark driver's smoke run (``--quick``) against the tiny bundle: it starts what it
needs, measures every variant and writes the report, the plot and the raw results."""

import json
import subprocess
import sys
from pathlib import Path

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
