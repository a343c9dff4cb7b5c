"""The report of ``adrank copy``: Markdown and HTML a person can read.

At the top, what was run and a summary over the ads (``CopySummary``); then per ad its
original beside the kept variants, each with its mean predicted CTR, the uplift over the
original, the spread of that uplift over the audience (p10…p90 and std of the per-user
ratio), the share of users for whom it beats the original and, on the synthetic platform,
the true uplift; the best variant is marked (★ chosen when it beats the original, ☆ best
otherwise); last, the dropped variants with the checks' reasons.

Both formats are rendered from the same tables (``Table``), so they say the same.
"""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from model_export.copy.pipeline import CopyResult, ScoredText

FACT_REASONS = ("fact_missing:", "new_claim:")


@dataclass(frozen=True)
class CopySummary:
    ads: int
    asked: int  # variants asked of the generator
    generated: int  # variants it returned (parsed)
    kept: int
    fact_kept: int  # generated variants with no fact_missing / new_claim reason
    with_best: int  # ads with at least one kept variant
    chosen: int  # ads whose best variant is predicted to beat the original
    best_predicted_uplift: float  # mean over ads with a kept variant (NaN without)
    best_true_uplift: float  # the same ads' best variants, on the truth (NaN without)
    chosen_true_uplift: float  # mean over chosen variants, on the truth (NaN without)

    @property
    def pass_rate(self) -> float:
        return self.kept / self.generated if self.generated else math.nan

    @property
    def fact_retention(self) -> float:
        return self.fact_kept / self.generated if self.generated else math.nan


def _mean(values: Sequence[float | None]) -> float:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else math.nan


def keeps_facts(reasons: Sequence[str]) -> bool:
    return not any(r.startswith(FACT_REASONS) for r in reasons)


def summarise_results(results: Sequence[CopyResult]) -> CopySummary:
    """The summary over ads (pure)."""
    best = [r.best for r in results if r.best is not None]
    chosen = [r.chosen for r in results if r.chosen is not None]
    generated = sum(r.generated for r in results)
    fact_dropped = sum(not keeps_facts(reasons) for r in results for _, reasons in r.dropped)
    return CopySummary(
        ads=len(results),
        asked=sum(r.asked for r in results),
        generated=generated,
        kept=sum(len(r.kept) for r in results),
        fact_kept=generated - fact_dropped,
        with_best=len(best),
        chosen=len(chosen),
        best_predicted_uplift=_mean([b.score.uplift for b in best]),
        best_true_uplift=_mean([b.true_uplift for b in best]),
        chosen_true_uplift=_mean([c.true_uplift for c in chosen]),
    )


# ---------------------------------------------------------------- tables


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]


def pct(value: float | None, signed: bool = True) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:+.1%}" if signed else f"{value:.1%}"


def summary_table(s: CopySummary, has_truth: bool) -> Table:
    rows = [
        ["ads", f"{s.ads}"],
        ["variants generated (asked)", f"{s.generated} ({s.asked})"],
        ["filter pass rate (kept / generated)", f"{pct(s.pass_rate, False)} ({s.kept})"],
        ["fact retention (no fact_missing / new_claim)", pct(s.fact_retention, False)],
        ["ads with a kept variant", f"{s.with_best}"],
        ["mean predicted uplift of the best variant", pct(s.best_predicted_uplift)],
        ["ads whose best variant is chosen (predicted uplift > 0)", f"{s.chosen}"],
    ]
    if has_truth:
        rows.append(["mean true uplift of the best variants", pct(s.best_true_uplift)])
        rows.append(["mean true uplift of the chosen variants", pct(s.chosen_true_uplift)])
    return Table(["", "value"], rows)


def _mark(result: CopyResult, scored: ScoredText) -> str:
    if scored is result.chosen:
        return "★ chosen"
    return "☆ best" if scored is result.best else ""


def ad_table(result: CopyResult, has_truth: bool) -> Table:
    header = ["", "title", "description", "mean pCTR", "uplift", "per-user uplift p10 … p90",
              "std", "users better"]  # fmt: skip
    header += ["true uplift"] if has_truth else []
    rows = []
    for i, s in enumerate([result.original, *result.kept]):
        sc = s.score
        label = "original" if i == 0 else f"{i} {_mark(result, s)}".strip()
        row = [label, s.text.title, s.text.description, f"{sc.mean_pctr:.4%}",
               pct(sc.uplift) if i else "", f"{pct(sc.uplift_p10)} … {pct(sc.uplift_p90)}"
               if i else "", f"{sc.uplift_std:.1%}" if i else "",
               pct(sc.share_better, False) if i else ""]  # fmt: skip
        row += [pct(s.true_uplift) if i else ""] if has_truth else []
        rows.append(row)
    return Table(header, rows)


