"""The experiment report as Markdown. Pure: ``render(name, analysis)`` → text.

Sections: the arms' table (totals and each ratio metric with its interval), the differences
against the control (relative lift and absolute difference with intervals, p-value, whether
significant at α), the sample-ratio line, the CUPED note when used, the smallest detectable
CTR lift, and notes.
"""

import math
from collections.abc import Callable, Sequence

from model_export.experiment.results import (
    METRIC_LABELS,
    METRIC_NAMES,
    Analysis,
    ArmSummary,
    Comparison,
    Estimate,
    SrmCheck,
)

DASH = "–"
Fmt = Callable[[float], str]


def _ok(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def pct(x: float, digits: int = 3) -> str:
    return f"{100 * x:.{digits}f}%" if _ok(x) else DASH


def signed_pct(x: float, digits: int = 2) -> str:
    return f"{100 * x:+.{digits}f}%" if _ok(x) else DASH


def number(x: float, digits: int = 2) -> str:
    return f"{x:,.{digits}f}" if _ok(x) else DASH


def pvalue(p: float) -> str:
    return f"{p:.3g}" if _ok(p) else DASH


def with_interval(e: Estimate, fmt: Fmt) -> str:
    """``value [low, high]``."""
    if not _ok(e.value):
        return DASH
    if not (_ok(e.low) and _ok(e.high)):
        return fmt(e.value)
    return f"{fmt(e.value)} [{fmt(e.low)}, {fmt(e.high)}]"


METRIC_FORMATS: dict[str, Fmt] = {"ctr": pct, "cvr": pct, "rpm": number}
DIFF_FORMATS: dict[str, Fmt] = {
    "ctr": lambda x: f"{100 * x:+.3f} pp" if _ok(x) else DASH,
    "cvr": lambda x: f"{100 * x:+.3f} pp" if _ok(x) else DASH,
    "rpm": lambda x: f"{x:+,.2f}" if _ok(x) else DASH,
}


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def arms_table(arms: Sequence[ArmSummary], control: str, level: float) -> list[str]:
    totals = ["users", "requests", "impressions", "clicks", "conversions", "revenue"]
    metrics = [f"{METRIC_LABELS[m]} [{level:.0%} CI]" for m in METRIC_NAMES]
    header = ["arm", "weight", *totals, *metrics]
    rows = [
        [
            f"{a.arm} (control)" if a.arm == control != "control" else a.arm,
            number(a.weight, 3) if a.weight is not None else DASH,
            f"{a.users:,}",
            f"{a.requests:,}",
            f"{a.impressions:,}",
            f"{a.clicks:,}",
            f"{a.conversions:,}",
            number(a.revenue),
            *(with_interval(getattr(a, m), METRIC_FORMATS[m]) for m in METRIC_NAMES),
        ]
        for a in arms
    ]
    return table(header, rows)


def differences_table(comparisons: Sequence[Comparison], alpha: float) -> list[str]:
    level = 1 - alpha
    header = ["arm", "metric", "control", "arm value", f"lift [{level:.0%} CI]",
              f"difference [{level:.0%} CI]", "p-value", f"significant at α={alpha:g}"]  # fmt: skip
    rows = []
    for c in comparisons:
        for m in METRIC_NAMES:
            d = c.differences[m]
            fmt = METRIC_FORMATS[m]
            label = METRIC_LABELS[m] + (" (CUPED)" if d.cuped else "")
            significant = "**yes**" if d.significant else ("no" if _ok(d.pvalue) else DASH)
            rows.append([c.arm, label, fmt(d.control), fmt(d.treatment),
                         with_interval(d.lift, signed_pct),
                         with_interval(d.diff, DIFF_FORMATS[m]), pvalue(d.pvalue),
                         significant])  # fmt: skip
    return table(header, rows)


def srm_line(srm: SrmCheck | None) -> str:
    if srm is None:
        return (
            "Sample ratio: not checked (fewer than two arms with a configured weight, or no users)."
        )
    counts = ", ".join(
        f"{arm} {srm.users[arm]:,} (expected {srm.expected[arm]:,.0f})" for arm in srm.users
    )
    verdict = (
        f"**MISMATCH** (p < {srm.alpha:g}): the split of users is not the configured one; "
        "do not trust the differences"
        if srm.mismatch
        else f"ok (no mismatch at {srm.alpha:g})"
    )
    return f"Sample ratio (chi-square): {counts}; p = {pvalue(srm.pvalue)}: {verdict}."


def cuped_line(analysis: Analysis) -> str | None:
    info = analysis.cuped
    if info is None:
        return None
    users = sum(a.users for a in analysis.arms)
    source = f" from `{info.source}`" if info.source else ""
    adjusted = ", ".join(METRIC_LABELS[m] for m in info.metrics) or "none"
    return (
        f"CUPED: covariates{source} (the same metrics per user over the earlier period; "
        f"{info.users_with_history:,} of {users:,} users have history, the others count "
        f"zeros); adjusted: {adjusted}. The differences' control and arm values are the "
        "adjusted means; the arms' table is unadjusted."
    )


def mde_line(analysis: Analysis) -> str:
    parts = [
        f"{c.arm} ±{pct(c.detectable_ctr_lift, 1)}"
        if _ok(c.detectable_ctr_lift)
        else f"{c.arm} {DASH}"
        for c in analysis.comparisons
    ]
    return (
        f"Smallest relative CTR lift detectable at {analysis.power:.0%} power, "
        f"α={analysis.alpha:g}, with these users: {', '.join(parts) or DASH}."
    )


def render(name: str, analysis: Analysis) -> str:
    level = 1 - analysis.alpha
    lines = [f"# Experiment `{name}`", "", f"Control: `{analysis.control}`.", "", "## Arms", ""]
    lines += arms_table(analysis.arms, analysis.control, level)
    lines += ["", f"## Against `{analysis.control}`", ""]
    if analysis.comparisons:
        lines += differences_table(analysis.comparisons, analysis.alpha)
    else:
        lines += ["No other arm to compare."]
    lines += ["", srm_line(analysis.srm), ""]
    cuped = cuped_line(analysis)
    if cuped:
        lines += [cuped, ""]
    lines += [mde_line(analysis), ""]
    if analysis.notes:
        lines += ["## Notes", "", *(f"- {note}" for note in analysis.notes), ""]
    return "\n".join(lines)
