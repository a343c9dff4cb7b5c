"""Simulated requests from the synthetic platform, and what happens to the ads a service shows.

``Traffic(world, TrafficOptions(...), seed)`` draws requests the way the platform's log was
drawn (``synth_sampling``), on its last ``window_days`` days (the service's behaviour
histories, warmed from ``events.jsonl``, end there too):

- the user: by activity, among the users who have joined by then (``make_impressions``);
- the time: a day of the window, the hour by ``HOUR_TRAFFIC`` (``sample_ts``);
- the context: the user's usual device (else any, ``DEVICE_LOYALTY``), a slot and a first
  position by the log's shares, the user's attributes; the log's context fields
  (``synth.CONTEXT_FIELDS``);
- the candidates: ``candidates`` distinct ads live at that time, each drawn as the log draws
  an impression's ad (targeted to an interest topic or vertical, fresh, or any live ad, by
  popularity), topped up uniformly from the live ads when the draws repeat;
- bids: fixed per ad (as in ``evaluate.revenue``): ``mixed`` gives each ad a cpm, cpc or cpa
  bid in equal shares, its value a share of the ad's price, converted at the market's
  reference rates so the types compete (``assign_bids``, ``reference_rates``,
  ``bid_amounts``); ``cpc`` bids the same values per click.

The outcome model (``Traffic.outcomes``): the answer's top ``slots`` ads are shown, the ad at
rank ``r`` at position ``first + r - 1``; their true pCTR and pCVR come from
``SynthWorld.truth`` (one call for many answers: it is the slow part); every shown ad is an
impression, a click is drawn with its pCTR, a conversion of a click with its pCVR. The
uniforms of those draws are drawn with the request (common random numbers): the same request
and shown ad give the same outcome whichever arm ranked and whenever it was answered.
Revenue by bid type: a cpm ad pays bid / 1000 per impression, a cpc ad its bid per click, a
cpa ad its bid per conversion.

``Ledger`` keeps every shown ad with its truth and draws; ``Ledger.truth_table`` gives per
arm the exact expected CTR of what the arm showed (the sum of the true pCTR over its
impressions / impressions), so the true relative lift between arms is known exactly
(``true_lift``); ``smallest_detectable_lift`` is the relative CTR lift the run's per-user
statistics would detect at a given power.

That truth is conditional on the requests each arm got: it leaves out the click draws'
noise but not the luck of which users fell in which arm, which a report's interval (over
users) also covers. Intervals should therefore cover it at least as often as their nominal
level; in an A/A experiment, whose population lift is exactly 0, the share of significant
differences is the sharper test (it should be near α).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from model_export.data.clicklog import CONTEXT_PREFIX
from model_export.data.synth_sampling import DEVICE_LOYALTY, _pick_ads, sample_ts
from model_export.data.synth_truth import (
    AGE_BANDS,
    COUNTRIES,
    DEVICE_SHARE,
    DEVICES,
    GENDERS,
    POSITION_SHARE,
    SLOT_SHARE,
    SLOTS,
)
from model_export.data.synth_world import SynthWorld
from model_export.evaluate.revenue import assign_bids, bid_amounts, reference_rates
from model_export.experiment.power import ClickMoments, detectable_ctr_lift
from service.rank.protocol import BID_TYPES
from service.rank.ranking import CPA, CPC, CPM, ecpm

BidMode = Literal["mixed", "cpc"]
BID_MODES: tuple[BidMode, ...] = ("mixed", "cpc")
REFERENCE_REQUESTS = 200  # requests whose candidates set the market's reference rates
OVERDRAW = 1.5  # candidate draws per wanted candidate (repeats are dropped)
OUTCOME_TYPES = ("impression", "click", "conversion")
# the report's ratio metrics: clicks / impressions, conversions / clicks, revenue / 1k requests
METRICS = ("ctr", "cvr", "rpm")


@dataclass(frozen=True)
class TrafficOptions:
    candidates: int = 100  # ads per request (fewer when fewer are live)
    slots: int = 3  # the top ``slots`` of an answer are shown
    bids: BidMode = "mixed"
    window_days: int = 1  # requests fall on the world's last days

    def __post_init__(self) -> None:
        if self.candidates < 1 or self.slots < 1:
            raise ValueError("candidates and slots must be at least 1")
        if self.bids not in BID_MODES:
            raise ValueError(f"bids must be one of {BID_MODES}, got {self.bids!r}")
        if self.window_days < 1:
            raise ValueError("window_days must be at least 1")


def poisson_arrivals(
    rate: float, rng: np.random.Generator, seconds: float | None = None, limit: int | None = None
) -> np.ndarray:
    """Send times (seconds from the start) of a Poisson process of ``rate`` per second: before
    ``seconds`` and at most ``limit`` of them (at least one bound). The same process as
    ``loadtests.traffic.poisson_offsets`` (exponential gaps), which the installed package
    does not ship."""
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    if seconds is None and limit is None:
        raise ValueError("give seconds, limit or both")
    if seconds is None:
        return np.cumsum(rng.exponential(1.0 / rate, size=limit))
    expected = rate * seconds
    n = limit if limit is not None else int(expected + 6 * np.sqrt(expected) + 16)
    times = np.cumsum(rng.exponential(1.0 / rate, size=n))
    while limit is None and len(times) and times[-1] < seconds:  # a rare long tail
        times = np.concatenate([times, times[-1] + np.cumsum(rng.exponential(1.0 / rate, 64))])
    return times[times < seconds]


@dataclass(frozen=True)
class RequestBatch:
    """Simulated requests as code arrays (``Traffic.body`` makes one a /rank body)."""

    request_id: np.ndarray  # object: str
    user: np.ndarray  # user codes of the world
    ts: np.ndarray  # unix seconds in the world's time
    device: np.ndarray  # codes of DEVICES
    slot: np.ndarray  # codes of SLOTS
    position: np.ndarray  # the first shown ad's position (1-based)
    candidates: list[np.ndarray]  # ad codes per request
    u_click: np.ndarray  # (n, slots) uniforms of the click draws, by rank
    u_conversion: np.ndarray  # (n, slots) uniforms of the conversion draws

    def __len__(self) -> int:
        return len(self.user)


class Traffic:
    """Requests and outcomes of the synthetic platform ``world`` (see the module docstring).
    ``seed`` fixes the bids, the requests and their outcome draws."""

    def __init__(self, world: SynthWorld, options: TrafficOptions, seed: int = 0) -> None:
        if options.bids == "mixed" and world.conversion is None:
            raise ValueError("mixed bids need a world with conversions (cvr_mean > 0)")
        self.world, self.options = world, options
        bid_seed, request_seed = np.random.SeedSequence(seed).spawn(2)
        self._rng = np.random.default_rng(request_seed)
        self.bid_type, self.bid = self._bids(np.random.default_rng(bid_seed))
        self.price = None if world.conversion is None else world.conversion.merchants.price
        self._ad_code = {ad_id: i for i, ad_id in enumerate(world.ad_ids)}
        attrs = world.users.attrs
        self._attrs = {
            "age_band": np.asarray(AGE_BANDS, dtype=object)[attrs["age"]],
            "gender": np.asarray(GENDERS, dtype=object)[attrs["gender"]],
            "country": np.asarray(COUNTRIES, dtype=object)[attrs["country"]],
        }

    # ------------------------------------------------------------ requests

    def requests(self, n: int, prefix: str = "sim", first: int = 0) -> RequestBatch:
        """The next ``n`` requests of the seeded stream, ids ``{prefix}-{first + i}``."""
        return self._draw(self._rng, n, [f"{prefix}-{first + i}" for i in range(n)])

    def _draw(self, rng: np.random.Generator, n: int, ids: Sequence[str]) -> RequestBatch:
        config, users = self.world.config, self.world.users
        window_start = config.days - min(self.options.window_days, config.days)
        start = np.maximum(users.start_day, window_start)
        share = users.activity * (config.days - start)  # ∝ the user's impressions in the window
        user = rng.choice(config.n_users, n, p=share / share.sum())
        ts = sample_ts(rng, config, start[user])
        other_device = rng.choice(len(DEVICE_SHARE), n, p=DEVICE_SHARE)
        loyal = rng.random(n) < DEVICE_LOYALTY
        device = np.where(loyal, users.attrs["device"][user], other_device)
        slot = rng.choice(len(SLOT_SHARE), n, p=SLOT_SHARE)
        position = rng.choice(len(POSITION_SHARE), n, p=POSITION_SHARE) + 1
        candidates = self._candidates(rng, user, ts)
        slots = self.options.slots
        return RequestBatch(
            request_id=np.asarray(ids, dtype=object),
            user=user,
            ts=ts.astype(np.int64),
            device=device,
            slot=slot,
            position=position.astype(np.int64),
            candidates=candidates,
            u_click=rng.random((n, slots)),
            u_conversion=rng.random((n, slots)),
        )

    def _candidates(
        self, rng: np.random.Generator, user: np.ndarray, ts: np.ndarray
    ) -> list[np.ndarray]:
        """Per request, distinct live ads drawn as the log draws an impression's ad."""
        world, want = self.world, self.options.candidates
        k = int(np.ceil(want * OVERDRAW)) + 4
        draws = _pick_ads(rng, world.config, world.catalog, world.users, world.ads,
                          np.repeat(user, k), np.repeat(ts, k)).reshape(len(user), k)  # fmt: skip
        launch = world.ads.launch
        out = []
        for row, t in zip(draws, ts, strict=True):
            _, first = np.unique(row, return_index=True)
            picked = row[np.sort(first)][:want]
            if len(picked) < want:  # popular ads repeat: top up uniformly from the live ones
                live = np.flatnonzero(launch <= t)
                rest = np.setdiff1d(live, picked)
                extra = rng.choice(rest, min(want - len(picked), len(rest)), replace=False)
                picked = np.concatenate([picked, extra])
            out.append(rng.permutation(picked).astype(np.int64))
        return out

    def context(self, batch: RequestBatch, i: int) -> dict[str, Any]:
        """The log's context fields of request ``i``."""
        u, ts = int(batch.user[i]), int(batch.ts[i])
        return {
            "hour": (ts // 3600) % 24,
            "weekday": (ts // 86_400 + 3) % 7,  # 1970-01-01 was a Thursday
            "device": DEVICES[int(batch.device[i])],
            "slot": SLOTS[int(batch.slot[i])],
            "position": int(batch.position[i]),
            **{name: str(values[u]) for name, values in self._attrs.items()},
        }

    def body(self, batch: RequestBatch, i: int) -> dict[str, Any]:
        """The POST /rank body of request ``i``: the shown slots are its ``top_k``."""
        ads = batch.candidates[i]
        ad_ids = self.world.ad_ids.to_numpy()[ads]
        types = self.bid_type[ads]
        bids = self.bid[ads]
        candidates = [
            {"ad_id": str(a), "bid": float(b), "bid_type": BID_TYPES[int(t)]}
            for a, b, t in zip(ad_ids, bids, types, strict=True)
        ]
        return {"request_id": str(batch.request_id[i]),
                "user_id": str(self.world.user_ids[int(batch.user[i])]),
                "context": self.context(batch, i), "candidates": candidates,
                "top_k": self.options.slots}  # fmt: skip

    # ------------------------------------------------------------ bids

    def _bids(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Per ad code: its bid type code and bid."""
        world = self.world
        n_ads = len(world.ad_ids)
        if world.conversion is None:  # no prices: cpc bids around 1
            return np.full(n_ads, CPC, dtype=np.int64), np.exp(0.5 * rng.standard_normal(n_ads))
        ads = pd.DataFrame({"ad_id": world.ad_ids.to_numpy(),
                            "price": world.conversion.merchants.price})  # fmt: skip
        shares = {"cpm": 1 / 3, "cpc": 1 / 3, "cpa": 1 / 3}
        table = assign_bids(ads, rng, shares if self.options.bids == "mixed" else {"cpc": 1.0})
        bid_type, value = table["bid_type"].to_numpy(), table["value"].to_numpy()
        # the market's rates over the candidates of a sample of requests, at their truth
        sample = self._draw(rng, REFERENCE_REQUESTS, [""] * REFERENCE_REQUESTS)
        rows = np.repeat(np.arange(len(sample)), [len(c) for c in sample.candidates])
        ad = np.concatenate(sample.candidates)
        p_ctr, p_cvr = world.truth(self._frame(sample, rows, ad, sample.position[rows]))
        ctr_ref, cvr_ref = reference_rates(value[ad], p_ctr, p_cvr)
        return bid_type, bid_amounts(bid_type, value, ctr_ref, cvr_ref)

    # ------------------------------------------------------------ outcomes

    def _frame(
        self, batch: RequestBatch, rows: np.ndarray, ad: np.ndarray, position: np.ndarray
    ) -> pd.DataFrame:
        """The truth's impression columns of ads ``ad`` shown to requests ``rows``."""
        return pd.DataFrame({
            "user_id": self.world.user_ids.to_numpy()[batch.user[rows]],
            "ad_id": self.world.ad_ids.to_numpy()[ad],
            "ts": batch.ts[rows],
            CONTEXT_PREFIX + "device": np.asarray(DEVICES, dtype=object)[batch.device[rows]],
            CONTEXT_PREFIX + "slot": np.asarray(SLOTS, dtype=object)[batch.slot[rows]],
            CONTEXT_PREFIX + "position": position,
        })  # fmt: skip

    def outcomes(self, batch: RequestBatch, answers: Sequence[Answer]) -> pd.DataFrame:
        """One row per shown ad of ``answers`` (their first ``slots`` ranked ads): ``request``
        (index in ``batch``), ``request_id``, ``arm``, ``user_id``, ``ad_id``, ``rank``,
        ``source``, ``position``, ``bid_type`` (code), ``bid``, the truth ``p_ctr`` and
        ``p_cvr``, the draws ``clicked`` and ``converted``, ``revenue_impression``,
        ``revenue_click``, ``revenue_conversion`` (what each outcome pays), ``value`` (a
        conversion's order value: the ad's price) and ``expected_revenue`` (true eCPM /
        1000). One truth call for all of them."""
        slots, code = self.options.slots, self._ad_code
        request, arm, ad, rank, source = [], [], [], [], []
        for answer in answers:
            for r, (ad_id, src) in enumerate(answer.shown[:slots]):
                request.append(answer.request)
                arm.append(answer.arm)
                ad.append(code[ad_id])
                rank.append(r + 1)
                source.append(src)
        rows = np.asarray(request, dtype=np.int64)
        ads = np.asarray(ad, dtype=np.int64)
        ranks = np.asarray(rank, dtype=np.int64)
        position = batch.position[rows] + ranks - 1
        frame = self._frame(batch, rows, ads, position)
        p_ctr, p_cvr = self.world.truth(frame) if len(frame) else (np.zeros(0), np.zeros(0))
        bid_type, bid = self.bid_type[ads], self.bid[ads]
        draws = draw_outcomes(p_ctr, p_cvr, batch.u_click[rows, ranks - 1],
                              batch.u_conversion[rows, ranks - 1])  # fmt: skip
        paid = revenue(bid_type, bid, *draws)
        price = self.price[ads] if self.price is not None else np.full(len(ads), np.nan)
        return pd.DataFrame({
            "request": rows,
            "request_id": batch.request_id[rows],
            "arm": np.asarray(arm, dtype=object),
            "user_id": frame["user_id"].to_numpy(),
            "ad_id": frame["ad_id"].to_numpy(),
            "rank": ranks,
            "source": np.asarray(source, dtype=object),
            "position": position,
            "bid_type": bid_type,
            "bid": bid,
            "p_ctr": p_ctr,
            "p_cvr": p_cvr,
            "clicked": draws[0],
            "converted": draws[1],
            "revenue_impression": paid[0],
            "revenue_click": paid[1],
            "revenue_conversion": paid[2],
            "value": price,
            "expected_revenue": expected_revenue(bid_type, bid, p_ctr, p_cvr),
        })  # fmt: skip


@dataclass(frozen=True)
class Answer:
    """What /rank answered to request ``request`` (an index into its batch): the arm and the
    ranked ads as ``(ad_id, source)``, best first."""

    request: int
    arm: str
    shown: list[tuple[str, str]]


def draw_outcomes(
    p_ctr: np.ndarray, p_cvr: np.ndarray, u_click: np.ndarray, u_conversion: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(clicked, converted)`` of shown ads: a click where ``u_click < p_ctr``, a conversion
    of a click where ``u_conversion < p_cvr`` (never where ``p_cvr`` is NaN: no conversions)."""
    clicked = np.asarray(u_click) < np.asarray(p_ctr)
    cvr = np.nan_to_num(np.asarray(p_cvr, dtype=np.float64), nan=0.0)
    return clicked, clicked & (np.asarray(u_conversion) < cvr)


def revenue(
    bid_type: np.ndarray, bid: np.ndarray, clicked: np.ndarray, converted: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What each shown ad's impression, click and conversion pay: a cpm ad bid / 1000 on its
    impression, a cpc ad its bid on a click, a cpa ad its bid on a conversion; else 0."""
    bid = np.asarray(bid, dtype=np.float64)
    zero = np.zeros_like(bid)
    on_impression = np.where(bid_type == CPM, bid / 1000.0, zero)
    on_click = np.where((bid_type == CPC) & clicked, bid, zero)
    on_conversion = np.where((bid_type == CPA) & converted, bid, zero)
    return on_impression, on_click, on_conversion


def expected_revenue(
    bid_type: np.ndarray, bid: np.ndarray, p_ctr: np.ndarray, p_cvr: np.ndarray
) -> np.ndarray:
    """A shown ad's expected revenue at the truth: its true eCPM / 1000."""
    cvr = np.nan_to_num(np.asarray(p_cvr, dtype=np.float64), nan=0.0)
    return ecpm(np.asarray(p_ctr, dtype=np.float64), np.asarray(bid, dtype=np.float64),
                np.asarray(bid_type), cvr) / 1000.0  # fmt: skip


def outcome_records(shown: pd.DataFrame, ts: float) -> list[dict[str, Any]]:
    """The /events outcomes of ``Traffic.outcomes`` rows: an impression per row, a click per
    click, a conversion per conversion (its ``value`` the ad's price), each with its
    ``user_id``, ``ts`` and the ``revenue`` it paid (only where it paid)."""
    records: list[dict[str, Any]] = []
    columns = ("request_id", "ad_id", "user_id", "clicked", "converted", "value",
               "revenue_impression", "revenue_click", "revenue_conversion")  # fmt: skip
    for rid, ad, user, clicked, converted, value, *paid in zip(
        *(shown[c].to_numpy() for c in columns), strict=True
    ):
        base = {"request_id": rid, "ad_id": ad, "user_id": user, "ts": ts}
        happened = (True, bool(clicked), bool(converted))
        for kind, did, pays in zip(OUTCOME_TYPES, happened, paid, strict=True):
            if not did:
                continue
            record = base | {"type": kind}
            if pays > 0:
                record["revenue"] = float(pays)
            if kind == "conversion" and np.isfinite(value):
                record["value"] = float(value)
            records.append(record)
    return records


# ---------------------------------------------------------------- the truth of a run


def true_lift(expected: Mapping[str, float], control: str) -> dict[str, float]:
    """Each arm's relative lift of an expected rate against the control's:
    ``expected[arm] / expected[control] - 1`` (0 for the control itself)."""
    if control not in expected:
        raise ValueError(f"control {control!r} is not among the arms {sorted(expected)}")
    base = expected[control]
    if not base > 0:
        raise ValueError(f"the control's expected rate must be positive, got {base}")
    return {arm: value / base - 1.0 for arm, value in expected.items()}


@dataclass
class Ledger:
    """Every shown ad of a run (``Traffic.outcomes`` frames) and the answers' count per arm."""

    parts: list[pd.DataFrame] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)

    def add(self, shown: pd.DataFrame, answers: Sequence[Answer]) -> None:
        self.parts.append(shown)
        for a in answers:
            self.answers[a.arm] = self.answers.get(a.arm, 0) + 1

    @property
    def shown(self) -> pd.DataFrame:
        return pd.concat(self.parts, ignore_index=True) if self.parts else pd.DataFrame()

    def per_user(self) -> pd.DataFrame:
        """Per (arm, user_id): ``impressions``, ``clicks``, ``conversions``, ``revenue``."""
        shown = self.shown
        if shown.empty:
            return pd.DataFrame(columns=["arm", "user_id", "impressions", "clicks",
                                         "conversions", "revenue"])  # fmt: skip
        paid = shown[["revenue_impression", "revenue_click", "revenue_conversion"]].sum(axis=1)
        frame = pd.DataFrame({"arm": shown["arm"], "user_id": shown["user_id"],
                              "impressions": 1, "clicks": shown["clicked"].astype(np.int64),
                              "conversions": shown["converted"].astype(np.int64),
                              "revenue": paid})  # fmt: skip
        return frame.groupby(["arm", "user_id"], as_index=False, sort=True).sum()

    def truth_table(self, control: str) -> pd.DataFrame:
        """Per arm (index): ``requests`` (answers), ``users``, ``impressions``, ``clicks``,
        ``conversions``, ``revenue`` (what was drawn and paid), the observed ``ctr``, and the
        truth of what the arm showed for each of the report's metrics (``METRICS``):
        ``expected_ctr`` (the mean true pCTR of its impressions), ``expected_cvr`` (expected
        conversions per expected click), ``expected_rpm`` (expected revenue per 1,000
        requests), each with its true relative lift against ``control``
        (``true_lift_<metric>``, NaN where the control's is 0); and ``prior_share`` (shown
        ads the service scored by its prior: it did not know them)."""
        shown = self.shown
        rows = {}
        for arm in sorted(set(self.answers) | set(shown.get("arm", []))):
            mine = shown[shown["arm"] == arm] if not shown.empty else shown
            n = len(mine)
            p = mine["p_ctr"].to_numpy() if n else np.zeros(0)
            p_cvr = np.nan_to_num(mine["p_cvr"].to_numpy(dtype=np.float64)) if n else p
            paid = mine[["revenue_impression", "revenue_click", "revenue_conversion"]]
            requests = self.answers.get(arm, 0)
            expected_revenue = float(mine["expected_revenue"].sum()) if n else 0.0
            rows[arm] = {
                "requests": requests,
                "users": int(mine["user_id"].nunique()) if n else 0,
                "impressions": n,
                "clicks": int(mine["clicked"].sum()) if n else 0,
                "conversions": int(mine["converted"].sum()) if n else 0,
                "revenue": float(paid.to_numpy().sum()) if n else 0.0,
                "ctr": float(mine["clicked"].mean()) if n else np.nan,
                "expected_ctr": float(p.mean()) if n else np.nan,
                "expected_cvr": float((p * p_cvr).sum() / p.sum()) if p.sum() > 0 else np.nan,
                "expected_rpm": 1000.0 * expected_revenue / requests if requests else np.nan,
                "prior_share": float((mine["source"] == "prior").mean()) if n else np.nan,
            }
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = "arm"
        for metric in METRICS:
            expected = table[f"expected_{metric}"].to_dict() if len(table) else {}
            base = expected.get(control, np.nan)
            lifts = true_lift(expected, control) if base > 0 else {}
            table[f"true_lift_{metric}"] = pd.Series(lifts, dtype=np.float64)
        return table


def smallest_detectable_lift(
    per_user: pd.DataFrame,
    control: str,
    alpha: float = 0.05,
    power: float = 0.8,
) -> dict[str, float]:
    """The smallest relative CTR lift of each non-control arm over ``control`` that a
    two-sided test at ``alpha`` detects with probability ``power``, for these users
    (``Ledger.per_user``: ``arm``, ``impressions``, ``clicks`` per user): the report's
    ``power.detectable_ctr_lift`` on the per-user moments pooled over the arms (the
    no-effect case). With one arm only, the figure is for splitting its users evenly in two
    (key ``"even split"``).
    """
    if len(per_user) < 4 or per_user["clicks"].sum() <= 0:
        raise ValueError("a detectable lift needs at least 4 users and a click")
    moments = ClickMoments.of(per_user)
    users = per_user.groupby("arm").size().to_dict()
    others = [arm for arm in users if arm != control]
    if not others:
        total = sum(users.values())
        return {"even split": detectable_ctr_lift(moments, total // 2, total - total // 2,
                                                  alpha, power)}  # fmt: skip
    return {arm: detectable_ctr_lift(moments, users.get(control, 0), users[arm], alpha, power)
            for arm in others}  # fmt: skip
