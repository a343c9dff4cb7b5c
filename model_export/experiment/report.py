"""The experiment report: counts from Redis → statistics → ``report.md``, ``report.json`` and
``arms_over_time.png`` (docs/experiments.md, "Report").

``report_experiment(redis_url, name, prefix="adrank:", control=None, cuped_from=None,
alpha=0.05, out=None) -> ExperimentReport`` reads the experiment ``name`` (``counts``),
analyses it (``stats.analyze``: every non-control arm against ``control``, which defaults to
the meta's ``control``, else its first arm), with CUPED when ``cuped_from`` names an earlier
experiment under the same prefix whose per-user counts serve as covariates, and writes the
three files into ``out`` when given. Raises ``counts.NoSuchExperiment`` when Redis holds
nothing of ``name`` (or of ``cuped_from``), ``ValueError`` for a control that is no arm.

``ExperimentReport`` fields: ``name``, ``analysis`` (``results.Analysis``: ``control``,
``alpha``, ``arms``, ``comparisons``, ``srm``, ``cuped``, ``power``, ``notes``), ``meta``
(``meta.ExperimentMeta``), ``markdown`` (the report's text) and ``files`` (written paths).
Shortcuts: ``comparisons``, ``control``, ``srm_pvalue`` (the chi-square over all weighted
arms; NaN when not checked) and ``ctr_lifts()``: per treatment arm ``{"estimate", "ci_low",
"ci_high", "p_value", "significant", "srm_pvalue"}`` of the relative CTR lift (``srm_pvalue``
there is the pairwise check of that arm and the control).
"""

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from model_export.experiment.counts import ExperimentCounts, read_counts
from model_export.experiment.frames import per_user_totals
from model_export.experiment.markdown import render
from model_export.experiment.meta import ExperimentMeta
from model_export.experiment.plots import plot_arms_over_time
from model_export.experiment.results import (
    METRIC_NAMES,
    Analysis,
    ArmSummary,
    Comparison,
    Difference,
    finite,
)
from model_export.experiment.stats import analyze

REPORT_MD, REPORT_JSON, PLOT_PNG = "report.md", "report.json", "arms_over_time.png"


@dataclass(frozen=True)
class ExperimentReport:
    """One experiment's report: its statistics, the meta it was read with, the Markdown
    text and the files written (empty without ``out``)."""

    name: str
    analysis: Analysis
    meta: ExperimentMeta
    markdown: str
    files: tuple[Path, ...] = ()

    @property
    def comparisons(self) -> tuple[Comparison, ...]:
        return self.analysis.comparisons

    @property
    def control(self) -> str:
        return self.analysis.control

    @property
    def srm_pvalue(self) -> float:
        srm = self.analysis.srm
        return srm.pvalue if srm is not None else math.nan

    def ctr_lifts(self) -> dict[str, dict[str, Any]]:
        """Per treatment arm its relative CTR lift against the control."""
        return {c.arm: lift_record(c.ctr) | {"srm_pvalue": c.srm_pvalue} for c in self.comparisons}

    def as_dict(self) -> dict[str, Any]:
        return document(self)


def report_experiment(
    redis_url: str,
    name: str,
    prefix: str = "adrank:",
    control: str | None = None,
    cuped_from: str | None = None,
    alpha: float = 0.05,
    out: Path | str | None = None,
) -> ExperimentReport:
    """Read, analyse and (with ``out``) write the report of experiment ``name``."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    counts = read_counts(redis_url, name, prefix)
    covariates = None
    if cuped_from is not None:
        covariates = per_user_totals(read_counts(redis_url, cuped_from, prefix).users)
    analysis = analyze_counts(counts, control, alpha, covariates, cuped_from)
    report = ExperimentReport(name, analysis, counts.meta, render(name, analysis))
    if out is None:
        return report
    return replace(report, files=write_report(report, counts.series, Path(out)))


def choose_control(counts: ExperimentCounts, control: str | None) -> str:
    """The asked control, else the meta's, else the first arm."""
    chosen = control or counts.meta.control or (counts.arms[0] if counts.arms else None)
    if chosen is None or chosen not in counts.arms:
        raise ValueError(f"control arm {chosen!r} is not among the arms {list(counts.arms)}")
    return chosen


