"""The experiment counts' Redis layout read without Redis: key names and SCAN patterns, count
fields split on the first ':', frames with zeros for absent metrics, the meta hash; and the
Markdown of an analysis that has nothing to compare."""

import fnmatch
import math

import pytest

from model_export.experiment.frames import series_frame, users_frame
from model_export.experiment.layout import (
    arm_of_users_key,
    series_field,
    user_field,
    users_key,
    users_pattern,
)
from model_export.experiment.markdown import render
from model_export.experiment.meta import parse_meta
from model_export.experiment.stats import analyze


def test_keys_follow_the_contract_and_the_scan_pattern_escapes_glob_characters() -> None:
    key = users_key("adrank:", "default", "control")
    assert key == "adrank:exp:{default}:arm:control:users"
    assert arm_of_users_key(key, "adrank:", "default") == "control"
    assert arm_of_users_key("adrank:exp:{default}:arm:a:b:users", "adrank:", "default") == "a:b"
    assert arm_of_users_key("adrank:exp:{other}:arm:x:users", "adrank:", "default") is None
    pattern = users_pattern("p*", "a[1]")
    assert pattern == r"p\*exp:{a\[1\]}:arm:*:users"
    # what Redis' glob matches, fnmatch matches once the escapes are read as literals
    literal = pattern.replace("\\*", "[*]").replace("\\[", "[[]").replace("\\]", "[]]")
    assert fnmatch.fnmatchcase(users_key("p*", "a[1]", "t"), literal)
    assert not fnmatch.fnmatchcase(users_key("px", "a1", "t"), literal)


def test_fields_split_on_the_first_colon() -> None:
    assert user_field("c:tenant:42:u") == ("clicks", "tenant:42:u")
    assert user_field("x:u") is None and user_field("c") is None
    assert series_field("1700000040:r") == (1700000040, "revenue")
    assert series_field("soon:i") is None and series_field("17:z") is None


def test_frames_sum_fields_and_count_absent_metrics_as_zero() -> None:
    users = users_frame(
        {
            "a": [
                (b"q:u:1", b"3"),
                (b"i:u:1", b"2"),
                (b"c:u:1", b"1"),
                (b"r:u:1", b"0.75"),
                (b"q:u2", b"1"),
                (b"zz:u2", b"9"),
            ],
            "b": [],
        }
    )
    assert users.to_dict("records") == [
        {"arm": "a", "user_id": "u:1", "requests": 3, "impressions": 2, "clicks": 1,
         "conversions": 0, "revenue": 0.75},
        {"arm": "a", "user_id": "u2", "requests": 1, "impressions": 0, "clicks": 0,
         "conversions": 0, "revenue": 0.0},
    ]  # fmt: skip
    series = series_frame({"b": [("120:i", "4"), ("60:i", "2"), ("60:c", "1")]})
    assert series[["bucket_start", "impressions", "clicks"]].values.tolist() == [
        [60, 2, 1],
        [120, 4, 0],
    ]


def test_meta_reads_its_fields_and_tolerates_absent_ones() -> None:
    meta = parse_meta(
        {
            b"arms": b'[{"name": "c", "weight": 0.7, "versions": ["v1"]}, {"name": "t"}]',
            b"control": b"c",
            b"bucket_s": b"60",
            b"started": b"1700000000.5",
            b"other": b"x",
        }
    )
    assert meta.weights == {"c": 0.7, "t": 1.0} and meta.arms[0].versions == ("v1",)
    assert (meta.control, meta.bucket_s, meta.started) == ("c", 60, 1700000000.5)
    assert meta.extra == {"other": "x"} and meta.salt is None
    empty = parse_meta({})
    assert empty.arms == () and empty.control is None
    with pytest.raises(ValueError, match="JSON list"):
        parse_meta({"arms": '{"name": "c"}'})


def test_markdown_of_a_single_arm_says_there_is_nothing_to_compare() -> None:
    users = users_frame({"default": [("q:u1", "2"), ("i:u1", "2"), ("q:u2", "1")]})
    analysis = analyze(users, {"default": 1.0}, "default")
    text = render("solo", analysis)
    assert "No other arm to compare." in text and "not checked" in text
    assert "| default (control) | 1.000 | 2 | 3 | 2 | 0 |" in text
    assert analysis.srm is None and math.isnan(analysis.arms[0].cvr.value)
