"""Reading and writing the documented click-log format: round trip, validation, skip mode."""

from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from model_export.data.clicklog import ClickLog
from model_export.data.io import (
    MAX_EXAMPLES,
    DataError,
    ReadReport,
    RowError,
    parse_impression,
    read_ads,
    read_clicklog,
    read_events,
    write_clicklog,
)
from service.features.context import time_context

TS = 1_700_000_000  # Tuesday 2023-11-14 22:13:20 UTC


def _lines(path: Path, rows: list[object]) -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))


def _valid_dir(tmp_path: Path) -> Path:
    """Two ads, one event, three impressions: every file valid."""
    _lines(
        tmp_path / "ads.jsonl",
        [
            {"ad_id": "a1", "title": "Red shoes", "description": "Soft", "category": "shoes"},
            {"ad_id": "a2", "title": "Blue hat"},
        ],
    )
    _lines(
        tmp_path / "events.jsonl",
        [{"user_id": "u1", "item_id": "a1", "text": "Red shoes", "type": "click", "ts": TS}],
    )
    _lines(
        tmp_path / "impressions.jsonl",
        [
            {"user_id": "u1", "ad_id": "a1", "ts": TS + 1, "label": 1},
            {"user_id": "u1", "ad_id": "a2", "ts": TS + 2, "label": 0},
            {"user_id": "u2", "ad_id": "a2", "ts": TS + 3, "label": 0},
        ],
    )
    return tmp_path


def _replace_line(path: Path, number: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n")


def _sample_log() -> ClickLog:
    ads = pd.DataFrame(
        {
            "ad_id": ["a1", "a2", "7"],
            "title": ["Red shoes", "Blue hat", "Café — crème"],
            "description": ["Soft leather", "", "Unicode ✓"],
            "category": ["shoes", "hats", ""],
        }
    )
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u2"],
            "item_id": ["a1", "x9"],
            "text": ["Red shoes", "Some article"],
            "type": ["click", "view"],
            "ts": np.array([TS, TS + 5], dtype=np.int64),
        }
    )
    impressions = pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u1"],
            "ad_id": ["a1", "a2", "7"],
            "ts": np.array([TS + 10, TS + 20, TS + 30], dtype=np.int64),
            "label": np.array([1, 0, 0], dtype=np.int64),
            "p_true": [0.25, np.nan, 0.5],
            "ctx_device": pd.Series(["mobile", None, "desktop"], dtype=object),
            "ctx_hour": pd.Series([22, 22, 22], dtype=object),
            "ctx_weekday": pd.Series([1, 1, 1], dtype=object),
            "topic": np.array([3, 1, 4], dtype=np.int64),
        }
    )
    return ClickLog("sample", ads, events, impressions, ["device", "hour", "weekday"])


# ---------------------------------------------------------------- round trip and format


def test_round_trip_gives_equal_frames(tmp_path: Path) -> None:
    log = _sample_log()
    write_clicklog(log, tmp_path)
    back, report = read_clicklog(tmp_path)
    pd.testing.assert_frame_equal(back.ads, log.ads)
    pd.testing.assert_frame_equal(back.events, log.events)
    assert sorted(back.impressions.columns) == sorted(log.impressions.columns)
    pd.testing.assert_frame_equal(back.impressions[log.impressions.columns], log.impressions)
    assert back.context_fields == ["device", "hour", "weekday"]
    assert back.name == tmp_path.name
    assert report.total_skipped == 0
    assert report.rows == {"ads.jsonl": 3, "events.jsonl": 2, "impressions.jsonl": 3}


def test_written_lines_leave_missing_values_out(tmp_path: Path) -> None:
    write_clicklog(_sample_log(), tmp_path)
    lines = [orjson.loads(x) for x in (tmp_path / "impressions.jsonl").read_bytes().splitlines()]
    assert lines[1] == {
        "user_id": "u2",
        "ad_id": "a2",
        "ts": TS + 20,
        "label": 0,
        "topic": 1,
        "context": {"hour": 22, "weekday": 1},
    }
    assert lines[0]["p_true"] == 0.25
    assert lines[0]["context"] == {"device": "mobile", "hour": 22, "weekday": 1}
    ads = [orjson.loads(x) for x in (tmp_path / "ads.jsonl").read_bytes().splitlines()]
    assert ads[2] == {
        "ad_id": "7",
        "title": "Café — crème",
        "description": "Unicode ✓",
        "category": "",
    }