def analyze_counts(
    counts: ExperimentCounts,
    control: str | None,
    alpha: float,
    covariates: pd.DataFrame | None = None,
    cuped_from: str | None = None,
) -> Analysis:
    """``stats.analyze`` of the counts, with the notes the counts call for."""
    chosen = choose_control(counts, control)
    weights = counts.meta.weights
    analysis = analyze(counts.users, weights, chosen, alpha, covariates, counts.arms)
    cuped = None if analysis.cuped is None else replace(analysis.cuped, source=cuped_from)
    return replace(analysis, cuped=cuped, notes=(*count_notes(counts), *analysis.notes))


def count_notes(counts: ExperimentCounts) -> list[str]:
    """What in the counts weakens the analysis: no meta, arms the meta does not list, users
    counted in several arms (the arms changed during the experiment)."""
    notes = []
    if not counts.meta.arms:
        notes.append("no meta arms: arms found by SCAN, weights unknown")
    if counts.unlisted and counts.meta.arms:
        notes.append(f"arms with counts but not in the meta: {', '.join(counts.unlisted)}")
    per_user = counts.users.groupby("user_id")["arm"].nunique()
    shared = int((per_user > 1).sum())
    if shared:
        notes.append(f"{shared:,} users were counted in more than one arm")
    return notes


# ------------------------------------------------------------------ files


def write_report(report: ExperimentReport, series: pd.DataFrame, out: Path) -> tuple[Path, ...]:
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / REPORT_MD, out / REPORT_JSON
    md.write_text(report.markdown, encoding="utf-8")
    text = json.dumps(document(report), indent=2, ensure_ascii=False, allow_nan=False)
    js.write_text(text + "\n", encoding="utf-8")
    arms = [a.arm for a in report.analysis.arms]
    png = plot_arms_over_time(series, out / PLOT_PNG, arms)
    return md, js, png


def lift_record(d: Difference) -> dict[str, Any]:
    """A difference's relative lift as the simulator reads it."""
    return {"estimate": d.lift.value, "ci_low": d.lift.low, "ci_high": d.lift.high,
            "p_value": d.pvalue, "significant": d.significant}  # fmt: skip


def difference_record(d: Difference) -> dict[str, Any]:
    return {
        "control": d.control,
        "treatment": d.treatment,
        "lift": d.lift.value,
        "lift_ci": [d.lift.low, d.lift.high],
        "diff": d.diff.value,
        "diff_ci": [d.diff.low, d.diff.high],
        "pvalue": d.pvalue,
        "significant": d.significant,
        "cuped": d.cuped,
    }


def arm_record(a: ArmSummary) -> dict[str, Any]:
    totals = {k: v for k, v in asdict(a).items() if k not in (*METRIC_NAMES, "arm")}
    metrics = {m: {"value": e.value, "ci": [e.low, e.high]} for m in METRIC_NAMES
               for e in [getattr(a, m)]}  # fmt: skip
    return totals | metrics


def comparison_record(c: Comparison) -> dict[str, Any]:
    return {
        "arm": c.arm,
        "control": c.control,
        "metrics": {m: difference_record(d) for m, d in c.differences.items()},
        "srm_pvalue": c.srm_pvalue,
        "detectable_ctr_lift": c.detectable_ctr_lift,
    }


def document(report: ExperimentReport) -> dict[str, Any]:
    """report.json: NaN and infinities as null."""
    a = report.analysis
    body: Mapping[str, Any] = {
        "name": report.name,
        "control": a.control,
        "alpha": a.alpha,
        "confidence_level": 1 - a.alpha,
        "power": a.power,
        "meta": asdict(report.meta),
        "arms": {s.arm: arm_record(s) for s in a.arms},
        "comparisons": [comparison_record(c) for c in a.comparisons],
        "srm": asdict(a.srm) if a.srm is not None else None,
        "srm_pvalue": report.srm_pvalue,
        "cuped": asdict(a.cuped) if a.cuped is not None else None,
        "notes": list(a.notes),
    }
    return finite(dict(body))
