"""A user's behaviour history: merging new events, and its matrix from known vectors."""

import numpy as np

from service.events.history import build_matrix, known_vectors, merge_history, missing_texts
from service.store.codec import BehaviourItem, UserMatrix


def item(i: str, ts: float, kind: str = "click") -> BehaviourItem:
    return BehaviourItem(i, f"text {i}", kind, ts)


def test_merge_keeps_the_newest_by_time_and_drops_exact_repeats() -> None:
    old = [item("o2", 20), item("o1", 10)]
    new = [item("n1", 15), item("n2", 30), item("o2", 20)]  # o2 is a retried event
    merged = merge_history(old, new, keep=3)
    assert [m.item_id for m in merged] == ["n2", "o2", "n1"]


def test_merge_ties_put_the_later_sent_event_first() -> None:
    merged = merge_history([item("old", 5)], [item("a", 5), item("b", 5)], keep=10)
    assert [m.item_id for m in merged] == ["b", "a", "old"]


def test_matrix_from_history_reuses_known_vectors() -> None:
    stored = UserMatrix(np.full((1, 2), 3, np.float16), ("o1",))
    items = [item("n1", 2), item("o1", 1)]
    vectors = known_vectors(stored)
    assert [m.item_id for m in missing_texts(items, vectors)] == ["n1"]
    vectors["n1"] = np.ones(2)
    matrix = build_matrix(items, vectors, d=2)
    assert matrix.item_ids == ("n1", "o1") and matrix.vectors.dtype == np.float16
    assert matrix.vectors[1].tolist() == [3, 3]
