"""Read and write click logs in the documented format (``docs/data-format.md``).

Two layers, kept apart:

* pure validation: ``parse_ad``, ``parse_event``, ``parse_impression`` (with
  ``parse_conversion`` for its optional conversion label), ``parse_user`` take one decoded
  JSON row and return its normalised values (ids as ``str``) or raise ``RowError``;
* file reading: ``read_clicklog`` decodes each line with orjson, runs the parser and either
  raises ``DataError`` (``file:line: field 'x': problem, got value``) at the first invalid row
  or, with ``skip_invalid``, skips it and counts it per file and reason in a ``ReadReport``.

Errors::

    ValueError
    ├── RowError    one row is invalid (no position: the pure parsers raise it)
    └── DataError   an input file is invalid; ``file``, ``line`` (1-based) and ``field`` say where
"""

import gc
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import orjson
import pandas as pd

from model_export.data.clicklog import (
    ADS_FILE,
    CONTEXT_PREFIX,
    EVENTS_FILE,
    IMPRESSIONS_FILE,
    USERS_FILE,
    ClickLog,
)
from service.features.context import time_context

MAX_EXAMPLES = 10
MAX_TS = 10**11  # unix seconds before the year 5138; larger values are milliseconds
AD_KEYS = frozenset({"ad_id", "title", "description", "category", "price"})
EVENT_KEYS = frozenset({"user_id", "item_id", "text", "type", "ts"})
IMPRESSION_KEYS = frozenset(
    {"user_id", "ad_id", "ts", "label", "context", "p_true", "converted", "conversion_ts"}
)
USER_KEYS = frozenset({"user_id", "attributes"})

Context = dict[str, str | int]
Ad = tuple[str, str, str, str, float]
Event = tuple[str, str, str, str, int]
Impression = tuple[str, str, int, int, float, Context]
Conversion = tuple[int | None, int | None]  # converted, conversion_ts: None where absent
LoggedImpression = tuple[str, str, int, int, float, Context, int | None, int | None]
NO_CONVERSION: Conversion = (None, None)
T = TypeVar("T")
_MISSING = object()


class RowError(ValueError):
    """One row is invalid. ``reason`` (field and problem) is what skipped rows are counted by."""

    def __init__(
        self, field: str | None, problem: str, got: object = _MISSING, *, detail: str = ""
    ) -> None:
        self.field = field
        self.problem = problem
        self.reason = f"field '{field}': {problem}" if field else problem
        message = self.reason if got is _MISSING else f"{self.reason}, got {_show(got)}"
        super().__init__(f"{message} ({detail})" if detail else message)


class DataError(ValueError):
    """An input file is invalid, e.g. ``impressions.jsonl:17: field 'label': must be 0 or 1``."""

    def __init__(self, message: str, file: str, line: int = 0, field: str | None = None) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.field = field
        self.reason = message

    @classmethod
    def at(cls, file: str, line: int, error: RowError) -> "DataError":
        made = cls(f"{file}:{line}: {error}", file, line, error.field)
        made.reason = error.reason
        return made


