"""A run beside the ceilings: each tower swapped for the truth in turn."""

from pathlib import Path

import pytest

from model_export.data.sources import load_source, split_for
from model_export.data.synth_world import load_world
from model_export.evaluate.cvr_ceiling import ceilings, run_rows


def test_a_runs_towers_are_each_replaced_by_the_truth(
    tiny_data: Path, tiny_run: Path, cache_dir: Path
) -> None:
    log = load_source(str(tiny_data), cache_dir, False)
    split = split_for(log, "standard", 0)
    rows = run_rows(tiny_run, log, split, cache_dir)
    oracle = ceilings(log, split, load_world(tiny_data))["oracle (whole truth)"]
    # the true pCVR ranks conversions as the oracle does; the run's own pCVR does not
    assert rows["the run's pCTR × true pCVR"]["cvr_expected_auc"] == pytest.approx(
        oracle["cvr_expected_auc"]
    )
    own = rows["the run"]["cvr_expected_auc"]
    assert rows["true pCTR × the run's pCVR"]["cvr_expected_auc"] == pytest.approx(own)
    assert own < oracle["cvr_expected_auc"]
    # with both towers the truth's, CTCVR would be the oracle's; each swap moves towards it
    for swapped in ("the run's pCTR × true pCVR", "true pCTR × the run's pCVR"):
        assert rows[swapped]["ctcvr_expected_auc"] > rows["the run"]["ctcvr_expected_auc"]
