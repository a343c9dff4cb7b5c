"""The report of `adrank copy` on crafted results: the summary's rates and means, the best and
chosen marks, dropped variants with their reasons, the same numbers in Markdown and HTML
(escaped), and the JSON records."""

import math

import pytest

from model_export.copy.checks import AdText
from model_export.copy.pipeline import CopyAd, CopyResult, ScoredText
from model_export.copy.report import html_report, markdown, records, summarise_results
from service.copy.audience import TextScore

META = {"bundle": "b (version v1)", "generator": "scripted"}


def _scored(title: str, mean: float, uplift: float, true: float | None = None) -> ScoredText:
    score = TextScore(mean, uplift, 0.05, uplift - 0.1, uplift + 0.1, 0.6 if uplift > 0 else 0.3)
    return ScoredText(AdText(title, "Free shipping."), score, None if true is None else 0.03,
                      true)  # fmt: skip


def _results(truth: bool = True) -> list[CopyResult]:
    t = (lambda v: v) if truth else (lambda v: None)
    first = CopyResult(
        CopyAd("ad-1", AdText("Velvik <shoes>", "Free shipping."), "Sport"),
        _scored("Velvik <shoes>", 0.030, 0.0, t(0.0)),
        [_scored("Velvik shoes, light", 0.033, 0.10, t(0.04)),
         _scored("Velvik | shoes", 0.031, 0.0333, t(-0.01))],
        [(AdText("Velvik shoes $9", "Free shipping."), ["new_claim:$9"]),
         (AdText("Shoes", "Free shipping."), ["fact_missing:Velvik"]),
         (AdText("Velvik shoes!!", "Free shipping."), ["duplicate"])],
        asked=8, generated=5, audience_users=20,
    )  # fmt: skip
    second = CopyResult(  # its best variant loses: not chosen
        CopyAd("ad-2", AdText("Kor mugs", "Sign up today.")),
        _scored("Kor mugs", 0.020, 0.0, t(0.0)),
        [_scored("Kor mugs for you", 0.019, -0.05, t(0.02))],
        [(AdText("Kor mugs", "Sign up today, damn."), ["unsafe"])],
        asked=8, generated=2, audience_users=20,
    )  # fmt: skip
    third = CopyResult(CopyAd("ad-3", AdText("Nova tea")), _scored("Nova tea", 0.01, 0.0, t(0.0)),
                       [], [], asked=8, generated=0, audience_users=20)  # fmt: skip
    return [first, second, third]


def test_the_summary_counts_rates_and_means() -> None:
    s = summarise_results(_results())
    assert (s.ads, s.asked, s.generated, s.kept) == (3, 24, 7, 3)
    assert s.pass_rate == pytest.approx(3 / 7)
    assert s.fact_retention == pytest.approx(5 / 7)  # two of seven lost or added a fact
    assert (s.with_best, s.chosen) == (2, 1)
    assert s.best_predicted_uplift == pytest.approx((0.10 - 0.05) / 2)
    assert s.best_true_uplift == pytest.approx((0.04 + 0.02) / 2)
    assert s.chosen_true_uplift == pytest.approx(0.04)
    plain = summarise_results(_results(truth=False))
    assert math.isnan(plain.best_true_uplift) and math.isnan(plain.chosen_true_uplift)
    empty = summarise_results([])
    assert math.isnan(empty.pass_rate) and math.isnan(empty.best_predicted_uplift)


def test_markdown_puts_the_original_beside_its_variants() -> None:
    text = markdown(_results(), META)
    assert text.startswith("# Ad copy variants")
    assert "- generator: scripted" in text
    assert "| filter pass rate (kept / generated) | 42.9% (3) |" in text
    assert "| fact retention (no fact_missing / new_claim) | 71.4% |" in text
    assert "| mean true uplift of the chosen variants | +4.0% |" in text
    assert "## ad-1 (Sport)" in text
    assert "| original | Velvik <shoes> | Free shipping. | 3.0000% |" in text
    assert "| 1 ★ chosen | Velvik shoes, light | Free shipping. | 3.3000% | +10.0% |" in text
    assert "| 2 | Velvik \\| shoes |" in text  # a pipe in a cell is escaped
    assert "| 1 ☆ best | Kor mugs for you |" in text  # the best, not chosen
    assert "| Velvik shoes $9 | Free shipping. | new_claim:$9 |" in text
    assert "Dropped (3):" in text and "## ad-3" in text
    assert "true uplift" not in markdown(_results(truth=False), META)


def test_html_says_the_same_escaped() -> None:
    page = html_report(_results(), META)
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<td>Velvik &lt;shoes&gt;</td>" in page and "<shoes>" not in page
    assert '<tr class="chosen"><td>1 ★ chosen</td>' in page
    assert "<td>fact retention (no fact_missing / new_claim)</td><td>71.4%</td>" in page
    assert page.count("<h2>") == 3


def test_records_hold_every_number_and_the_marks() -> None:
    first, second, third = records(_results())
    assert first["best"] == 0 and first["chosen"] == 0
    assert second["best"] == 0 and second["chosen"] is None
    assert third["best"] is None and third["kept"] == []
    assert first["kept"][1]["uplift"] == pytest.approx(0.0333)
    assert first["dropped"][0]["reasons"] == ["new_claim:$9"]
    assert first["original"]["true_uplift"] == 0.0
