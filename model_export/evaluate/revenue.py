"""Revenue of mixed auctions on the synthetic platform: what a ranking earns, against the oracle.

Advertisers bid per impression (cpm), per click (cpc) or per conversion (cpa); one auction ranks
every candidate by its eCPM (``service.rank.ranking.ecpm``: bid | bid·pCTR·1000 |
bid·pCTR·pCVR·1000) computed from a ranking's predictions, and the top ``k`` are shown. What a
slot earns in expectation is its *true* eCPM / 1000: a cpm ad pays its bid / 1000, a cpc ad its
bid if clicked (true pCTR), a cpa ad its bid if clicked and converted (true pCTR·pCVR). The
truths come from the world that made the log (``synth_world.SynthWorld.truth``), so a ranking
is judged on impressions that were never logged: the logged user, time and context, shown
other ads.

Auctions (``auction_requests``): one per given logged impression, with its own ad and
``n_candidates - 1`` other ads drawn uniformly without replacement from the ads live at its
time (``launch_ts <= ts``); every candidate is evaluated in the impression's context (its
slot and position included).

Bids, fixed per ad for all its auctions:

- bid type (``assign_bids``): each ad bids one way, in the shares ``BID_SHARES`` (a third
  each by default, exactly up to rounding), so an advertiser keeps its type in every auction;
- value (``assign_bids``): an advertiser values a conversion at ``VALUE_SHARE`` of the ad's
  price (its order value: a margin) times log-normal noise ``exp(BID_NOISE · z)``, one draw
  per ad;
- amount (``bid_amounts``): the value in the type's unit, converted at the market's rates,
  not the ad's own (an advertiser does not know them): cpa bids the value ``v``, cpc
  ``v · cvr_ref``, cpm ``v · ctr_ref · cvr_ref · 1000``. The rates (``reference_rates``)
  are set over all candidates of the auctions, as if every ad bid each way, so that the
  median true eCPM is the same whichever way an ad bids: ``cvr_ref = median(v·pCTR·pCVR) /
  median(v·pCTR)`` and ``ctr_ref = median(v·pCTR) / median(v)`` (with the true
  probabilities; for independent log-symmetric factors these are the median pCVR and pCTR).
  The three types then compete: a cpc ad beats a cpm ad of the same value where its pCTR is
  high, a cpa ad where its pCTR·pCVR is. Median rather than mean rates: the truths are
  skewed (a few users with many matching events click far more), and mean rates would
  overprice the cpc and cpm bids.

``expected_revenue`` is the expected revenue of each auction under a ranking;
``revenue_report`` the mean per 1,000 auctions for every ranking and ``k``, its share of the
oracle's (the true probabilities), and paired differences between rankings, each with a
bootstrap confidence interval over auctions (``scipy.stats.bootstrap``);
``plot_revenue_shares`` draws the shares.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import bootstrap
from tqdm import tqdm

from model_export.data.clicklog import CONTEXT_PREFIX, ClickLog
from model_export.data.synth_world import SynthWorld
from model_export.evaluate.plots import _figure, _save
from service.rank.protocol import BID_TYPES
from service.rank.ranking import CPA, CPC, CPM, ecpm

BID_SHARES: dict[str, float] = {"cpm": 1 / 3, "cpc": 1 / 3, "cpa": 1 / 3}
VALUE_SHARE = 0.3  # an advertiser's value of a conversion: this share of the ad's price
BID_NOISE = 0.5  # log-normal sigma of the value around it, per ad
ORACLE = "oracle"
Ranking = tuple[ArrayLike, ArrayLike | None]  # (p_ctr, p_cvr), p_cvr None: clicks only


def assign_bids(
    ads: pd.DataFrame, rng: np.random.Generator, shares: Mapping[str, float] = BID_SHARES
) -> pd.DataFrame:
    """Per ad (``ads``: ``ad_id``, ``price``), its ``bid_type`` code and the ``value`` of a
    conversion to its advertiser (see the module docstring); indexed by ``ad_id``."""
    n = len(ads)
    names = list(shares)
    unknown = [t for t in names if t not in BID_TYPES]
    if unknown or not np.isclose(sum(shares.values()), 1.0):
        raise ValueError(f"shares must map bid types {BID_TYPES} to shares summing to 1, "
                         f"got {dict(shares)}")  # fmt: skip
    # exact shares up to rounding, in random order
    edges = np.cumsum([shares[t] for t in names])
    slot = np.searchsorted(edges, (np.arange(n) + 0.5) / n, side="right")
    codes = np.array([BID_TYPES.index(t) for t in names], dtype=np.int64)
    bid_type = rng.permutation(codes[np.minimum(slot, len(names) - 1)])
    noise = np.exp(BID_NOISE * rng.standard_normal(n))
    value = VALUE_SHARE * ads["price"].to_numpy(dtype=np.float64) * noise
    index = pd.Index(ads["ad_id"].to_numpy(), name="ad_id")
    return pd.DataFrame({"bid_type": bid_type, "value": value}, index=index)


def reference_rates(value: ArrayLike, p_ctr: ArrayLike, p_cvr: ArrayLike) -> tuple[float, float]:
    """``(ctr_ref, cvr_ref)``: the rates at which the median eCPM of ``value`` bid per
    impression, per click and per conversion is the same over these rows (one per candidate,
    with its true probabilities)."""
    v = np.asarray(value, dtype=np.float64)
    per_click = v * np.asarray(p_ctr, dtype=np.float64)
    per_impression = per_click * np.asarray(p_cvr, dtype=np.float64)
    median_v, median_click = float(np.median(v)), float(np.median(per_click))
    if not (median_v > 0 and median_click > 0):
        raise ValueError("reference rates need positive values and click probabilities")
    return median_click / median_v, float(np.median(per_impression)) / median_click


def bid_amounts(
    bid_type: np.ndarray, value: np.ndarray, ctr_ref: float, cvr_ref: float
) -> np.ndarray:
    """The bid of each ``value`` (of a conversion) in its type's unit at the given rates."""
    per_unit = np.select(
        [bid_type == CPA, bid_type == CPC, bid_type == CPM],
        [1.0, cvr_ref, ctr_ref * cvr_ref * 1000.0],
        default=np.nan,
    )
    return value * per_unit


