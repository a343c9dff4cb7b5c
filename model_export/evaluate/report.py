"""Write an evaluation as ``report.json`` (for machines) and ``report.md`` (for people).

``results`` maps model name → subset name → metric dict (``metrics.evaluate_predictions``).
``report.json``::

    {
      "main_subset": "test",
      "oracle_auc": 0.78,                      # oracle's AUC on the main subset, when known
      "models": {
        "adrank": {
          "auc": 0.74, "gauc": ..., "logloss": ..., "ece": ..., "n": ...,   # main subset
          "oracle_auc": 0.78,                  # when known for that subset
          "main_subset": "test",               # which subset the top-level metrics are
          "test": {"auc": ..., ..., "oracle_auc": 0.78},
          "test_cold": {...}
        },
        "popularity": {...},
        "oracle": {...}
      },
      ...                                      # every key of ``extra``, as given
    }

So each model carries its main-subset metrics at its top level and one entry per subset.
The oracle is the model named ``"oracle"`` (predictions = the true click probability, known
on synthetic data); its AUC on a subset is copied into every model's metrics of that subset as
``oracle_auc``. A model without the main subset gets its first subset at top level. NaN
metrics (e.g. AUC of a one-class subset) are written as JSON ``null``.
"""

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ORACLE = "oracle"
MAIN_SUBSET = "test"
RESERVED = ("main_subset", "oracle_auc", "models")
COLUMNS = (("auc", "AUC"), ("gauc", "gAUC"), ("logloss", "log loss"), ("ece", "ECE"), ("n", "n"))
EXPECTED = ("expected_auc", "E[AUC]")  # a column where the true click probability is known

Metrics = Mapping[str, Any]
Results = Mapping[str, Mapping[str, Metrics]]


def _oracle_aucs(results: Results) -> dict[str, float]:
    """Oracle AUC per subset, where an oracle was evaluated and its AUC is defined."""
    subsets = results.get(ORACLE, {})
    return {s: float(m["auc"]) for s, m in subsets.items() if _finite(m.get("auc"))}


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _clean(value: Any) -> Any:
    """NaN/inf → None, numpy scalars → Python numbers, recursively."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _model_entry(subsets: Mapping[str, Metrics], oracle: dict[str, float], main: str) -> dict:
    entry: dict[str, Any] = {}
    for subset, metrics in subsets.items():
        if subset in metrics:
            raise ValueError(f"subset name {subset!r} collides with a metric name")
        row = dict(metrics)
        if subset in oracle:
            row["oracle_auc"] = oracle[subset]
        entry[subset] = row
    top = main if main in subsets else next(iter(subsets), None)
    return ({**entry[top], **entry} if top is not None else entry) | {"main_subset": top}


def build_report(
    results: Results, extra: Mapping[str, Any], main_subset: str = MAIN_SUBSET
) -> dict:
    """The ``report.json`` document (see the module docstring)."""
    clash = [k for k in extra if k in RESERVED]
    if clash:
        raise ValueError(f"extra keys {clash} are reserved by the report")
    oracle = _oracle_aucs(results)
    models = {name: _model_entry(subsets, oracle, main_subset) for name, subsets in results.items()}
    report: dict[str, Any] = {"main_subset": main_subset, "models": models}
    if main_subset in oracle:
        report["oracle_auc"] = oracle[main_subset]
    return _clean({**report, **extra})


def _fmt(value: object, key: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if key == "n":
        return f"{int(value):,}"  # type: ignore[call-overload]
    return f"{float(value):.4f}"  # type: ignore[arg-type]


def _has_expected(results: Results) -> bool:
    return any(EXPECTED[0] in m for subsets in results.values() for m in subsets.values())


def markdown_table(results: Results) -> str:
    """One row per (model, subset): AUC, gAUC, log loss, ECE, n (and E[AUC] where known)."""
    columns = (*COLUMNS[:1], EXPECTED, *COLUMNS[1:]) if _has_expected(results) else COLUMNS
    head = "| model | subset | " + " | ".join(title for _, title in columns) + " |"
    rule = "|---|---|" + "---:|" * len(columns)
    rows = [
        f"| {model} | {subset} | " + " | ".join(_fmt(m.get(k), k) for k, _ in columns) + " |"
        for model, subsets in results.items()
        for subset, m in subsets.items()
    ]
    return "\n".join([head, rule, *rows])


def _extra_markdown(extra: Mapping[str, Any]) -> list[str]:
    lines = []
    for key, value in extra.items():
        if isinstance(value, Mapping | list | tuple):
            text = json.dumps(_clean(value), indent=2, ensure_ascii=False)
            lines += [f"**{key}**", "", "```json", text, "```", ""]
        else:
            lines.append(f"- **{key}**: {value}")
    return lines


def render_markdown(results: Results, extra: Mapping[str, Any], out_dir: Path) -> str:
    """The ``report.md`` text: metrics table, oracle, extra facts, the PNGs in ``out_dir``."""
    oracle = _oracle_aucs(results)
    lines = ["# Evaluation report", "", markdown_table(results), ""]
    lines += [
        "ECE: expected calibration error over 15 equal-width bins. gAUC: per-user AUC",
        "weighted by impressions, over users with both a click and a non-click.",
        "",
    ]
    if _has_expected(results):
        lines += [
            "E[AUC]: the AUC with the true click probability in place of each label (label",
            "noise taken out; synthetic logs only).",
            "",
        ]
    if oracle:
        best = ", ".join(f"{s}: {v:.4f}" for s, v in oracle.items())
        lines += [f"Oracle AUC (true click probability, the best reachable): {best}", ""]
    lines += _extra_markdown(extra)
    for png in sorted(out_dir.glob("*.png")):
        lines += ["", f"![{png.stem}]({png.name})"]
    return "\n".join(lines).rstrip() + "\n"


def write_report(
    out_dir: str | Path, results: Results, extra: Mapping[str, Any], main_subset: str = MAIN_SUBSET
) -> None:
    """Write ``report.json`` and ``report.md`` into ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    document = build_report(results, extra, main_subset)
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
    (out / "report.json").write_text(text + "\n", encoding="utf-8")
    (out / "report.md").write_text(render_markdown(results, extra, out), encoding="utf-8")
