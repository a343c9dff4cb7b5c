"""The MIND converter on a tiny hand-written sample, broken lines included."""

from pathlib import Path

import pytest

from model_export.data.io import DataError, read_clicklog
from model_export.data.mind import convert_mind, parse_behavior, parse_time

NEWS = [
    "N1\tsports\tfootball_nfl\tBig game tonight\tTeams meet.\thttps://x/1\t[]\t[]",
    "N2\tnews\tnewsus\tElection news\t\thttps://x/2\t[]\t[]",
    "N3\tfinance\tmarkets\tStocks rally\tMarkets rose.\thttps://x/3\t[]\t[]",
    "N4 has no tabs",  # broken
]
BEHAVIORS = [
    "1\tU1\t11/11/2019 9:05:58 AM\tN1 N2\tN3-1 N2-0",
    "2\tU2\t11/11/2019 2:00:00 PM\t\tN1-0 N3-1",
    "3\tU1\t11/12/2019 8:00:00 AM\tN1 N2\tN3-0 N1-1",
    "4\tU3\tyesterday\tN1\tN2-1",  # broken: time
    "5\tU4\t11/12/2019 9:00:00 AM\t\tN4-1",  # N4's line is broken, so N4 is unknown
]
T1 = 1_573_463_158  # 2019-11-11 09:05:58 UTC, a Monday
T2 = 1_573_480_800  # 2019-11-11 14:00:00 UTC
T3 = 1_573_545_600  # 2019-11-12 08:00:00 UTC


def _mind(tmp_path: Path, news: list[str], behaviors: list[str]) -> Path:
    mind = tmp_path / "MINDsmall_dev"
    mind.mkdir()
    (mind / "news.tsv").write_text("\n".join(news) + "\n", encoding="utf-8")
    (mind / "behaviors.tsv").write_text("\n".join(behaviors) + "\n", encoding="utf-8")
    return mind


