"""`adrank evaluate` on a synthetic log: the run's revenue in mixed auctions, beside its baselines.

The auctions (``revenue.auction_requests``) put other ads into logged impressions; the run and
each baseline score those (user, time, context, ad) rows as they score any impression —
featurised with their own spec, the user's behaviour before the time — and
``revenue.revenue_report`` prices each ranking with the truth of the world that made the log.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from model_export.data.clicklog import ClickLog
from model_export.data.synth_world import load_world
from model_export.evaluate.conversion_report import predict_rows, score_runs
from model_export.evaluate.options import EvalOptions
from model_export.evaluate.revenue import auction_requests, plot_revenue_shares, revenue_report
from model_export.train.run import Run

AUCTION_COLUMNS = ("user_id", "ad_id", "ts", "label", "p_true")
CANDIDATES = 10
PAIRS = (("adrank", "ctr_only"),)


def auction_log(log: ClickLog, auctions: Any) -> ClickLog:
    """The auctions' candidate rows as the impressions of a log (the same ads and events)."""
    ctx = [log.context_column(f) for f in log.context_fields if log.context_column(f) in auctions]
    imps = auctions[[*AUCTION_COLUMNS, *ctx]].reset_index(drop=True)
    return ClickLog(f"{log.name}-auctions", log.ads, log.events, imps, list(log.context_fields))


def auction_revenue(
    run: Run, baselines: Mapping[str, Run], log: ClickLog, test_rows: np.ndarray,
    options: EvalOptions, out_dir: Path,
) -> dict[str, Any]:  # fmt: skip
    """Revenue of ``options.auctions`` auctions drawn from the test rows, ranked by the run,
    ``ctr_only``, each baseline and the oracle."""
    assert options.world_dir is not None, "auctions need the synthetic world"
    world = load_world(options.world_dir)
    rng = np.random.default_rng(options.seed)
    picked = np.sort(rng.choice(test_rows, min(options.auctions, len(test_rows)), replace=False))
    auctions = auction_requests(log, world, picked, CANDIDATES, seed=options.seed)
    candidates = auction_log(log, auctions)
    split = np.full(len(auctions), "test", dtype=object)
    rows = np.arange(len(auctions))
    scored = predict_rows(run, candidates, split, rows, options.cache_dir)
    _, scores = score_runs(run, scored, candidates, split, rows, baselines, options.cache_dir)
    scores.pop("oracle", None)  # revenue_report adds the truth of the world itself
    report = revenue_report(auctions, scores, seed=options.seed, pairs=PAIRS)
    plot_revenue_shares(report, out_dir / "revenue.png")
    return report


def revenue_markdown(report: dict[str, Any]) -> str:
    """Revenue per 1,000 auctions and share of the oracle's, per ranking and top k; then the
    paired differences, with their intervals."""
    ks = report["ks"]
    head = "| ranking | " + " | ".join(f"top {k}: per 1,000 | top {k}: share of oracle"
                                       for k in ks) + " |"  # fmt: skip
    lines = [head, "|---|" + "---:|---:|" * len(ks)]
    lines += [_row(name, by_k, ks, "share_ci", "") for name, by_k in report["rankings"].items()]
    lines += [_row(pair, by_k, ks, "revenue_ci", "+") for pair, by_k in
              report["differences"].items()]  # fmt: skip
    n = f"{report['auctions']:,} auctions of {report['candidates']:.0f} ads"
    return "\n".join([*lines, "", f"{n}; {report['confidence']:.0%} bootstrap intervals."])


def _row(name: str, by_k: dict[str, Any], ks: list[int], interval: str, sign: str) -> str:
    """A table row: per k, revenue and share of the oracle, the interval on one of them."""
    cells = []
    for k in ks:
        e = by_k[f"top{k}"]
        lo, hi = e[interval]
        revenue, share = f"{e['revenue_per_1000']:{sign}.1f}", f"{e['share_of_oracle']:{sign}.3f}"
        if interval == "revenue_ci":
            revenue += f" [{lo:{sign}.1f}, {hi:{sign}.1f}]"
        else:
            share += f" [{lo:.3f}, {hi:.3f}]"
        cells += [revenue, share]
    return f"| {name} | " + " | ".join(cells) + " |"
