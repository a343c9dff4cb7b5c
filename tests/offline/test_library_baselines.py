"""`adrank evaluate --library-baselines` on the tiny run: DeepCTR-Torch's ESMM and MMoE appear
per task in conversions.md beside the run, and their training in report.json."""

import json
from pathlib import Path

import pytest

from adrank.cli import main


def test_library_baselines_are_rows_of_the_conversion_report(
    tiny_run: Path, tiny_data: Path, cache_dir: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out = tmp_path / "eval"
    args = ["evaluate", str(tiny_run), "--data", str(tiny_data), "--cache-dir", str(cache_dir)]
    main([*args, "--library-baselines", "--out", str(out)])
    table = (out / "conversions.md").read_text().split("\n## ")[0]  # the per-task table
    names = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")]
    assert names[1:] == ["adrank", "ctr_only", "deepctr_esmm", "deepctr_mmoe", "oracle"]
    conversions = json.loads((out / "report.json").read_text())["conversions"]
    for name in ("deepctr_esmm", "deepctr_mmoe"):
        tasks = conversions["tasks"][name]
        assert 0.0 <= tasks["cvr"]["expected_auc"] <= 1.0, name
        assert 0.0 <= tasks["ctcvr"]["auc"] <= 1.0, name
        training = conversions["library_training"][name]
        assert 1 <= training["best_epoch"] <= len(training["history"]), name
    assert "| deepctr_esmm |" in capsys.readouterr().out