def _show(value: object) -> str:
    """A value as JSON, cut to a readable length."""
    text = orjson.dumps(value, default=repr).decode()
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class ReadReport:
    """Rows kept per file, rows skipped per file and reason, and the first few messages."""

    rows: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, Counter[str]] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    @property
    def total_skipped(self) -> int:
        return sum(sum(c.values()) for c in self.skipped.values())

    def count_row(self, file: str) -> None:
        self.rows[file] = self.rows.get(file, 0) + 1

    def skip(self, error: DataError) -> None:
        self.skipped.setdefault(error.file, Counter())[error.reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(str(error))

    def __str__(self) -> str:
        return self.format()

    def format(self) -> str:
        """A human-readable summary for the command line."""
        kept = ", ".join(f"{f}: {n:,}" for f, n in self.rows.items())
        lines = [f"rows read: {kept or 'none'}; invalid rows skipped: {self.total_skipped:,}"]
        for file, reasons in self.skipped.items():
            lines += [f"  {file}: {n:,} x {reason}" for reason, n in reasons.most_common()]
        if self.examples:
            lines += ["first invalid rows:", *(f"  {m}" for m in self.examples)]
        return "\n".join(lines)


# ---------------------------------------------------------------- pure validation of one row


def parse_id(row: Mapping[str, object], name: str) -> str:
    """A required id: a non-empty string or an integer, returned as ``str``."""
    value = row.get(name, _MISSING)
    if type(value) is str:
        if value.strip():
            return value
        raise RowError(name, "must not be empty", value)
    if type(value) is int:
        return str(value)
    if value is _MISSING or value is None:
        raise RowError(name, "missing (required)")
    raise RowError(name, "must be a string or an integer", value)


def parse_str(row: Mapping[str, object], name: str, *, required: bool) -> str:
    """A string field; an optional one is ``""`` when absent or null."""
    value = row.get(name)
    if type(value) is str:
        return value
    if value is None:
        if required:
            raise RowError(name, "missing (required)")
        return ""
    raise RowError(name, "must be a string", value)


def parse_ts(row: Mapping[str, object], name: str = "ts") -> int:
    """Unix seconds: an integer in [0, 1e11)."""
    value = row.get(name)
    if type(value) is int and 0 <= value < MAX_TS:
        return value
    if value is None:
        raise RowError(name, "missing (required)")
    if type(value) is int:
        raise RowError(name, "must be unix seconds in [0, 1e11) (milliseconds?)", value)
    raise RowError(name, "must be an integer (unix seconds)", value)


def parse_label(row: Mapping[str, object]) -> int:
    value = row.get("label")
    if type(value) is int and (value == 0 or value == 1):
        return value
    if value is None:
        raise RowError("label", "missing (required)")
    raise RowError("label", "must be 0 or 1", value)


def parse_p_true(row: Mapping[str, object]) -> float:
    """The true click probability in [0, 1], NaN when absent or null."""
    value = row.get("p_true")
    if value is None:
        return float("nan")
    if type(value) in (int, float) and 0.0 <= value <= 1.0:  # type: ignore[operator]
        return float(value)  # type: ignore[arg-type]
    raise RowError("p_true", "must be a number in [0, 1]", value)


def parse_price(row: Mapping[str, object]) -> float:
    """The ad's price, a number ≥ 0; NaN when absent or null."""
    value = row.get("price")
    if value is None:
        return float("nan")
    if type(value) in (int, float) and value >= 0:  # type: ignore[operator]
        return float(value)  # type: ignore[arg-type]
    raise RowError("price", "must be a number ≥ 0", value)


def parse_attributes(value: object, name: str) -> Context:
    """A context-like object ``{field: str | int}``; null values are dropped."""
    if type(value) is not dict:
        raise RowError(name, "must be an object", value)
    clean = True
    for key, item in value.items():
        if type(item) is str or type(item) is int:
            continue
        if item is not None:
            raise RowError(f"{name}.{key}", "must be a string or an integer", item)
        clean = False
    return value if clean else {k: v for k, v in value.items() if v is not None}


def _need_object(row: object) -> Mapping[str, object]:
    if type(row) is not dict:
        raise RowError(None, "row must be a JSON object", row)
    return row


def parse_ad(row: object) -> Ad:
    """``(ad_id, title, description, category, price)`` of an ads.jsonl row."""
    row = _need_object(row)
    return (
        parse_id(row, "ad_id"),
        parse_str(row, "title", required=True),
        parse_str(row, "description", required=False),
        parse_str(row, "category", required=False),
        parse_price(row),
    )


def parse_event(row: object) -> Event:
    """``(user_id, item_id, text, type, ts)`` of an events.jsonl row."""
    row = _need_object(row)
    kind = parse_str(row, "type", required=True)
    if not kind:
        raise RowError("type", "must not be empty", kind)
    return (
        parse_id(row, "user_id"),
        parse_id(row, "item_id"),
        parse_str(row, "text", required=True),
        kind,
        parse_ts(row),
    )


def parse_impression(row: object) -> Impression:
    """``(user_id, ad_id, ts, label, p_true, context)`` of an impressions.jsonl row."""
    row = _need_object(row)
    context = row.get("context")
    return (
        parse_id(row, "user_id"),
        parse_id(row, "ad_id"),
        parse_ts(row),
        parse_label(row),
        parse_p_true(row),
        {} if context is None else parse_attributes(context, "context"),
    )


def parse_conversion(row: Mapping[str, object], ts: int, label: int) -> Conversion:
    """``(converted, conversion_ts)`` of an impression row, None where absent.

    A conversion follows a click (post-click attribution: ``converted`` 1 needs ``label`` 1),
    and its time, optional (Ali-CCP has none), is never before the impression's.
    """
    converted, when = row.get("converted"), row.get("conversion_ts")
    if converted is None and when is None:
        return NO_CONVERSION
    flag = None if converted is None else _converted(converted, label)
    if when is None:
        return flag, None
    if flag != 1:
        raise RowError("conversion_ts", "only with converted 1", when)
    seconds = parse_ts(row, "conversion_ts")
    if seconds < ts:
        raise RowError("conversion_ts", "must not be before ts", when, detail=f"ts {ts}")
    return flag, seconds


def _converted(value: object, label: int) -> int:
    if type(value) is not int or not (value == 0 or value == 1):
        raise RowError("converted", "must be 0 or 1", value)
    if value == 1 and label != 1:
        raise RowError("converted", "a conversion needs a click (label 1)", value)
    return value


def parse_logged_impression(row: object) -> LoggedImpression:
    """``parse_impression``'s values followed by ``parse_conversion``'s."""
    impression = parse_impression(row)
    conversion = parse_conversion(_need_object(row), impression[2], impression[3])
    return (*impression, *conversion)


def parse_user(row: object) -> tuple[str, Context]:
    """``(user_id, attributes)`` of a users.jsonl row."""
    row = _need_object(row)
    attributes = row.get("attributes")
    return parse_id(row, "user_id"), (
        {} if attributes is None else parse_attributes(attributes, "attributes")
    )


def extra_fields(row: Mapping[str, object], known: frozenset[str]) -> dict[str, object] | None:
    """Keys beyond the documented ones (kept as extra columns, e.g. a ground-truth ``topic``),
    None when there are none."""
    if known.issuperset(row):
        return None
    extra = {k: v for k, v in row.items() if k not in known}
    for key in extra:
        if key.startswith(CONTEXT_PREFIX):
            raise RowError(key, f"the prefix '{CONTEXT_PREFIX}' is reserved: use 'context'")
    return extra


def with_time_context(context: Context, ts: int) -> Context:
    """The context with hour and weekday derived from ``ts`` where it lacks them."""
    if "hour" in context and "weekday" in context:
        return context
    return {**time_context(ts), **context}


# ---------------------------------------------------------------- reading files


@dataclass
class _Rows(Generic[T]):
    """The valid rows of one file and the extra fields of those that have any (by position)."""

    values: list[T] = field(default_factory=list)
    extras: dict[int, dict[str, object]] = field(default_factory=dict)

    def column(self, index: int) -> list[object]:
        return [row[index] for row in self.values]  # type: ignore[index]

    def extra_columns(self) -> dict[str, list[object]]:
        return _columns(self.extras, len(self.values))


def _columns(rows: Mapping[int, Mapping[str, object]], n: int) -> dict[str, list[object]]:
    """Columns of dict rows given by position (``None`` where a row lacks a key)."""
    keys: dict[str, None] = {}
    for row in rows.values():
        keys.update(dict.fromkeys(row))
    if len(rows) == n:  # every row present, in order
        return {k: [row.get(k) for row in rows.values()] for k in keys}
    columns: dict[str, list[object]] = {k: [None] * n for k in keys}
    for position, row in rows.items():
        for key, value in row.items():
            columns[key][position] = value
    return columns


@dataclass
class _Reader:
    """Reads rows of input files, raising at or counting the invalid ones."""

    report: ReadReport
    skip_invalid: bool

    def reject(self, error: DataError) -> None:
        if not self.skip_invalid:
            raise error
        self.report.skip(error)

    def json_lines(self, path: Path) -> Iterator[tuple[int, object]]:
        """``(line number, decoded value)`` of each non-blank line."""
        with path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                try:
                    yield number, orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    if line.strip():
                        error = RowError(None, "invalid JSON", detail=str(exc))
                        self.reject(DataError.at(path.name, number, error))

    def rows(
        self,
        path: Path,
        parse: Callable[[object], T],
        known: frozenset[str],
        check: Callable[[T, int], None] | None = None,
    ) -> _Rows[T]:
        """The valid rows of one file; ``check(row, line)`` may reject a row for what other
        rows or files hold (a duplicate id, an unknown ad)."""
        out: _Rows[T] = _Rows()
        values, name = out.values, path.name
        for number, row in self.json_lines(path):
            try:
                parsed = parse(row)
                if check is not None:
                    check(parsed, number)
                extra = extra_fields(row, known)  # type: ignore[arg-type]
            except RowError as exc:
                self.reject(DataError.at(name, number, exc))
                continue
            if extra:
                out.extras[len(values)] = extra
            values.append(parsed)
        self.report.rows[name] = len(values)
        return out


def _unique(name: str) -> Callable[[tuple[Any, ...], int], None]:
    """A check that rejects a row whose first value (its id) an earlier row already had."""
    first: dict[str, int] = {}

    def check(parsed: tuple[Any, ...], line: int) -> None:
        line_before = first.setdefault(parsed[0], line)
        if line_before != line:
            raise RowError(name, f"duplicate of line {line_before}", parsed[0])

    return check


def _require(path: Path) -> Path:
    if not path.is_file():
        raise DataError(f"{path.name}: required file not found in {path.parent}", path.name)
    return path


def _frame(rows: _Rows[Any], names: list[str], typed: Mapping[str, object]) -> pd.DataFrame:
    """A frame of the rows' first ``len(names)`` values (strings, typed ``str``), then the
    ``typed`` columns, then the extra columns."""
    data: dict[str, object] = {
        name: pd.Series(rows.column(i), dtype=str) for i, name in enumerate(names)
    }
    data.update(typed)
    for name, values in rows.extra_columns().items():
        data[name] = pd.Series(values, dtype=object if None in values else None)
    return pd.DataFrame(data)


def _read_ads(reader: _Reader, path: Path) -> pd.DataFrame:
    rows = reader.rows(path, parse_ad, AD_KEYS, _unique("ad_id"))
    price = np.array(rows.column(4), dtype=np.float64)
    typed = {"price": price} if np.isfinite(price).any() else {}  # no column without prices
    return _frame(rows, ["ad_id", "title", "description", "category"], typed)


def _read_events(reader: _Reader, path: Path) -> pd.DataFrame:
    rows: _Rows[Event] = _Rows()
    if path.is_file():
        rows = reader.rows(path, parse_event, EVENT_KEYS)
    ts = np.array(rows.column(4), dtype=np.int64)
    return _frame(rows, ["user_id", "item_id", "text", "type"], {"ts": ts})


def _read_users(reader: _Reader, path: Path) -> dict[str, Context]:
    if not path.is_file():
        return {}
    rows = reader.rows(path, parse_user, USER_KEYS, _unique("user_id"))
    return {user_id: attributes for user_id, attributes in rows.values if attributes}


def _known_ad(ad_ids: Iterable[str]) -> Callable[[LoggedImpression, int], None]:
    known = set(ad_ids)

    def check(impression: LoggedImpression, line: int) -> None:
        if impression[1] not in known:
            raise RowError("ad_id", f"not in {ADS_FILE}", impression[1])

    return check


def _contexts(
    rows: list[LoggedImpression], users: Mapping[str, Context]
) -> dict[str, list[object]]:
    """Context columns: user attributes, overridden by the impression's own context, then
    hour and weekday from ``ts`` where still missing."""
    contexts = {}
    for position, (user_id, _, ts, _, _, context, *_) in enumerate(rows):
        if user_id in users:
            context = {**users[user_id], **context}
        contexts[position] = with_time_context(context, ts)
    return _columns(contexts, len(rows))


def _read_impressions(
    reader: _Reader, path: Path, ad_ids: Iterable[str], users: Mapping[str, Context]
) -> pd.DataFrame:
    rows = reader.rows(path, parse_logged_impression, IMPRESSION_KEYS, _known_ad(ad_ids))
    typed: dict[str, object] = {
        "ts": np.array(rows.column(2), dtype=np.int64),
        "label": np.array(rows.column(3), dtype=np.int64),
        "p_true": np.array(rows.column(4), dtype=np.float64),
        **_conversion_columns(rows),
    }
    for name, values in sorted(_contexts(rows.values, users).items()):
        typed[CONTEXT_PREFIX + name] = pd.Series(values, dtype=object)
    return _frame(rows, ["user_id", "ad_id"], typed)


def _conversion_columns(rows: _Rows[LoggedImpression]) -> dict[str, object]:
    """``converted`` (Int8) and ``conversion_ts`` (Int64), NA where a row lacks them; none at
    all when no row has a conversion label (the log then has no conversions)."""
    converted = rows.column(6)
    if converted.count(None) == len(converted):
        return {}
    return {
        "converted": pd.array(converted, dtype="Int8"),
        "conversion_ts": pd.array(rows.column(7), dtype="Int64"),
    }


def read_clicklog(
    data_dir: Path, *, skip_invalid: bool = False, name: str | None = None
) -> tuple[ClickLog, ReadReport]:
    """Read and validate a click log directory (ads.jsonl, impressions.jsonl, and optionally
    events.jsonl and users.jsonl).

    The first invalid row raises ``DataError``; with ``skip_invalid`` invalid rows are skipped
    and counted in the returned ``ReadReport``. Impressions of an ad missing from ads.jsonl
    are invalid. Context always holds hour and weekday (derived from ``ts`` when missing).
    """
    data_dir = Path(data_dir)
    reader = _Reader(ReadReport(), skip_invalid)
    with _gc_paused():
        return _read_log(reader, data_dir, name or data_dir.name), reader.report


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: reading creates millions of small containers and
    its repeated full passes over them cost about a fifth of the reading time (measured)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_ads(
    path: Path, *, skip_invalid: bool = False, report: ReadReport | None = None
) -> pd.DataFrame:
    """The ads of one ads.jsonl file, validated like ``read_clicklog`` does (invalid rows
    skipped are counted in ``report`` when given)."""
    reader = _Reader(report or ReadReport(), skip_invalid)
    with _gc_paused():
        return _read_ads(reader, _require(Path(path)))


def read_events(
    path: Path, *, skip_invalid: bool = False, report: ReadReport | None = None
) -> pd.DataFrame:
    """The behaviour events of one events.jsonl file, validated like ``read_clicklog`` does."""
    reader = _Reader(report or ReadReport(), skip_invalid)
    with _gc_paused():
        return _read_events(reader, _require(Path(path)))


def _read_log(reader: _Reader, data_dir: Path, name: str) -> ClickLog:
    ads = _read_ads(reader, _require(data_dir / ADS_FILE))
    users = _read_users(reader, data_dir / USERS_FILE)
    events = _read_events(reader, data_dir / EVENTS_FILE)
    impressions = _read_impressions(
        reader, _require(data_dir / IMPRESSIONS_FILE), ads["ad_id"].tolist(), users
    )
    fields = sorted(c[len(CONTEXT_PREFIX) :] for c in impressions if c.startswith(CONTEXT_PREFIX))
    return ClickLog(name, ads, events, impressions, context_fields=fields)


# ---------------------------------------------------------------- writing files


def _values(column: pd.Series, *, context: bool) -> tuple[list[object], bool]:
    """Python values of a column with None where missing (for context, integral floats as
    int), and whether any is missing."""
    values = column.tolist()
    missing = column.isna()
    has_missing = bool(missing.any())
    if has_missing:
        values = [None if m else v for v, m in zip(values, missing.tolist(), strict=True)]
    if context and (column.dtype == object or column.dtype.kind == "f"):
        values = [_context_value(v) for v in values]
    return values, has_missing


def _context_value(value: object) -> object:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    return int(value) if isinstance(value, np.integer) else value


def _dicts(
    frame: pd.DataFrame, columns: Mapping[str, str], *, context: bool = False
) -> Iterator[dict[str, object]]:
    """Each row as a dict ``{key: value}`` of the given ``{key: column}``, missing values left
    out (columns without missing values take the fast path)."""
    dense: dict[str, list[object]] = {}
    sparse: dict[str, list[object]] = {}
    for key, name in columns.items():
        values, has_missing = _values(frame[name], context=context)
        (sparse if has_missing else dense)[key] = values
    dense_rows = zip(*dense.values(), strict=True) if dense else repeat((), len(frame))
    if not sparse:
        keys = list(dense)
        return (dict(zip(keys, row, strict=True)) for row in dense_rows)
    return _with_sparse(dense_rows, list(dense), sparse)


def _with_sparse(
    dense_rows: Iterable[tuple[object, ...]], keys: list[str], sparse: Mapping[str, list[object]]
) -> Iterator[dict[str, object]]:
    sparse_keys = list(sparse)
    for row, extra in zip(dense_rows, zip(*sparse.values(), strict=True), strict=True):
        record = dict(zip(keys, row, strict=True))
        for key, value in zip(sparse_keys, extra, strict=True):
            if value is not None:
                record[key] = value
        yield record


def _records(frame: pd.DataFrame) -> Iterator[dict[str, object]]:
    return _dicts(frame, {name: name for name in frame.columns})


def _impression_records(impressions: pd.DataFrame) -> Iterator[dict[str, object]]:
    """Impression rows with their ``ctx_<field>`` columns gathered into ``context``."""
    start = len(CONTEXT_PREFIX)
    own = {c: c for c in impressions if not c.startswith(CONTEXT_PREFIX)}
    context = {c[start:]: c for c in impressions if c.startswith(CONTEXT_PREFIX)}
    rows = _dicts(impressions, own)
    for record, row_context in zip(rows, _dicts(impressions, context, context=True), strict=True):
        if row_context:
            record["context"] = row_context
        yield record


def _write_jsonl(path: Path, records: Iterable[Mapping[str, object]]) -> None:
    """Write one JSON object per line, atomically (a temporary file renamed at the end)."""
    partial = path.with_name(path.name + ".partial")
    option = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY
    with partial.open("wb") as out:
        out.writelines(orjson.dumps(record, option=option) for record in records)
    partial.replace(path)


def write_clicklog(log: ClickLog, out_dir: Path) -> None:
    """Write ads.jsonl, events.jsonl and impressions.jsonl in the documented format.

    Missing values (None, NaN: e.g. an unknown ``p_true``) are left out; columns beyond the
    documented ones (e.g. a ground-truth ``topic``) are kept as extra keys.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_jsonl(out_dir / ADS_FILE, _records(log.ads))
    _write_jsonl(out_dir / EVENTS_FILE, _records(log.events))
    _write_jsonl(out_dir / IMPRESSIONS_FILE, _impression_records(log.impressions))