def test_context_floats_from_pandas_are_written_as_integers(tmp_path: Path) -> None:
    log = _sample_log()
    log.impressions["ctx_slot"] = [2.0, np.nan, 3.0]  # what pandas makes of ints with gaps
    write_clicklog(log, tmp_path)
    back, _ = read_clicklog(tmp_path)
    assert back.impressions["ctx_slot"].tolist() == [2, None, 3]


def test_read_names_the_log(tmp_path: Path) -> None:
    log, _ = read_clicklog(_valid_dir(tmp_path), name="mine")
    assert log.name == "mine"


# ---------------------------------------------------------------- normalisation


def test_ids_are_normalised_to_strings(tmp_path: Path) -> None:
    _valid_dir(tmp_path)
    _lines(tmp_path / "ads.jsonl", [{"ad_id": 7, "title": "Seven"}])
    _lines(tmp_path / "impressions.jsonl", [{"user_id": 42, "ad_id": 7, "ts": TS, "label": 1}])
    log, _ = read_clicklog(tmp_path)
    assert log.ads["ad_id"].tolist() == ["7"]
    assert log.impressions[["user_id", "ad_id"]].values.tolist() == [["42", "7"]]
    assert log.events["user_id"].tolist() == ["u1"]


def test_hour_and_weekday_come_from_ts_when_missing(tmp_path: Path) -> None:
    _valid_dir(tmp_path)
    _lines(
        tmp_path / "impressions.jsonl",
        [
            {"user_id": "u1", "ad_id": "a1", "ts": TS, "label": 1},
            {"user_id": "u1", "ad_id": "a1", "ts": TS, "label": 1, "context": {"hour": 5}},
        ],
    )
    log, _ = read_clicklog(tmp_path)
    expected = time_context(TS)
    assert log.impressions["ctx_hour"].tolist() == [expected["hour"], 5]
    assert log.impressions["ctx_weekday"].tolist() == [expected["weekday"]] * 2
    assert log.context_fields == ["hour", "weekday"]
    assert log.impressions["p_true"].isna().all()


def test_user_attributes_join_the_context_and_the_impression_wins(tmp_path: Path) -> None:
    _valid_dir(tmp_path)
    _lines(
        tmp_path / "users.jsonl",
        [
            {"user_id": "u1", "attributes": {"age": "25-34", "gender": "F"}},
            {"user_id": "u9", "attributes": {"age": "56+"}},
        ],
    )
    _replace_line(
        tmp_path / "impressions.jsonl",
        2,
        '{"user_id": "u1", "ad_id": "a2", "ts": 1700000002, "label": 0, "context": {"age": "x"}}',
    )
    log, report = read_clicklog(tmp_path)
    imps = log.impressions
    assert imps["ctx_age"].tolist() == ["25-34", "x", None]
    assert imps["ctx_gender"].tolist() == ["F", "F", None]
    assert log.context_fields == ["age", "gender", "hour", "weekday"]
    assert report.rows["users.jsonl"] == 2


def test_blank_lines_are_ignored(tmp_path: Path) -> None:
    _valid_dir(tmp_path)
    path = tmp_path / "impressions.jsonl"
    path.write_text(path.read_text().replace("\n", "\n\n", 1) + "   \n")
    log, report = read_clicklog(tmp_path)
    assert len(log.impressions) == 3
    assert report.total_skipped == 0


def test_events_file_is_optional(tmp_path: Path) -> None:
    _valid_dir(tmp_path)
    (tmp_path / "events.jsonl").unlink()
    log, _ = read_clicklog(tmp_path)
    assert list(log.events.columns) == ["user_id", "item_id", "text", "type", "ts"]
    assert len(log.events) == 0