def auction_requests(
    log: ClickLog,
    world: SynthWorld,
    rows: ArrayLike,
    n_candidates: int = 10,
    seed: int = 0,
    shares: Mapping[str, float] = BID_SHARES,
    progress: bool = True,
) -> pd.DataFrame:
    """One auction per impression at the positions ``rows`` of ``log.impressions``: its own ad
    and ``n_candidates - 1`` other ads live at its ``ts`` (fewer where fewer are live).

    One row per (auction, candidate), the auction's own ad first: ``auction`` (0.. in the order
    of ``rows``), the impression columns (``user_id``, ``ad_id``, ``ts``, ``label`` 0,
    ``p_true``, the ``ctx_*`` columns, ``p_cvr_true``: the truth from ``world``), ``bid_type``
    (code of ``service.rank.protocol.BID_TYPES``), ``bid``, and ``logged`` (the impression's own
    ad). Needs a log with conversions (the ads' ``price``; ``cvr_mean`` > 0).
    """
    if "price" not in log.ads.columns or world.conversion is None:
        raise ValueError("mixed auctions need a log with conversions (SynthConfig.cvr_mean > 0)")
    if n_candidates < 1:
        raise ValueError(f"n_candidates must be at least 1, got {n_candidates}")
    rng = np.random.default_rng(seed)
    imps = log.impressions.iloc[np.asarray(rows, dtype=np.int64)].reset_index(drop=True)
    ads = _candidates(log.ads, imps, n_candidates, rng, progress)
    sizes = np.array([len(a) for a in ads], dtype=np.int64)
    auction = np.repeat(np.arange(len(imps)), sizes)
    ad_codes = np.concatenate([np.zeros(0, dtype=np.int64), *ads])
    frame = pd.DataFrame(
        {
            "auction": auction,
            "user_id": imps["user_id"].to_numpy()[auction],
            "ad_id": log.ads["ad_id"].to_numpy()[ad_codes],
            "ts": imps["ts"].to_numpy()[auction],
            "label": np.zeros(len(auction), dtype=np.int8),
        }
    )
    for column in [c for c in imps.columns if c.startswith(CONTEXT_PREFIX)]:
        frame[column] = imps[column].to_numpy()[auction]
    p_true, p_cvr = world.truth(frame, progress=progress)
    frame.insert(frame.columns.get_loc("label") + 1, "p_true", p_true)
    frame["p_cvr_true"] = p_cvr
    bids = assign_bids(log.ads, rng, shares)
    bid_type = bids["bid_type"].to_numpy()[ad_codes]
    value = bids["value"].to_numpy()[ad_codes]
    frame["bid_type"] = bid_type
    frame["bid"] = bid_amounts(bid_type, value, *reference_rates(value, p_true, p_cvr))
    logged = np.zeros(len(auction), dtype=bool)
    logged[np.cumsum(sizes) - sizes] = True  # each auction's first row: its own ad
    frame["logged"] = logged
    return frame


