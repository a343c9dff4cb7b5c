"""Merging behaviour (pure): the newest ``keep`` items by time, newest first, and the
behaviour matrix that goes with them."""

from collections.abc import Mapping, Sequence

import numpy as np

from service.store.codec import BehaviourItem, UserMatrix


def merge_history(
    old: Sequence[BehaviourItem], new: Sequence[BehaviourItem], keep: int
) -> list[BehaviourItem]:
    """Newest first by timestamp; on ties the later-sent event first, then older history.
    Exact repeats of an event (same item, type and time — a client retry) are kept once."""
    seen: set[tuple[str, str, float]] = set()
    merged: list[BehaviourItem] = []
    for item in sorted([*reversed(new), *old], key=lambda i: -i.ts):
        key = (item.item_id, item.type, item.ts)
        if key not in seen:
            seen.add(key)
            merged.append(item)
    return merged[:keep]


def known_vectors(matrix: UserMatrix | None) -> dict[str, np.ndarray]:
    """Vectors of the items a stored matrix already has, by item id."""
    if matrix is None:
        return {}
    return dict(zip(matrix.item_ids, matrix.vectors, strict=True))


def missing_texts(
    items: Sequence[BehaviourItem], vectors: Mapping[str, np.ndarray]
) -> list[BehaviourItem]:
    """Items (first occurrence per id) whose vector is not known yet."""
    out: dict[str, BehaviourItem] = {}
    for item in items:
        if item.item_id not in vectors and item.item_id not in out:
            out[item.item_id] = item
    return list(out.values())


def build_matrix(
    items: Sequence[BehaviourItem], vectors: Mapping[str, np.ndarray], d: int
) -> UserMatrix:
    rows = [vectors[i.item_id] for i in items]
    stacked = np.vstack(rows).astype(np.float16) if rows else np.zeros((0, d), np.float16)
    return UserMatrix(stacked, tuple(i.item_id for i in items))
