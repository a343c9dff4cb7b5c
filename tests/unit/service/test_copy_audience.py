"""The audience's pure parts: the summary of a (texts × users) pCTR matrix on crafted arrays,
the SCAN pattern and key parsing of user matrices, the seeded sample."""

import re

import numpy as np
import pytest

from service.copy.audience import (
    sample_ids,
    summarise,
    unescape,
    user_id_of_key,
    user_key_pattern,
)
from service.store.keys import KeyLayout, escape


def test_summary_of_crafted_scores() -> None:
    p = np.array(
        [
            [0.10, 0.20, 0.10, 0.40],  # the original: mean 0.2
            [0.20, 0.20, 0.05, 0.40],  # user ratios 2, 1, 0.5, 1; mean 0.2125
            [0.05, 0.10, 0.05, 0.20],  # half of the original for everyone
        ]
    )
    original, mixed, half = summarise(p)
    assert original.mean_pctr == pytest.approx(0.2)
    assert original.uplift == 0 and original.uplift_std == 0 and original.share_better == 0
    assert mixed.mean_pctr == pytest.approx(0.2125)
    assert mixed.uplift == pytest.approx(0.0625)  # a ratio of means, not a mean of ratios
    per_user = np.array([1.0, 0.0, -0.5, 0.0])
    assert mixed.uplift_std == pytest.approx(per_user.std())
    assert mixed.uplift_p10 == pytest.approx(np.percentile(per_user, 10))
    assert mixed.uplift_p90 == pytest.approx(np.percentile(per_user, 90))
    assert mixed.share_better == 0.25  # a tie is not better
    assert half.uplift == pytest.approx(-0.5)
    assert half.uplift_std == pytest.approx(0) and half.uplift_p10 == pytest.approx(-0.5)
    assert half.share_better == 0


def test_a_uniform_lift_has_no_spread() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0.01, 0.2, 50)
    (_, lifted) = summarise(np.stack([base, base * 1.3]))
    assert lifted.uplift == pytest.approx(0.3)
    assert lifted.uplift_p10 == pytest.approx(0.3) and lifted.uplift_p90 == pytest.approx(0.3)
    assert lifted.uplift_std == pytest.approx(0, abs=1e-12)
    assert lifted.share_better == 1.0


@pytest.mark.parametrize("shape", [(0, 3), (2, 0), (3,)])
def test_summary_refuses_an_empty_or_flat_matrix(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="texts, users"):
        summarise(np.zeros(shape))


@pytest.mark.parametrize("user_id", ["u42", "u:7", "a{b}c", "50%", "*", "[x]"])
def test_user_keys_match_the_pattern_and_give_their_id_back(user_id: str) -> None:
    layout = KeyLayout("ad[rank]*:")
    key = layout.user("v1", user_id)
    assert user_id_of_key(layout, "v1", key) == user_id
    assert user_id_of_key(layout, "v1", key.encode()) == user_id
    pattern = user_key_pattern(layout, "v1")
    assert _redis_glob(pattern, key)
    assert not _redis_glob(pattern, layout.user("v2", user_id))
    assert not _redis_glob(pattern, layout.history(user_id))


def test_keys_of_other_versions_or_layouts_name_no_user() -> None:
    layout = KeyLayout()
    assert user_id_of_key(layout, "v1", KeyLayout().user("v2", "u1")) is None
    assert user_id_of_key(layout, "v1", KeyLayout("other:").user("v1", "u1")) is None
    assert user_id_of_key(layout, "v1", layout.history("u1")) is None
    assert user_id_of_key(layout, "v1", "adrank:user:v1:{}") is None


def test_unescape_inverts_escape() -> None:
    for text in ["plain", "%7B", "{%}", "a%25b{c}"]:
        assert unescape(escape(text)) == text


def test_the_sample_is_seeded_ordered_and_without_repeats() -> None:
    ids = [f"u{i:03d}" for i in range(100)]
    first = sample_ids(ids, 10, seed=3)
    assert first == sample_ids(ids, 10, seed=3)
    assert first != sample_ids(ids, 10, seed=4)
    assert len(set(first)) == 10 and first == sorted(first)
    assert sample_ids(ids, 500, seed=3) == ids


def _redis_glob(pattern: str, key: str) -> bool:
    """Redis' MATCH for the patterns used here: ``\\`` escapes, ``*`` any run."""
    regex, i = "", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            regex, i = regex + re.escape(pattern[i + 1]), i + 2
            continue
        regex += ".*" if ch == "*" else re.escape(ch)
        i += 1
    return re.fullmatch(regex, key, re.S) is not None