def test_a_missing_required_file_is_named(tmp_path: Path) -> None:
    _valid_dir(tmp_path)
    (tmp_path / "ads.jsonl").unlink()
    with pytest.raises(DataError, match=r"^ads\.jsonl: required file not found in "):
        read_clicklog(tmp_path)


# ---------------------------------------------------------------- validation messages

INVALID_ROWS = [
    # (file, line number replaced, new line, exact message)
    (
        "impressions.jsonl",
        2,
        '{"user_id": "u1", "ad_id": "a2", "ts": 1700000002, "label": 2}',
        "impressions.jsonl:2: field 'label': must be 0 or 1, got 2",
    ),
    (
        "impressions.jsonl",
        3,
        '{"user_id": "u1", "ad_id": "a2", "ts": 1700000002, "label": true}',
        "impressions.jsonl:3: field 'label': must be 0 or 1, got true",
    ),
    (
        "impressions.jsonl",
        1,
        '{"user_id": "u1", "ad_id": "a2", "ts": 1700000002}',
        "impressions.jsonl:1: field 'label': missing (required)",
    ),
    (
        "impressions.jsonl",
        2,
        '{"user_id": "u1", "ad_id": "a2", "ts": "1700000002", "label": 0}',
        "impressions.jsonl:2: field 'ts': must be an integer (unix seconds), got \"1700000002\"",
    ),
    (
        "impressions.jsonl",
        2,
        '{"user_id": "u1", "ad_id": "a2", "ts": 1700000002.5, "label": 0}',
        "impressions.jsonl:2: field 'ts': must be an integer (unix seconds), got 1700000002.5",
    ),
    (
        "impressions.jsonl",
        2,
        '{"user_id": "u1", "ad_id": "a2", "ts": 1700000002000, "label": 0}',
        "impressions.jsonl:2: field 'ts': must be unix seconds in [0, 1e11) (milliseconds?), "
        "got 1700000002000",
    ),
    (
        "impressions.jsonl",
        2,
        '{"user_id": "", "ad_id": "a2", "ts": 1700000002, "label": 0}',
        "impressions.jsonl:2: field 'user_id': must not be empty, got \"\"",
    ),
    (
        "impressions.jsonl",
        2,
        '{"user_id": ["u1"], "ad_id": "a2", "ts": 1700000002, "label": 0}',
        "impressions.jsonl:2: field 'user_id': must be a string or an integer, got [\"u1\"]",
    ),
    (
        "impressions.jsonl",
        2,
        '{"user_id": "u1", "ad_id": "a2", "ts": 1700000002, "label": 0, "context": "mobile"}',
        "impressions.jsonl:2: field 'context': must be an object, got \"mobile\"",
    ),
    (
        "impressions.jsonl",
        2,
        '{"user_id": "u1", "ad_id": "a2", "ts": 1, "label": 0, "context": {"device": 1.5}}',
        "impressions.jsonl:2: field 'context.device': must be a string or an integer, got 1.5",
    ),
    (
        "impressions.jsonl",
        2,
        '{"user_id": "u1", "ad_id": "a2", "ts": 1700000002, "label": 0, "p_true": 1.5}',
        "impressions.jsonl:2: field 'p_true': must be a number in [0, 1], got 1.5",
    ),
    (
        "impressions.jsonl",
        3,
        '{"user_id": "u1", "ad_id": "zz", "ts": 1700000002, "label": 0}',
        "impressions.jsonl:3: field 'ad_id': not in ads.jsonl, got \"zz\"",
    ),
    (
        "impressions.jsonl",
        2,
        '{"user_id": "u1", "ad_id": "a2", "ts": 1700000002, "label": 0, "ctx_device": "x"}',
        "impressions.jsonl:2: field 'ctx_device': the prefix 'ctx_' is reserved: use 'context'",
    ),
    (
        "impressions.jsonl",
        2,
        "[1, 2]",
        "impressions.jsonl:2: row must be a JSON object, got [1,2]",
    ),
    (
        "ads.jsonl",
        2,
        '{"ad_id": "a1", "title": "Again"}',
        "ads.jsonl:2: field 'ad_id': duplicate of line 1, got \"a1\"",
    ),
    (
        "ads.jsonl",
        2,
        '{"ad_id": "a2", "description": "no title"}',
        "ads.jsonl:2: field 'title': missing (required)",
    ),
    (
        "ads.jsonl",
        2,
        '{"ad_id": "a2", "title": "Blue hat", "category": 3}',
        "ads.jsonl:2: field 'category': must be a string, got 3",
    ),
    (
        "events.jsonl",
        1,
        '{"user_id": "u1", "item_id": "a1", "text": "Red shoes", "type": "", "ts": 1}',
        "events.jsonl:1: field 'type': must not be empty, got \"\"",
    ),
    (
        "events.jsonl",
        1,
        '{"user_id": "u1", "item_id": "a1", "type": "click", "ts": 1}',
        "events.jsonl:1: field 'text': missing (required)",
    ),
    (
        "events.jsonl",
        1,
        '{"user_id": "u1", "item_id": null, "text": "x", "type": "click", "ts": 1}',
        "events.jsonl:1: field 'item_id': missing (required)",
    ),
    (
        "users.jsonl",
        1,
        '{"user_id": "u1", "attributes": ["F"]}',
        "users.jsonl:1: field 'attributes': must be an object, got [\"F\"]",
    ),
    (
        "users.jsonl",
        1,
        '{"user_id": "u1", "attributes": {"age": {"min": 18}}}',
        "users.jsonl:1: field 'attributes.age': must be a string or an integer, got {\"min\":18}",
    ),
]


