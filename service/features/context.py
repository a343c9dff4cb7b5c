"""Request context (hour, weekday, device, slot, user attributes, ...) → integer ids.

Every context field is categorical. A field's vocabulary is built offline from the training
impressions; id 0 means missing or unseen, so any value a client sends maps to a valid id.
"""

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

UNKNOWN_ID = 0


def canonical(value: object) -> str:
    """The vocabulary key of a raw context value: ``"Mobile "`` and ``"mobile"`` are one value."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().lower()


def time_context(ts: float) -> dict[str, int]:
    """Hour of day and weekday (0 = Monday) in UTC of a unix timestamp."""
    moment = datetime.fromtimestamp(ts, tz=UTC)
    return {"hour": moment.hour, "weekday": moment.weekday()}


def build_vocab(values: Iterable[object], min_count: int = 1, max_size: int = 1000) -> list[str]:
    """The most frequent canonical values (at least ``min_count`` times), at most ``max_size``."""
    counts = Counter(canonical(v) for v in values if v is not None and v != "")
    common = [v for v, c in counts.most_common(max_size) if c >= min_count]
    return sorted(common)


@dataclass(frozen=True)
class ContextSpec:
    """The context fields a model reads and the vocabulary of each (index + 1 = id)."""

    fields: tuple[str, ...]
    vocab: Mapping[str, Sequence[str]]
    _index: dict[str, dict[str, int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {f: {v: i + 1 for i, v in enumerate(self.vocab[f])} for f in self.fields}
        object.__setattr__(self, "_index", index)

    def sizes(self) -> list[int]:
        """Embedding table size per field (vocabulary + the unknown id)."""
        return [len(self.vocab[f]) + 1 for f in self.fields]

    def encode(self, context: Mapping[str, object], ts: float | None = None) -> np.ndarray:
        """Ids of one context; hour/weekday come from ``ts`` when the context lacks them."""
        if ts is not None and ("hour" not in context or "weekday" not in context):
            context = {**time_context(ts), **context}
        ids = np.zeros(len(self.fields), dtype=np.int64)
        for i, name in enumerate(self.fields):
            value = context.get(name)
            if value is not None:
                ids[i] = self._index[name].get(canonical(value), UNKNOWN_ID)
        return ids

    def encode_column(self, name: str, values: Sequence[object]) -> np.ndarray:
        """Ids of one field for many rows at once (the offline path)."""
        index = self._index[name]
        return np.fromiter(
            (UNKNOWN_ID if v is None else index.get(canonical(v), UNKNOWN_ID) for v in values),
            dtype=np.int64,
            count=len(values),
        )