def dropped_table(result: CopyResult) -> Table:
    rows = [[t.title, t.description, ", ".join(reasons)] for t, reasons in result.dropped]
    return Table(["title", "description", "reasons"], rows)


# ---------------------------------------------------------------- Markdown


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def md_table(table: Table) -> str:
    lines = ["| " + " | ".join(map(_md_cell, table.header)) + " |",
             "|" + "---|" * len(table.header)]  # fmt: skip
    lines += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in table.rows]
    return "\n".join(lines)


def _has_truth(results: Sequence[CopyResult]) -> bool:
    return any(r.original.true_mean is not None for r in results)


def markdown(results: Sequence[CopyResult], meta: Mapping[str, str]) -> str:
    truth = _has_truth(results)
    parts = ["# Ad copy variants", "", *(f"- {k}: {v}" for k, v in meta.items()), "",
             md_table(summary_table(summarise_results(results), truth)), ""]  # fmt: skip
    for r in results:
        parts += [f"## {r.ad.ad_id}" + (f" ({r.ad.category})" if r.ad.category else ""), "",
                  md_table(ad_table(r, truth)), ""]  # fmt: skip
        if r.dropped:
            parts += [f"Dropped ({len(r.dropped)}):", "", md_table(dropped_table(r)), ""]
    return "\n".join(parts)


# ---------------------------------------------------------------- HTML

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}tr.chosen{background:#e6f6e6}tr.original{background:#f7f7f7}"
)


def html_table(table: Table, row_classes: Sequence[str] = ()) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = []
    for i, row in enumerate(table.rows):
        cls = row_classes[i] if i < len(row_classes) and row_classes[i] else ""
        attr = f' class="{cls}"' if cls else ""
        body.append(f"<tr{attr}>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _row_classes(result: CopyResult) -> list[str]:
    return ["original"] + ["chosen" if s is result.chosen else "" for s in result.kept]


def html_report(results: Sequence[CopyResult], meta: Mapping[str, str]) -> str:
    truth = _has_truth(results)
    items = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in meta.items())
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Ad copy variants</title>"
             f"<style>{STYLE}</style></head><body><h1>Ad copy variants</h1><ul>{items}</ul>",
             html_table(summary_table(summarise_results(results), truth))]  # fmt: skip
    for r in results:
        title = r.ad.ad_id + (f" ({r.ad.category})" if r.ad.category else "")
        parts += [f"<h2>{html.escape(title)}</h2>", html_table(ad_table(r, truth), _row_classes(r))]
        if r.dropped:
            parts += [f"<p>Dropped ({len(r.dropped)}):</p>", html_table(dropped_table(r))]
    return "".join(parts) + "</body></html>\n"


# ---------------------------------------------------------------- JSON


def _scored_record(s: ScoredText) -> dict[str, object]:
    return {"title": s.text.title, "description": s.text.description,
            **dataclasses.asdict(s.score), "true_mean": s.true_mean,
            "true_uplift": s.true_uplift}  # fmt: skip


def _position(kept: Sequence[ScoredText], one: ScoredText | None) -> int | None:
    return next((i for i, s in enumerate(kept) if s is one), None)


def _record(r: CopyResult) -> dict[str, object]:
    return {
        "ad_id": r.ad.ad_id,
        "category": r.ad.category,
        "generator": r.generator,
        "asked": r.asked,
        "generated": r.generated,
        "audience_users": r.audience_users,
        "original": _scored_record(r.original),
        "kept": [_scored_record(s) for s in r.kept],
        "best": _position(r.kept, r.best),
        "chosen": _position(r.kept, r.chosen),
        "dropped": [
            {"title": t.title, "description": t.description, "reasons": reasons}
            for t, reasons in r.dropped
        ],
    }


def records(results: Sequence[CopyResult]) -> list[dict[str, object]]:
    """Each ad's result as plain data (what ``adrank copy`` writes beside the report)."""
    return [_record(r) for r in results]