@pytest.mark.parametrize(("file", "line", "text", "message"), INVALID_ROWS)
def test_each_invalid_row_names_file_line_and_field(
    tmp_path: Path, file: str, line: int, text: str, message: str
) -> None:
    _valid_dir(tmp_path)
    if file == "users.jsonl":
        (tmp_path / file).write_text('{"user_id": "u1", "attributes": {}}\n')
    _replace_line(tmp_path / file, line, text)
    with pytest.raises(DataError) as caught:
        read_clicklog(tmp_path)
    assert str(caught.value) == message
    assert (caught.value.file, caught.value.line) == (file, line)


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    _valid_dir(tmp_path)
    _replace_line(tmp_path / "impressions.jsonl", 3, '{"user_id": "u1", "ad_id": ')
    with pytest.raises(DataError, match=r"^impressions\.jsonl:3: invalid JSON \(") as caught:
        read_clicklog(tmp_path)
    assert caught.value.field is None


def test_the_first_invalid_row_raises_with_its_field(tmp_path: Path) -> None:
    _valid_dir(tmp_path)
    _replace_line(tmp_path / "impressions.jsonl", 2, '{"user_id": "u1", "ad_id": "a1"}')
    with pytest.raises(DataError) as caught:
        read_clicklog(tmp_path)
    assert caught.value.field == "ts"  # ts is checked before label


def test_pure_parser_returns_normalised_values() -> None:
    row = {"user_id": 5, "ad_id": "a", "ts": TS, "label": 1, "context": {"d": "m", "s": None}}
    assert parse_impression(row) == (
        "5",
        "a",
        TS,
        1,
        pytest.approx(np.nan, nan_ok=True),
        {"d": "m"},
    )
    with pytest.raises(RowError) as caught:
        parse_impression({**row, "label": 3})
    assert caught.value.reason == "field 'label': must be 0 or 1"
    assert str(caught.value) == "field 'label': must be 0 or 1, got 3"


# ---------------------------------------------------------------- skip mode


