"""`adrank copy-tune`'s arguments, and the pure parts of loadtests/copy_speed.py."""

import json
from pathlib import Path

import pytest

from adrank.cli import build_parser

pytest.importorskip("torch")  # the generator's module, which copy_speed and finetune import

from loadtests.copy_speed import FALLBACK_ADS, HEADER, Row, catalog_ads, markdown
from model_export.copy.checks import AdText
from model_export.copy.finetune import TuneConfig


def test_copy_tune_is_registered_with_its_bounds() -> None:
    args = build_parser().parse_args(
        ["copy-tune", "--data", "d", "--out", "o", "--max-steps", "5", "--max-minutes", "1.5"]
    )
    assert args.run.__module__ == "model_export.commands.copy_tune"
    assert (args.data, args.out) == (Path("d"), Path("o"))
    assert (args.max_steps, args.max_minutes, args.seed) == (5, 1.5, TuneConfig().seed)
    assert (args.threads, args.held_out, args.rewrites_per_ad) == (1, 64, 2)


def test_catalog_ads_reads_an_ads_file(tmp_path: Path) -> None:
    rows = [{"ad_id": "a0", "title": "T0", "description": "D0"}, {"ad_id": "a1", "title": "T1"}]
    (tmp_path / "ads.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert catalog_ads(tmp_path / "ads.jsonl", 5) == [AdText("T0", "D0"), AdText("T1", "")]
    assert catalog_ads(None, 2) == FALLBACK_ADS[:2]


def test_the_table_reports_rates_per_second() -> None:
    row = Row("rt", answers=8, parsed=6, kept=2, tokens=320, seconds=4.0)
    assert row.cells() == ["rt", "8", "75%", "25%", "2.00", "1.50", "80.0", "4.0"]
    lines = markdown([row]).splitlines()
    assert lines[0].count("|") == len(HEADER) + 1 and lines[2].startswith("| rt |")
