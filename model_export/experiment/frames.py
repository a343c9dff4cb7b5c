"""Count fields of the arms' hashes → pandas frames. Pure: ``counts`` feeds it what Redis
answered.

- ``users_frame``: one row per (arm, user_id) with ``USER_COLUMNS``; a metric the user has
  no field for is 0.
- ``series_frame``: one row per (arm, bucket_start) with ``SERIES_COLUMNS``, sorted by arm
  and time.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping

import pandas as pd

from model_export.experiment.layout import COLUMNS, INTEGER_COLUMNS, series_field, user_field

USER_COLUMNS: tuple[str, ...] = ("arm", "user_id", *COLUMNS)
SERIES_COLUMNS: tuple[str, ...] = ("arm", "bucket_start", *COLUMNS)
Fields = Iterable[tuple[bytes | str, bytes | str]]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _rows(
    fields: Fields, parse: Callable[[str], tuple[object, str] | None]
) -> dict[object, dict[str, float]]:
    """Per row key (user id or bucket) the summed value of each column."""
    rows: dict[object, dict[str, float]] = defaultdict(dict)
    for raw_field, raw_value in fields:
        parsed = parse(_text(raw_field))
        if parsed is None:
            continue  # a field of a metric this report does not know
        key, column = parsed
        cells = rows[key]
        cells[column] = cells.get(column, 0.0) + float(_text(raw_value))
    return rows


def _frame(records: list[dict[str, object]], columns: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records, columns=list(columns))
    frame[list(COLUMNS)] = frame[list(COLUMNS)].fillna(0.0).astype(float)
    frame[list(INTEGER_COLUMNS)] = frame[list(INTEGER_COLUMNS)].round().astype("int64")
    return frame


def users_frame(per_arm: Mapping[str, Fields]) -> pd.DataFrame:
    """Per arm the users hash's (field, value) pairs → one row per (arm, user_id)."""

    def parse(field: str) -> tuple[str, str] | None:
        parsed = user_field(field)
        return None if parsed is None else (parsed[1], parsed[0])

    records = [
        {"arm": arm, "user_id": user_id, **cells}
        for arm, fields in per_arm.items()
        for user_id, cells in _rows(fields, parse).items()
    ]
    frame = _frame(records, USER_COLUMNS)
    frame["arm"] = frame["arm"].astype(str)
    frame["user_id"] = frame["user_id"].astype(str)
    return frame


def series_frame(per_arm: Mapping[str, Fields]) -> pd.DataFrame:
    """Per arm the series hash's (field, value) pairs → one row per (arm, bucket_start)."""
    records = [
        {"arm": arm, "bucket_start": bucket, **cells}
        for arm, fields in per_arm.items()
        for bucket, cells in _rows(fields, series_field).items()
    ]
    frame = _frame(records, SERIES_COLUMNS)
    frame["arm"] = frame["arm"].astype(str)
    frame["bucket_start"] = frame["bucket_start"].astype("int64")
    return frame.sort_values(["arm", "bucket_start"], ignore_index=True)


def per_user_totals(users: pd.DataFrame) -> pd.DataFrame:
    """One row per user_id: the metrics summed over the arms the user was counted in (the
    covariates of CUPED come from an earlier experiment whose arms do not matter)."""
    return users.groupby("user_id", as_index=False)[list(COLUMNS)].sum()
