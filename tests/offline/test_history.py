"""history_index against a plain per-row reference."""

import numpy as np
import pandas as pd

from model_export.train.history import PAD, history_index


def brute_force(events: pd.DataFrame, imps: pd.DataFrame, h: int) -> np.ndarray:
    out = np.full((len(imps), h), PAD)
    for i, (user, ts) in enumerate(zip(imps["user_id"], imps["ts"], strict=True)):
        mine = events[(events["user_id"] == user) & (events["ts"] < ts)]
        mine = mine.sort_values("ts", ascending=False, kind="stable")
        rows = mine.index.to_numpy()[:h]
        out[i, : len(rows)] = rows
    return out


def test_history_is_the_users_earlier_events_newest_first() -> None:
    rng = np.random.default_rng(3)
    events = pd.DataFrame(
        {"user_id": rng.choice(["a", "b", "c"], 300), "ts": rng.permutation(10_000)[:300]}
    )
    imps = pd.DataFrame(
        {"user_id": rng.choice(["a", "b", "c", "new"], 200), "ts": rng.integers(0, 10_000, 200)}
    )
    got = history_index(events, imps, 8)
    assert np.array_equal(got, brute_force(events, imps, 8))
    assert (got[imps["user_id"] == "new"] == PAD).all()


def test_events_at_the_same_second_are_not_history() -> None:
    events = pd.DataFrame({"user_id": ["u", "u"], "ts": [5, 10]})
    imps = pd.DataFrame({"user_id": ["u"], "ts": [10]})
    assert history_index(events, imps, 3).tolist() == [[0, PAD, PAD]]


def test_impressions_after_the_last_event_keep_to_their_user() -> None:
    events = pd.DataFrame({"user_id": ["a", "a", "b", "b"], "ts": [0, 1, 0, 1]})
    imps = pd.DataFrame({"user_id": ["a", "a"], "ts": [2, 100]})
    assert history_index(events, imps, 4).tolist() == [[1, 0, PAD, PAD], [1, 0, PAD, PAD]]