def _candidates(
    ads: pd.DataFrame,
    imps: pd.DataFrame,
    n_candidates: int,
    rng: np.random.Generator,
    progress: bool,
) -> list[np.ndarray]:
    """Per impression, ad positions in ``ads``: its own, then others live at its time."""
    launch = ads["launch_ts"].to_numpy(dtype=np.int64)
    by_launch = np.argsort(launch, kind="stable")
    rank_of = np.empty_like(by_launch)
    rank_of[by_launch] = np.arange(len(by_launch))
    own = pd.Index(ads["ad_id"]).get_indexer(imps["ad_id"])
    if (own < 0).any():
        raise ValueError("impressions of ads not in log.ads")
    ts = imps["ts"].to_numpy(dtype=np.int64)
    n_live = np.searchsorted(launch[by_launch], ts, side="right")
    own_rank = rank_of[own]
    if (own_rank >= n_live).any():
        raise ValueError("an impression's own ad launched after it")
    out = []
    for i in tqdm(range(len(imps)), desc="auctions", disable=not progress, leave=False):
        others = int(n_live[i]) - 1
        picks = rng.choice(others, min(n_candidates - 1, others), replace=False)
        picks += picks >= own_rank[i]  # skip the own ad's place
        out.append(np.concatenate([[own[i]], by_launch[picks]]).astype(np.int64))
    return out


# ---------------------------------------------------------------- revenue


def _auction_codes(auctions: pd.DataFrame) -> tuple[np.ndarray, int]:
    """Each row's auction as 0..n-1 in ascending order of ``auction``, and n."""
    ids, code = np.unique(auctions["auction"].to_numpy(), return_inverse=True)
    return code, len(ids)


def true_value(auctions: pd.DataFrame) -> np.ndarray:
    """Each candidate's expected revenue if shown: its true eCPM / 1000."""
    bids = auctions["bid"].to_numpy(dtype=np.float64)
    types = auctions["bid_type"].to_numpy()
    p_ctr = auctions["p_true"].to_numpy(dtype=np.float64)
    p_cvr = auctions["p_cvr_true"].to_numpy(dtype=np.float64)
    return ecpm(p_ctr, bids, types, p_cvr) / 1000.0


