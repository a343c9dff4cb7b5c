"""Convert the MIND news-recommendation data set to the documented click-log format.

MIND (https://msnews.github.io) ships two tab-separated files without a header:

``news.tsv``       news_id, category, subcategory, title, abstract, url, title_entities,
                   abstract_entities
``behaviors.tsv``  impression_id, user_id, time (``11/11/2019 9:05:58 AM``), history (the
                   news ids the user clicked before, oldest first, space-separated),
                   impressions (the candidates shown with their label, ``N123-1 N456-0``)

The conversion:

* ads = news: ``title``, ``description`` = abstract, ``category`` = category. The
  subcategory (``football_nfl``, ``newsus``: run-together words) is not part of the ad text;
  it is kept as an extra key ``subcategory`` of each ad, for analysis;
* impressions = every candidate of every behaviors line with its label, at the line's time,
  with context hour and weekday, and the MIND ``impression_id`` as an extra key (MIND's own
  metrics are per impression);
* events (type ``click``, text = the news title, as behaviour items are titles): the clicks
  among a line's candidates at the line's time, and each user's history. MIND does not say
  when the history clicks happened: they are placed just before the user's first impression,
  one second apart, in order. The history is taken from the user's earliest line (MIND
  repeats the same history on every line of a user).

Times are read as UTC. Invalid lines raise ``DataError`` (``behaviors.tsv:3: field 'time':
...``) or, with ``skip_invalid``, are skipped and counted; a behaviors line that refers to
news missing from news.tsv is invalid.
"""

from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from model_export.data.clicklog import CONTEXT_PREFIX, ClickLog
from model_export.data.io import DataError, ReadReport, RowError, write_clicklog
from service.features.context import time_context

NEWS_FILE = "news.tsv"
BEHAVIORS_FILE = "behaviors.tsv"
NEWS_FIELDS = (
    "news_id",
    "category",
    "subcategory",
    "title",
    "abstract",
    "url",
    "title_entities",
    "abstract_entities",
)
BEHAVIOR_FIELDS = ("impression_id", "user_id", "time", "history", "impressions")
MIN_NEWS_FIELDS = 4  # trimmed files may lack abstract, url and entities
TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"
TIME_EXAMPLE = "11/11/2019 9:05:58 AM"
T = TypeVar("T")


@dataclass(frozen=True)
class News:
    news_id: str
    category: str
    subcategory: str
    title: str
    abstract: str


@dataclass(frozen=True)
class Behavior:
    """One behaviors.tsv line: a user shown candidates ``(news_id, label)`` at ``ts``."""

    impression_id: str
    user_id: str
    ts: int
    history: tuple[str, ...]
    candidates: tuple[tuple[str, int], ...]


@dataclass
class ConvertReport:
    """Lines read and skipped per input file, and rows written per output file."""

    read: ReadReport
    written: dict[str, int] = field(default_factory=dict)

    def format(self) -> str:
        written = ", ".join(f"{f}: {n:,}" for f, n in self.written.items())
        return f"{self.read.format()}\nrows written: {written}"


# ---------------------------------------------------------------- pure parsing of one line


def _fields(line: str, names: Sequence[str], minimum: int) -> list[str]:
    parts = line.split("\t")
    if not minimum <= len(parts) <= len(names):
        expected = f"{len(names)}" if minimum == len(names) else f"{minimum} to {len(names)}"
        raise RowError(None, f"expected {expected} tab-separated fields", len(parts))
    return parts + [""] * (len(names) - len(parts))


def _non_empty(value: str, name: str) -> str:
    if not value.strip():
        raise RowError(name, "must not be empty", value)
    return value


def parse_news(line: str) -> News:
    """A news.tsv line."""
    news_id, category, subcategory, title, abstract, *_ = _fields(
        line, NEWS_FIELDS, MIN_NEWS_FIELDS
    )
    return News(
        _non_empty(news_id, "news_id"), category, subcategory, _non_empty(title, "title"), abstract
    )


def parse_time(text: str) -> int:
    """Unix seconds of a MIND time such as ``11/11/2019 9:05:58 AM`` (read as UTC)."""
    try:
        moment = datetime.strptime(text, TIME_FORMAT)
    except ValueError:
        raise RowError("time", f"must be like '{TIME_EXAMPLE}'", text) from None
    return int(moment.replace(tzinfo=UTC).timestamp())


def _known(news_id: str, news: Container[str], name: str) -> str:
    if news_id not in news:
        raise RowError(name, f"news not in {NEWS_FILE}", news_id)
    return news_id


def parse_candidate(token: str, news: Container[str]) -> tuple[str, int]:
    """``(news_id, label)`` of an impressions token like ``N123-1``."""
    news_id, _, label = token.rpartition("-")
    if not news_id or label not in ("0", "1"):
        raise RowError(
            "impressions",
            "each candidate must be news_id-0 or news_id-1 (MIND test files carry no labels)",
            token,
        )
    return _known(news_id, news, "impressions"), int(label)


def parse_behavior(line: str, news: Container[str]) -> Behavior:
    """A behaviors.tsv line; every news id it names must be in ``news``."""
    impression_id, user_id, time, history, impressions = _fields(line, BEHAVIOR_FIELDS, 5)
    candidates = tuple(parse_candidate(t, news) for t in impressions.split())
    if not candidates:
        raise RowError("impressions", "must list at least one candidate", impressions)
    return Behavior(
        _non_empty(impression_id, "impression_id"),
        _non_empty(user_id, "user_id"),
        parse_time(time),
        tuple(_known(n, news, "history") for n in history.split()),
        candidates,
    )


# ---------------------------------------------------------------- reading the files


