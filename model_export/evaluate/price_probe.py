"""Does the frozen text vector of an ad carry its price? A linear probe on the synthetic ads.

    HF_HUB_OFFLINE=1 .venv/bin/python -m model_export.evaluate.price_probe data/synth-default

The synthetic conversion truth lowers conversion with the ad's price against its vertical's
usual one, and every ad's description ends with its price ("From $61.96."). This fits ridge
regressions of the log price (5-fold cross-validated R²) on the ad's mean-pooled MiniLM
features (what fast training reads), on its category alone, and — the part the conversion
truth reads — of the price within its category on the pooled features.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import cross_val_score

from model_export.data.clicklog import ADS_FILE
from model_export.data.io import read_ads
from model_export.model.encoder import PooledBert, load_bert, minilm_dir
from model_export.train.config import TrainConfig
from model_export.train.embed import pooled_features
from service.features.text import ad_text
from service.features.tokens import TextTokenizer


def r2(features: np.ndarray, target: np.ndarray) -> float:
    """Mean 5-fold cross-validated R² of a ridge regression (alpha picked inside)."""
    ridge = RidgeCV(alphas=np.logspace(-3, 3, 13))
    return float(cross_val_score(ridge, features, target, cv=5, scoring="r2").mean())


def probe(ads: pd.DataFrame, pooled: np.ndarray) -> dict[str, float]:
    """R² of the log price: from the pooled features, from the category, and of the price
    within its category (the residual of the category means) from the pooled features."""
    log_price = np.log(ads["price"].to_numpy(np.float64))
    category = pd.get_dummies(ads["category"]).to_numpy(np.float64)
    within = log_price - category @ np.linalg.lstsq(category, log_price, rcond=None)[0]
    return {
        "log price from the text vector": r2(pooled, log_price),
        "log price from the category": r2(category, log_price),
        "price within its category from the text vector": r2(pooled, within),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a directory written by `adrank synth`")
    args = parser.parse_args()
    ads = read_ads(args.data / ADS_FILE)
    texts = [ad_text(*row) for row in ads[["title", "description", "category"]].to_numpy()]
    cfg = TrainConfig()  # the text features fast training reads
    tokenizer = TextTokenizer(minilm_dir() / "tokenizer.json", cfg.max_tokens)
    bert = PooledBert(load_bert(minilm_dir()))
    pooled = pooled_features(bert, tokenizer, texts, cfg.length_buckets)
    for name, value in probe(ads, pooled).items():
        print(f"{name}: R² {value:.3f}")


if __name__ == "__main__":
    main()