def expected_revenue(
    auctions: pd.DataFrame, p_ctr: ArrayLike, p_cvr: ArrayLike | None, k: int
) -> np.ndarray:
    """Per auction (ascending ``auction``), the expected revenue of its top ``k`` candidates
    ranked by the eCPM of the predictions ``p_ctr``, ``p_cvr`` (one per row; ``p_cvr`` None:
    a clicks-only ranking, a cpa bid then counts as per click): the sum of their true eCPM /
    1000. Ties keep row order, as the service's ranking does."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    code, n = _auction_codes(auctions)
    bids = auctions["bid"].to_numpy(dtype=np.float64)
    types = auctions["bid_type"].to_numpy()
    ctr = np.asarray(p_ctr, dtype=np.float64)
    cvr = None if p_cvr is None else np.asarray(p_cvr, dtype=np.float64)
    if len(ctr) != len(auctions) or (cvr is not None and len(cvr) != len(auctions)):
        raise ValueError(f"predictions must have one value per row ({len(auctions):,})")
    score = ecpm(ctr, bids, types, cvr)
    if np.isnan(score).any():
        raise ValueError(f"the predictions give {int(np.isnan(score).sum()):,} NaN eCPMs")
    order = np.lexsort((-score, code))  # by auction, best first; stable for ties
    grouped = code[order]
    rank = np.arange(len(order)) - np.searchsorted(grouped, grouped, side="left")
    top = order[rank < k]
    return np.bincount(code[top], weights=true_value(auctions)[top], minlength=n)


def _interval(
    samples: tuple[np.ndarray, ...],
    statistic: Callable[..., Any],
    confidence: float,
    n_resamples: int,
    seed: int,
) -> list[float]:
    """A paired percentile bootstrap confidence interval of ``statistic`` over auctions (BCa's
    jackknife costs O(n²), 2.5 s an interval at 10k auctions, and fails where the data are
    degenerate, e.g. a ranking that is the oracle's; with thousands of auctions the percentile
    interval of a mean is close to it)."""
    result = bootstrap(
        samples,
        statistic,
        paired=True,
        vectorized=True,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        batch=200,
        rng=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return [float(interval.low), float(interval.high)]


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _ratio(x: np.ndarray, oracle: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) / np.mean(oracle, axis=axis)


def _diff_share(x: np.ndarray, y: np.ndarray, oracle: np.ndarray, axis: int = -1) -> np.ndarray:
    return (np.mean(x, axis=axis) - np.mean(y, axis=axis)) / np.mean(oracle, axis=axis)


def revenue_report(
    auctions: pd.DataFrame,
    rankings: Mapping[str, Ranking],
    ks: Iterable[int] = (1, 3),
    seed: int = 0,
    pairs: Sequence[tuple[str, str]] = (),
    confidence: float = 0.95,
    n_resamples: int = 2_000,
    progress: bool = True,
) -> dict[str, Any]:
    """Mean expected revenue per 1,000 auctions of each ranking (``{name: (p_ctr, p_cvr)}``,
    one prediction per row of ``auctions``; ``p_cvr`` None: clicks only, see
    ``expected_revenue``) and top ``k``, and its share of the oracle's (the true
    probabilities, added as "oracle"), each with a paired bootstrap confidence interval over
    auctions; for each ``(a, b)`` of ``pairs`` the paired difference a − b (per 1,000
    auctions and as a share of the oracle's revenue).

    ``{"auctions", "candidates", "confidence", "ks", "rankings": {name: {"top<k>": entry}},
    "differences": {"a - b": {"top<k>": entry}}}`` with entries ``{"revenue_per_1000",
    "revenue_ci", "share_of_oracle", "share_ci"}``.
    """
    if ORACLE in rankings:
        raise ValueError(f'"{ORACLE}" is added by revenue_report: name the ranking otherwise')
    missing = sorted({name for pair in pairs for name in pair} - set(rankings) - {ORACLE})
    if missing:
        raise ValueError(f"pairs name unknown rankings: {', '.join(missing)}")
    truth = (auctions["p_true"].to_numpy(), auctions["p_cvr_true"].to_numpy())
    every: dict[str, Ranking] = {ORACLE: truth, **rankings}
    ks = list(ks)
    revenue = {
        name: {k: expected_revenue(auctions, p_ctr, p_cvr, k) for k in ks}
        for name, (p_ctr, p_cvr) in every.items()
    }
    interval = partial(_interval, confidence=confidence, n_resamples=n_resamples, seed=seed)
    steps = [(name, k) for name in every for k in ks]
    bar = tqdm(total=len(steps) + len(pairs) * len(ks), desc="revenue: bootstrap",
               disable=not progress, leave=False)  # fmt: skip
    report_rankings: dict[str, dict[str, Any]] = {name: {} for name in every}
    for name, k in steps:
        bar.update()
        r, oracle = revenue[name][k], revenue[ORACLE][k]
        report_rankings[name][f"top{k}"] = {
            "revenue_per_1000": 1000.0 * float(r.mean()),
            "revenue_ci": [1000.0 * v for v in interval((r,), _mean)],
            "share_of_oracle": float(r.mean() / oracle.mean()),
            "share_ci": interval((r, oracle), _ratio),
        }
    differences: dict[str, dict[str, Any]] = {}
    for a, b in pairs:
        differences[f"{a} - {b}"] = {}
        for k in ks:
            bar.update()
            ra, rb, oracle = revenue[a][k], revenue[b][k], revenue[ORACLE][k]
            differences[f"{a} - {b}"][f"top{k}"] = {
                "revenue_per_1000": 1000.0 * float(ra.mean() - rb.mean()),
                "revenue_ci": [1000.0 * v for v in interval((ra - rb,), _mean)],
                "share_of_oracle": float((ra.mean() - rb.mean()) / oracle.mean()),
                "share_ci": interval((ra, rb, oracle), _diff_share),
            }
    bar.close()
    code, n = _auction_codes(auctions)
    return {
        "auctions": n,
        "candidates": len(code) / max(n, 1),
        "confidence": confidence,
        "ks": ks,
        "rankings": report_rankings,
        "differences": differences,
    }


def plot_revenue_shares(
    report: Mapping[str, Any], path: str | Path, title: str = "Revenue of mixed auctions"
) -> Path:
    """Bars of each ranking's share of the oracle's revenue per top ``k``, with the bootstrap
    intervals; the oracle (share 1) as a dashed line."""
    names = [name for name in report["rankings"] if name != ORACLE]
    ks = list(report["ks"])
    fig = _figure((2.5 + 0.6 * max(len(names), 1) * max(len(ks), 1), 4.5))
    ax = fig.axes[0]
    width = 0.8 / max(len(ks), 1)
    x = np.arange(len(names))
    for j, k in enumerate(ks):
        entries = [report["rankings"][name][f"top{k}"] for name in names]
        share = np.array([e["share_of_oracle"] for e in entries])
        low = share - np.array([e["share_ci"][0] for e in entries])
        high = np.array([e["share_ci"][1] for e in entries]) - share
        bars = ax.bar(x + (j - (len(ks) - 1) / 2) * width, share, width, label=f"top {k}",
                      yerr=[low, high], capsize=3)  # fmt: skip
        ax.bar_label(bars, labels=[f"{s:.1%}" for s in share], fontsize="small", padding=2)
    ax.axhline(1.0, ls="--", color="grey", lw=1, label="oracle")
    ax.set_xticks(x, names)
    ax.set(ylim=(0, 1.12), title=title)
    ax.set_ylabel(f"share of the oracle's revenue ({report['confidence']:.0%} interval)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)
