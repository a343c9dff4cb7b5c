"""The context-cell offsets (``train/cell_offsets.py``) on rows of a known law."""

import math

import numpy as np
import pytest
from scipy.special import expit

from model_export.train.cell_offsets import TOPIC, Cell, FittedCell, fit_cells

FIELDS = ("device", "slot", "age_band")
SIZES = (3, 4, 5, 6)  # device, slot, age band, topic group


def rows(n: int, seed: int, tables: dict[Cell, np.ndarray]) -> tuple[np.ndarray, ...]:
    """Rows of random (device, slot, age band, topic group) whose true click logit is -2.5
    plus each cell's table entry; the model's logit knows only the -2.5."""
    rng = np.random.default_rng(seed)
    values = np.column_stack([rng.integers(0, s, n) for s in SIZES])
    true = np.full(n, -2.5)
    for cell, table in tables.items():
        i, j = cell.columns(FIELDS)
        true += table[values[:, i], values[:, j]]
    label = (rng.random(n) < expit(true)).astype(np.float64)
    return values, label, np.full(n, -2.5)


def test_cells_recover_the_tables_the_clicks_follow_and_leave_alone_one_without_effect() -> None:
    rng = np.random.default_rng(0)
    truth = {Cell("device", "slot"): rng.normal(0, 0.3, (3, 4)),
             Cell("age_band", TOPIC): rng.normal(0, 0.3, (5, 6))}  # fmt: skip
    asked = [*truth, Cell("slot", "age_band")]  # the last has no effect in the clicks
    fitted = fit_cells(asked, FIELDS, SIZES, rows(400_000, 1, truth), rows(100_000, 2, truth))
    for f, want in zip(fitted[:2], truth.values(), strict=False):
        centred = want - want.mean()
        assert np.corrcoef(f.table.ravel(), centred.ravel())[0, 1] > 0.95
        assert f.valid_logloss[1] < f.valid_logloss[0]
    idle = fitted[2]
    assert np.abs(idle.table).max() < 0.05 and idle.valid_logloss[1] <= idle.valid_logloss[0] + 1e-4


def test_a_fitted_cell_round_trips_through_its_json_form() -> None:
    table = np.arange(6, dtype=np.float64).reshape(2, 3) / 10
    for alpha in (20.0, math.inf):
        cell = FittedCell(Cell("device", TOPIC), table, alpha, (0.2, 0.19))
        back = FittedCell.from_dict(cell.to_dict())
        assert back.cell == cell.cell and back.alpha == alpha and back.valid_logloss == (0.2, 0.19)
        np.testing.assert_array_equal(back.table, table)


@pytest.mark.parametrize("text", ["device", "device:", ":slot", "slot:slot"])
def test_a_cell_is_two_different_fields(text: str) -> None:
    with pytest.raises(ValueError, match="two different fields"):
        Cell.parse(text)


def test_a_cell_names_only_context_fields_or_the_topic_group() -> None:
    assert Cell.parse("age_band:topic").columns(FIELDS) == (2, 3)
    with pytest.raises(ValueError, match="'weather' is neither a context field"):
        Cell.parse("weather:slot").columns(FIELDS)
