"""The uplift plot's reading of an ``adrank copy --truth`` run: every kept variant with a truth,
the chosen one marked; its summary and its PNG."""

import json
from pathlib import Path

import numpy as np

from model_export.copy import uplift_plot


def _variant(uplift: float, true: float | None) -> dict:
    return {"title": "t", "description": "d", "uplift": uplift, "true_uplift": true}


RUN = {"ads": [
    {"kept": [_variant(0.10, 0.15), _variant(-0.04, 0.0)], "chosen": 0},
    {"kept": [_variant(0.02, -0.30)], "chosen": 0},
    {"kept": [_variant(-0.01, 0.01), _variant(-0.02, None)], "chosen": None},
    {"kept": [], "chosen": None},
]}  # fmt: skip


def test_every_kept_variant_with_a_truth_and_the_chosen_ones() -> None:
    predicted, true, chosen = uplift_plot.uplifts(RUN)
    np.testing.assert_allclose(predicted, [0.10, -0.04, 0.02, -0.01])
    np.testing.assert_allclose(true, [0.15, 0.0, -0.30, 0.01])
    assert chosen.tolist() == [True, False, True, False]


def test_the_summary_counts_chosen_variants_that_truly_win() -> None:
    line = uplift_plot.summary("run", *uplift_plot.uplifts(RUN))
    assert "4 scored variants" in line and "2 chosen, 50% of them truly better" in line
    assert "mean true uplift of the chosen -7.5%" in line


def test_the_command_writes_a_png(tmp_path: Path, capsys, monkeypatch) -> None:
    run = tmp_path / "tuned.json"
    run.write_text(json.dumps(RUN))
    out = tmp_path / "uplift.png"
    monkeypatch.setattr("sys.argv", ["uplift_plot", str(run), "--out", str(out)])
    uplift_plot.main()
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert capsys.readouterr().out.startswith("tuned: 4 scored variants")