def _valid_lines(
    path: Path,
    parse: Callable[[str, int], T],
    report: ReadReport,
    skip_invalid: bool,
) -> Iterator[T]:
    """``parse(line, line number)`` of each non-blank line; invalid ones raise or are
    counted."""
    if not path.is_file():
        raise DataError(f"{path.name}: required file not found in {path.parent}", path.name)
    report.rows.setdefault(path.name, 0)
    with path.open(encoding="utf-8", newline="") as lines:
        for number, line in enumerate(lines, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            try:
                parsed = parse(line, number)
            except RowError as exc:
                error = DataError.at(path.name, number, exc)
                if not skip_invalid:
                    raise error from None
                report.skip(error)
                continue
            report.count_row(path.name)
            yield parsed


def read_news(path: Path, report: ReadReport, skip_invalid: bool) -> dict[str, News]:
    """News by id; a repeated id is invalid."""
    news: dict[str, News] = {}
    first_line: dict[str, int] = {}

    def parse_new(line: str, number: int) -> News:
        item = parse_news(line)
        if first_line.setdefault(item.news_id, number) != number:
            raise RowError("news_id", f"duplicate of line {first_line[item.news_id]}", item.news_id)
        return item

    for item in _valid_lines(path, parse_new, report, skip_invalid):
        news[item.news_id] = item
    return news


def read_behaviors(
    path: Path, news: Container[str], report: ReadReport, skip_invalid: bool
) -> list[Behavior]:
    lines = _valid_lines(path, lambda line, _: parse_behavior(line, news), report, skip_invalid)
    return list(lines)


# ---------------------------------------------------------------- building the click log


def _strings(values: Sequence[object] | np.ndarray) -> pd.Series:
    return pd.Series(list(values), dtype=str)


def news_ads(news: Mapping[str, News]) -> pd.DataFrame:
    items = list(news.values())
    return pd.DataFrame(
        {
            "ad_id": _strings([n.news_id for n in items]),
            "title": _strings([n.title for n in items]),
            "description": _strings([n.abstract for n in items]),
            "category": _strings([n.category for n in items]),
            "subcategory": _strings([n.subcategory for n in items]),
        }
    )


def candidate_impressions(behaviors: Sequence[Behavior]) -> pd.DataFrame:
    """One impression per candidate, with context hour and weekday and the impression id."""
    per_line = [len(b.candidates) for b in behaviors]
    times = [time_context(b.ts) for b in behaviors]
    frame = pd.DataFrame(
        {
            "user_id": _strings(np.repeat([b.user_id for b in behaviors], per_line)),
            "ad_id": _strings([n for b in behaviors for n, _ in b.candidates]),
            "ts": np.repeat(np.array([b.ts for b in behaviors], dtype=np.int64), per_line),
            "label": np.array([y for b in behaviors for _, y in b.candidates], dtype=np.int64),
            "p_true": np.full(sum(per_line), np.nan),
        }
    )
    for name in ("hour", "weekday"):
        values = np.repeat(np.array([t[name] for t in times], dtype=object), per_line)
        frame[CONTEXT_PREFIX + name] = pd.Series(values, dtype=object)
    frame["impression_id"] = _strings(np.repeat([b.impression_id for b in behaviors], per_line))
    return frame


def _first_lines(behaviors: Sequence[Behavior]) -> list[Behavior]:
    """Each user's earliest line (file order among lines of the same time)."""
    first: dict[str, Behavior] = {}
    for line in behaviors:
        if line.user_id not in first or line.ts < first[line.user_id].ts:
            first[line.user_id] = line
    return list(first.values())


def click_events(behaviors: Sequence[Behavior], news: Mapping[str, News]) -> pd.DataFrame:
    """History clicks (one second apart, just before the user's first line) and the clicked
    candidates (at their line's time), in time order."""
    rows = [
        (line.user_id, news_id, news[news_id].title, "click", line.ts - len(line.history) + k)
        for line in _first_lines(behaviors)
        for k, news_id in enumerate(line.history)
    ]
    rows += [
        (line.user_id, news_id, news[news_id].title, "click", line.ts)
        for line in behaviors
        for news_id, label in line.candidates
        if label == 1
    ]
    rows.sort(key=itemgetter(4))
    columns = ["user_id", "item_id", "text", "type", "ts"]
    frame = pd.DataFrame({c: _strings([r[i] for r in rows]) for i, c in enumerate(columns[:4])})
    frame["ts"] = np.array([r[4] for r in rows], dtype=np.int64)
    return frame


def mind_clicklog(
    news: Mapping[str, News], behaviors: Sequence[Behavior], name: str = "mind"
) -> ClickLog:
    """The click log of parsed MIND news and behaviors."""
    impressions = candidate_impressions(behaviors)
    events = click_events(behaviors, news)
    return ClickLog(name, news_ads(news), events, impressions, ["hour", "weekday"])


def convert_mind(mind_dir: Path, out_dir: Path, *, skip_invalid: bool = False) -> ConvertReport:
    """Convert ``mind_dir/{news,behaviors}.tsv`` into the documented format in ``out_dir``."""
    mind_dir, out_dir = Path(mind_dir), Path(out_dir)
    report = ReadReport()
    news = read_news(mind_dir / NEWS_FILE, report, skip_invalid)
    behaviors = read_behaviors(mind_dir / BEHAVIORS_FILE, news, report, skip_invalid)
    log = mind_clicklog(news, behaviors, name=mind_dir.name)
    write_clicklog(log, out_dir)
    written = {
        "ads.jsonl": len(log.ads),
        "events.jsonl": len(log.events),
        "impressions.jsonl": len(log.impressions),
    }
    return ConvertReport(report, written)