def test_sample_converts_exactly_with_broken_lines_skipped(tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = convert_mind(_mind(tmp_path, NEWS, BEHAVIORS), out, skip_invalid=True)
    assert report.read.rows == {"news.tsv": 3, "behaviors.tsv": 3}
    assert report.read.skipped == {
        "news.tsv": {"expected 4 to 8 tab-separated fields": 1},
        "behaviors.tsv": {
            "field 'time': must be like '11/11/2019 9:05:58 AM'": 1,
            "field 'impressions': news not in news.tsv": 1,
        },
    }
    assert report.written == {"ads.jsonl": 3, "events.jsonl": 5, "impressions.jsonl": 6}

    log, read_report = read_clicklog(out)
    assert read_report.total_skipped == 0
    assert log.name == "out"
    assert log.ads.to_dict("records") == [
        {
            "ad_id": "N1",
            "title": "Big game tonight",
            "description": "Teams meet.",
            "category": "sports",
            "subcategory": "football_nfl",
        },
        {
            "ad_id": "N2",
            "title": "Election news",
            "description": "",
            "category": "news",
            "subcategory": "newsus",
        },
        {
            "ad_id": "N3",
            "title": "Stocks rally",
            "description": "Markets rose.",
            "category": "finance",
            "subcategory": "markets",
        },
    ]
    imps = log.impressions
    assert imps[["user_id", "ad_id", "ts", "label", "impression_id"]].values.tolist() == [
        ["U1", "N3", T1, 1, "1"],
        ["U1", "N2", T1, 0, "1"],
        ["U2", "N1", T2, 0, "2"],
        ["U2", "N3", T2, 1, "2"],
        ["U1", "N3", T3, 0, "3"],
        ["U1", "N1", T3, 1, "3"],
    ]
    assert imps["ctx_hour"].tolist() == [9, 9, 14, 14, 8, 8]
    assert imps["ctx_weekday"].tolist() == [0, 0, 0, 0, 1, 1]
    assert log.context_fields == ["hour", "weekday"]
    assert log.events.values.tolist() == [
        ["U1", "N1", "Big game tonight", "click", T1 - 2],  # history, before the first line
        ["U1", "N2", "Election news", "click", T1 - 1],
        ["U1", "N3", "Stocks rally", "click", T1],  # clicked candidates
        ["U2", "N3", "Stocks rally", "click", T2],
        ["U1", "N1", "Big game tonight", "click", T3],
    ]


def test_the_first_broken_line_raises_by_default(tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        convert_mind(_mind(tmp_path, NEWS, BEHAVIORS), tmp_path / "out")
    assert str(caught.value) == "news.tsv:4: expected 4 to 8 tab-separated fields, got 1"
    assert not (tmp_path / "out").exists()


BROKEN_BEHAVIORS = [
    ("1\tU1\t11/11/2019 9:05:58 AM\tN1", "behaviors.tsv:1: expected 5 tab-separated fields, got 4"),
    (
        "1\tU1\t2019-11-11 09:05:58\tN1\tN2-1",
        "behaviors.tsv:1: field 'time': must be like '11/11/2019 9:05:58 AM', "
        'got "2019-11-11 09:05:58"',
    ),
    (
        "1\tU1\t11/11/2019 9:05:58 AM\tN1\tN2",
        "behaviors.tsv:1: field 'impressions': each candidate must be news_id-0 or news_id-1 "
        '(MIND test files carry no labels), got "N2"',
    ),
    (
        "1\tU1\t11/11/2019 9:05:58 AM\tN1\tN2-2",
        "behaviors.tsv:1: field 'impressions': each candidate must be news_id-0 or news_id-1 "
        '(MIND test files carry no labels), got "N2-2"',
    ),
    (
        "1\tU1\t11/11/2019 9:05:58 AM\tN1\tN9-1",
        "behaviors.tsv:1: field 'impressions': news not in news.tsv, got \"N9\"",
    ),
    (
        "1\tU1\t11/11/2019 9:05:58 AM\tN9\tN1-1",
        "behaviors.tsv:1: field 'history': news not in news.tsv, got \"N9\"",
    ),
    (
        "1\tU1\t11/11/2019 9:05:58 AM\tN1\t",
        "behaviors.tsv:1: field 'impressions': must list at least one candidate, got \"\"",
    ),
    (
        "1\t \t11/11/2019 9:05:58 AM\tN1\tN1-1",
        "behaviors.tsv:1: field 'user_id': must not be empty, got \" \"",
    ),
]


@pytest.mark.parametrize(("line", "message"), BROKEN_BEHAVIORS)
def test_broken_behaviors_lines_name_file_line_and_field(
    tmp_path: Path, line: str, message: str
) -> None:
    with pytest.raises(DataError) as caught:
        convert_mind(_mind(tmp_path, NEWS[:3], [line]), tmp_path / "out")
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "N1\tsports\tnfl\tAgain\t\t\t[]\t[]",
            "news.tsv:4: field 'news_id': duplicate of line 1, got \"N1\"",
        ),
        ("N5\tsports\tnfl\t\t\t\t[]\t[]", "news.tsv:4: field 'title': must not be empty, got \"\""),
        ("N5\ta\tb\tc\td\te\tf\tg\th", "news.tsv:4: expected 4 to 8 tab-separated fields, got 9"),
    ],
)
def test_broken_news_lines_name_file_line_and_field(
    tmp_path: Path, line: str, message: str
) -> None:
    with pytest.raises(DataError) as caught:
        convert_mind(_mind(tmp_path, [*NEWS[:3], line], BEHAVIORS[:3]), tmp_path / "out")
    assert str(caught.value) == message


def test_trimmed_news_lines_without_abstract_are_accepted(tmp_path: Path) -> None:
    news = ["N1\tsports\tnfl\tBig game", "N2\tnews\tus\tElection\tAbstract"]
    report = convert_mind(
        _mind(tmp_path, news, ["1\tU1\t1/2/2020 1:00:00 PM\t\tN1-1 N2-0"]), tmp_path / "out"
    )
    assert report.written == {"ads.jsonl": 2, "events.jsonl": 1, "impressions.jsonl": 2}
    log, _ = read_clicklog(tmp_path / "out")
    assert log.ads["description"].tolist() == ["", "Abstract"]


def test_pure_line_parsing() -> None:
    line = parse_behavior("7\tU9\t11/11/2019 9:05:58 PM\tN1 N2\tN3-1 N1-0", {"N1", "N2", "N3"})
    assert line.impression_id == "7"
    assert line.ts == T1 + 12 * 3600
    assert line.history == ("N1", "N2")
    assert line.candidates == (("N3", 1), ("N1", 0))
    assert parse_time("11/11/2019 12:00:00 AM") == T1 - (9 * 3600 + 5 * 60 + 58)