def test_skip_invalid_counts_per_file_and_reason(tmp_path: Path) -> None:
    _valid_dir(tmp_path)
    path = tmp_path / "impressions.jsonl"
    bad = [
        '{"user_id": "u1", "ad_id": "a1", "ts": 5, "label": 2}',
        '{"user_id": "u1", "ad_id": "a1", "ts": 6, "label": -1}',
        '{"user_id": "u1", "ad_id": "nope", "ts": 7, "label": 0}',
        "not json",
    ]
    path.write_text(path.read_text() + "\n".join(bad) + "\n")
    _replace_line(tmp_path / "ads.jsonl", 2, '{"ad_id": "a1", "title": "dup"}')
    log, report = read_clicklog(tmp_path, skip_invalid=True)

    # a2 was the duplicate-rejected line, so impressions of a2 are now unknown ads too
    assert log.impressions["ad_id"].tolist() == ["a1"]
    assert report.rows == {"ads.jsonl": 1, "events.jsonl": 1, "impressions.jsonl": 1}
    assert report.skipped["ads.jsonl"] == {"field 'ad_id': duplicate of line 1": 1}
    assert report.skipped["impressions.jsonl"] == {
        "field 'ad_id': not in ads.jsonl": 3,
        "field 'label': must be 0 or 1": 2,
        "invalid JSON": 1,
    }
    assert report.total_skipped == 7
    assert report.examples[:3] == [
        "ads.jsonl:2: field 'ad_id': duplicate of line 1, got \"a1\"",
        "impressions.jsonl:2: field 'ad_id': not in ads.jsonl, got \"a2\"",
        "impressions.jsonl:3: field 'ad_id': not in ads.jsonl, got \"a2\"",
    ]
    text = report.format()
    assert "invalid rows skipped: 7" in text
    assert "  impressions.jsonl: 3 x field 'ad_id': not in ads.jsonl" in text


def test_skip_mode_keeps_at_most_ten_examples(tmp_path: Path) -> None:
    _valid_dir(tmp_path)
    path = tmp_path / "impressions.jsonl"
    path.write_text(path.read_text() + "[]\n" * 25)
    log, report = read_clicklog(tmp_path, skip_invalid=True)
    assert len(log.impressions) == 3
    assert report.skipped["impressions.jsonl"] == {"row must be a JSON object": 25}
    assert len(report.examples) == MAX_EXAMPLES


# ---------------------------------------------------------------- single files


def test_ads_and_events_files_read_alone(tmp_path: Path) -> None:
    _valid_dir(tmp_path)
    ads = read_ads(tmp_path / "ads.jsonl")
    assert ads.to_dict("records") == [
        {"ad_id": "a1", "title": "Red shoes", "description": "Soft", "category": "shoes"},
        {"ad_id": "a2", "title": "Blue hat", "description": "", "category": ""},
    ]
    events = read_events(tmp_path / "events.jsonl")
    assert events.values.tolist() == [["u1", "a1", "Red shoes", "click", TS]]


def test_single_file_skip_mode_reports_into_the_given_report(tmp_path: Path) -> None:
    _valid_dir(tmp_path)
    _replace_line(tmp_path / "events.jsonl", 1, '{"user_id": "u1"}')
    report = ReadReport()
    events = read_events(tmp_path / "events.jsonl", skip_invalid=True, report=report)
    assert len(events) == 0
    assert report.skipped == {"events.jsonl": {"field 'type': missing (required)": 1}}
    assert str(report) == report.format()


def test_ads_prices_are_numbers_at_least_zero_and_optional(tmp_path: Path) -> None:
    rows = [{"ad_id": "a1", "title": "Shoes", "price": 89.9}, {"ad_id": "a2", "title": "Hat"},
            {"ad_id": "a3", "title": "Bag", "price": -1}, {"ad_id": "a4", "title": "Cap",
                                                             "price": "cheap"}]  # fmt: skip
    (tmp_path / "ads.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    report = ReadReport()
    ads = read_ads(tmp_path / "ads.jsonl", skip_invalid=True, report=report)
    assert ads["ad_id"].tolist() == ["a1", "a2"]
    assert ads["price"].iloc[0] == 89.9 and np.isnan(ads["price"].iloc[1])
    assert report.skipped["ads.jsonl"] == {"field 'price': must be a number ≥ 0": 2}
