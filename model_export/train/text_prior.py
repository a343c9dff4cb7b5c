"""A prior from each ad's text for its click offset (``ad_offsets.py``).

An ad with few clicks says little about its own click rate, so its offset is shrunk towards
0: towards what the model says. Its words say more than that. Ads that share an offer
phrase, a brand or a product share part of what the model's text vector misses about them,
and their pooled clicks show it. A Poisson regression of the ads' training clicks on the
1–2-grams of their texts (the clicks the model expects as exposure, an L2 penalty picked on
the validation split) predicts each ad's click-rate multiplier from its words; the ad's
Gamma prior is centred on that prediction instead of on 1.
"""

from collections.abc import Sequence

import numpy as np
from scipy.sparse import spmatrix
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import PoissonRegressor

NGRAMS = (1, 2)
MIN_ADS = 5  # an n-gram in fewer ads' texts is left out
PENALTIES = (0.01, 0.03, 0.1, 0.3)  # sklearn's alpha: per unit of mean exposure


def text_priors(
    texts: Sequence[str], clicks: np.ndarray, expected: np.ndarray
) -> dict[float, np.ndarray]:
    """Per penalty of ``PENALTIES``, each ad's click-rate multiplier (``clicks`` over the
    model's ``expected`` clicks) predicted from the n-grams of its text; none when no n-gram
    is in enough ads' texts."""
    features = _ngrams(texts)
    if features is None:
        return {}
    return {p: _poisson_fit(features, clicks, expected, p) for p in PENALTIES}


def _ngrams(texts: Sequence[str]) -> spmatrix | None:
    try:
        return CountVectorizer(ngram_range=NGRAMS, min_df=MIN_ADS, binary=True).fit_transform(texts)
    except ValueError:  # "no terms remain": too few ads share any n-gram
        return None


def _poisson_fit(
    features: spmatrix, clicks: np.ndarray, expected: np.ndarray, penalty: float
) -> np.ndarray:
    model = PoissonRegressor(alpha=penalty, max_iter=1000)
    model.fit(features, clicks / expected, sample_weight=expected)
    return model.predict(features)
