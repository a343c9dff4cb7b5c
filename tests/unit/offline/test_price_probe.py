"""The price probe's R² reads what features carry: the within-category price or nothing."""

import numpy as np
import pandas as pd

from model_export.evaluate.price_probe import probe


def test_the_probe_finds_a_price_that_is_there_and_none_that_is_not() -> None:
    rng = np.random.default_rng(0)
    n = 600
    category = rng.choice(["a", "b", "c"], n)
    typical = pd.Series({"a": 3.0, "b": 5.0, "c": 7.0})[category].to_numpy()
    level = 0.6 * rng.standard_normal(n)
    ads = pd.DataFrame({"category": category, "price": np.exp(typical + level)})
    noise = rng.standard_normal((n, 8))
    knows = probe(ads, np.column_stack([level, noise]))
    blind = probe(ads, noise)
    assert knows["price within its category from the text vector"] > 0.95
    assert blind["price within its category from the text vector"] < 0.05
    assert blind["log price from the category"] > 0.8  # 2.67 / (2.67 + 0.36) expected
