"""The simulator's pure parts: requests drawn from a synthetic world (in the service's wire
shape), outcome draws at the true rates, revenue by bid type, the exact truth of a run, the
smallest detectable lift, the loopback rule; and the driver's loop against an in-process
stand-in of the service (the real service: tests/e2e/test_simulate.py)."""

import json
from pathlib import Path
from types import SimpleNamespace

import httpx
import mmh3
import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from model_export.data.clicklog import CONTEXT_PREFIX
from model_export.data.synth import SynthConfig, synthesize_world
from model_export.data.synth_world import SynthWorld
from model_export.experiment.simulate import (
    SimulateOptions,
    check_loopback,
    fresh_experiment,
    identical_arms,
    render_markdown,
    report_lifts,
    share_interval,
    simulate,
    verdicts,
)
from model_export.experiment.traffic import (
    Answer,
    Ledger,
    Traffic,
    TrafficOptions,
    draw_outcomes,
    outcome_records,
    poisson_arrivals,
    revenue,
    smallest_detectable_lift,
    true_lift,
)
from service.events.protocol import DECODER as EVENTS_DECODER
from service.rank.protocol import BID_TYPES
from service.rank.protocol import DECODER as RANK_DECODER
from service.rank.ranking import CPA, CPC, CPM

TINY = SynthConfig(seed=3, n_users=300, n_ads=60, n_impressions=6000, progress=False)


@pytest.fixture(scope="module")
def world() -> SynthWorld:
    return synthesize_world(TINY)[1]


# ---------------------------------------------------------------- outcomes


def test_outcome_draws_have_the_true_rates() -> None:
    rng = np.random.default_rng(0)
    n = 400_000
    p_ctr = rng.choice([0.01, 0.05, 0.2], n)
    p_cvr = rng.choice([0.05, 0.3], n)
    clicked, converted = draw_outcomes(p_ctr, p_cvr, rng.random(n), rng.random(n))
    for p in (0.01, 0.05, 0.2):
        rows = p_ctr == p
        assert clicked[rows].mean() == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / rows.sum()))
    assert not (converted & ~clicked).any()  # a conversion is of a click
    for q in (0.05, 0.3):
        rows = clicked & (p_cvr == q)
        assert converted[rows].mean() == pytest.approx(q, abs=4 * np.sqrt(q * (1 - q) / rows.sum()))
    # no conversion truth (NaN): clicks, never conversions
    clicked, converted = draw_outcomes(p_ctr, np.full(n, np.nan), rng.random(n), rng.random(n))
    assert clicked.any() and not converted.any()


def test_revenue_by_bid_type() -> None:
    types = np.array([CPM, CPM, CPC, CPC, CPA, CPA, CPA])
    bids = np.array([8.0, 8.0, 1.5, 1.5, 30.0, 30.0, 30.0])
    clicked = np.array([False, True, False, True, True, True, False])
    converted = np.array([False, True, False, False, False, True, False])
    on_impression, on_click, on_conversion = revenue(types, bids, clicked, converted)
    np.testing.assert_allclose(on_impression, [0.008, 0.008, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(on_click, [0, 0, 0, 1.5, 0, 0, 0])
    np.testing.assert_allclose(on_conversion, [0, 0, 0, 0, 0, 30.0, 0])


def test_outcome_records_carry_what_each_outcome_paid() -> None:
    shown = pd.DataFrame({
        "request_id": ["r1", "r1", "r2"], "ad_id": ["a1", "a2", "a3"],
        "user_id": ["u1", "u1", "u2"],
        "clicked": [True, False, True], "converted": [True, False, False],
        "value": [49.9, 10.0, 5.0], "revenue_impression": [0.0, 0.004, 0.0],
        "revenue_click": [0.0, 0.0, 1.25], "revenue_conversion": [20.0, 0.0, 0.0],
    })  # fmt: skip
    records = outcome_records(shown, ts=1_763_900_000.0)
    kinds = [(r["request_id"], r["ad_id"], r["type"]) for r in records]
    assert kinds == [("r1", "a1", "impression"), ("r1", "a1", "click"),
                     ("r1", "a1", "conversion"), ("r1", "a2", "impression"),
                     ("r2", "a3", "impression"), ("r2", "a3", "click")]  # fmt: skip
    paid = {(r["ad_id"], r["type"]): r.get("revenue") for r in records}
    assert paid == {("a1", "impression"): None, ("a1", "click"): None, ("a1", "conversion"): 20.0,
                    ("a2", "impression"): 0.004, ("a3", "impression"): None,
                    ("a3", "click"): 1.25}  # fmt: skip
    assert [r.get("value") for r in records if r["type"] == "conversion"] == [49.9]
    assert all(r["user_id"] and r["ts"] == 1_763_900_000.0 for r in records)
    # the /events wire shape takes them (revenue is the contract's new optional field)
    decoded = EVENTS_DECODER.decode(json.dumps({"outcomes": records}))
    assert len(decoded.outcomes) == len(records)


# ---------------------------------------------------------------- the truth of a run


def test_true_lift_is_the_ratio_of_expected_rates() -> None:
    lift = true_lift({"control": 0.02, "b": 0.025, "c": 0.018}, "control")
    assert lift == pytest.approx({"control": 0.0, "b": 0.25, "c": -0.1})
    with pytest.raises(ValueError, match="control"):
        true_lift({"b": 0.02}, "control")
    with pytest.raises(ValueError, match="positive"):
        true_lift({"control": 0.0, "b": 0.02}, "control")


def _shown(arm: str, p: list[float], clicked: list[bool], users: list[str]) -> pd.DataFrame:
    n = len(p)
    return pd.DataFrame({
        "request": np.arange(n), "request_id": [f"{arm}-{i}" for i in range(n)],
        "arm": arm, "user_id": users, "ad_id": "a0", "rank": 1, "source": "model",
        "position": 1, "bid_type": CPC, "bid": 1.0, "p_ctr": p, "p_cvr": 0.1,
        "clicked": clicked, "converted": False, "revenue_impression": 0.0,
        "revenue_click": np.where(clicked, 1.0, 0.0), "revenue_conversion": 0.0, "value": 10.0,
        "expected_revenue": p,
    })  # fmt: skip


def test_the_truth_table_has_each_arm_s_exact_expected_ctr_and_lift() -> None:
    ledger = Ledger()
    a = _shown("control", [0.01, 0.03, 0.02, 0.02], [False, True, False, False], list("uuvw"))
    b = _shown("b", [0.05, 0.01], [True, True], ["x", "y"])
    ledger.add(a, [Answer(i, "control", []) for i in range(4)])
    ledger.add(b, [Answer(i, "b", []) for i in range(2)])
    table = ledger.truth_table("control")
    assert table.loc["control", "expected_ctr"] == pytest.approx(0.02)
    assert table.loc["b", "expected_ctr"] == pytest.approx(0.03)
    assert table.loc["b", "true_lift_ctr"] == pytest.approx(0.5)
    assert table.loc["control", "true_lift_ctr"] == 0.0
    assert (table.loc["control", "users"], table.loc["control", "clicks"]) == (3, 1)
    assert table.loc["b", "ctr"] == 1.0
    # revenue per 1,000 requests: the expected revenue (here p) over an arm's impressions
    assert table.loc["b", "expected_rpm"] == pytest.approx(30.0)
    assert table.loc["b", "true_lift_rpm"] == pytest.approx(0.5)
    assert table.loc["b", "expected_cvr"] == pytest.approx(0.1)
    assert table.loc["b", "true_lift_cvr"] == pytest.approx(0.0)
    per_user = ledger.per_user()
    assert per_user.set_index(["arm", "user_id"]).loc[("control", "u"), "impressions"] == 2


def test_smallest_detectable_lift_matches_the_normal_formula() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    imps = rng.integers(1, 12, n)
    clicks = rng.binomial(imps, 0.03)
    arm = np.where(np.arange(n) < n // 2, "control", "b")
    per_user = pd.DataFrame({"arm": arm, "impressions": imps, "clicks": clicks})
    lift = smallest_detectable_lift(per_user, "control")["b"]
    rate = clicks.sum() / imps.sum()
    sigma = np.std(clicks - rate * imps, ddof=1) / imps.mean()
    z = norm.ppf(0.975) + norm.ppf(0.8)
    assert lift == pytest.approx(z * sigma * np.sqrt(2 / (n // 2)) / rate, rel=1e-3)
    # four times the users: half the lift; one arm only: an even split of its users
    more = pd.concat([per_user] * 4, ignore_index=True)
    assert smallest_detectable_lift(more, "control")["b"] == pytest.approx(lift / 2, rel=0.01)
    alone = smallest_detectable_lift(per_user.assign(arm="control"), "control")
    assert alone["even split"] == pytest.approx(lift, rel=0.01)


# ---------------------------------------------------------------- requests


def test_requests_are_the_service_s_wire_shape_and_the_truth_s_rows(world: SynthWorld) -> None:
    traffic = Traffic(world, TrafficOptions(candidates=20, slots=3), seed=0)
    batch = traffic.requests(200, prefix="t")
    config = world.config
    last_day = config.end_ts - 86_400
    assert (batch.ts >= last_day).all() and (batch.ts < config.end_ts).all()
    for i in range(len(batch)):
        ads = batch.candidates[i]
        assert len(ads) == 20 and len(set(ads.tolist())) == 20
        assert (world.ads.launch[ads] <= batch.ts[i]).all()  # live ads only
        request = RANK_DECODER.decode(json.dumps(traffic.body(batch, i)))
        assert request.top_k == 3 and request.request_id == f"t-{i}"
        assert {c.bid_type for c in request.candidates} <= set(BID_TYPES)
    # the context agrees with what the truth reads (it checks hour, weekday and age band)
    rows = [dict(user_id=str(world.user_ids[batch.user[i]]), ad_id=str(world.ad_ids[a]),
                 ts=int(batch.ts[i]), **{CONTEXT_PREFIX + k: v
                                         for k, v in traffic.context(batch, i).items()})
            for i in range(len(batch)) for a in batch.candidates[i][:2]]  # fmt: skip
    p_ctr, p_cvr = world.truth(pd.DataFrame(rows))
    assert ((p_ctr > 0) & (p_ctr < 1)).all() and ((p_cvr > 0) & (p_cvr < 1)).all()
    # seeded: the same requests again
    again = Traffic(world, TrafficOptions(candidates=20, slots=3), seed=0).requests(200, "t")
    np.testing.assert_array_equal(again.user, batch.user)
    np.testing.assert_array_equal(
        np.concatenate(again.candidates), np.concatenate(batch.candidates)
    )


def test_mixed_bids_split_the_ads_in_thirds_and_cpc_bids_are_all_cpc(world: SynthWorld) -> None:
    mixed = Traffic(world, TrafficOptions(candidates=20), seed=0)
    assert np.bincount(mixed.bid_type, minlength=3).tolist() == [20, 20, 20]
    assert (mixed.bid > 0).all()
    cpc = Traffic(world, TrafficOptions(candidates=20, bids="cpc"), seed=0)
    assert (cpc.bid_type == CPC).all() and (cpc.bid > 0).all()
    plain = synthesize_world(SynthConfig(**{**TINY.__dict__, "cvr_mean": 0.0}))[1]
    with pytest.raises(ValueError, match="conversions"):
        Traffic(plain, TrafficOptions(candidates=20), seed=0)
    assert (Traffic(plain, TrafficOptions(candidates=20, bids="cpc")).bid_type == CPC).all()


def test_outcomes_are_drawn_once_per_request_and_shown_ad(world: SynthWorld) -> None:
    """Common random numbers: the same request showing the same ads has the same outcomes
    whichever arm answered and however the answers were batched."""
    traffic = Traffic(world, TrafficOptions(candidates=20, slots=3), seed=0)
    batch = traffic.requests(300)
    ids = world.ad_ids.to_numpy()
    answers = [Answer(i, "a" if i % 2 else "b", [(str(ids[a]), "model") for a in c[:5]])
               for i, c in enumerate(batch.candidates)]  # fmt: skip
    whole = traffic.outcomes(batch, answers)
    assert len(whole) == 300 * 3 and whole["rank"].max() == 3  # only the slots are shown
    relabelled = [Answer(a.request, "c", a.shown) for a in answers]
    parts = pd.concat([traffic.outcomes(batch, relabelled[:100]),
                       traffic.outcomes(batch, relabelled[100:])], ignore_index=True)  # fmt: skip
    for column in ("p_ctr", "p_cvr", "clicked", "converted", "revenue_click"):
        np.testing.assert_array_equal(whole[column].to_numpy(), parts[column].to_numpy())
    np.testing.assert_array_equal(
        whole["position"], batch.position[whole["request"]] + whole["rank"] - 1
    )


def test_poisson_arrivals_are_bounded_by_count_and_time() -> None:
    rng = np.random.default_rng(0)
    times = poisson_arrivals(200.0, rng, seconds=50.0)
    assert (np.diff(times) > 0).all() and times[-1] < 50.0
    assert len(times) == pytest.approx(10_000, abs=4 * 100)
    assert len(poisson_arrivals(200.0, rng, seconds=50.0, limit=300)) == 300
    assert len(poisson_arrivals(5.0, rng, limit=40)) == 40
    with pytest.raises(ValueError):
        poisson_arrivals(5.0, rng)


# ---------------------------------------------------------------- the driver


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://localhost:8000/",
                                 "https://[::1]:8443", "http://LOCALHOST"])  # fmt: skip
def test_loopback_urls_are_accepted(url: str) -> None:
    assert check_loopback(url) == url.rstrip("/")


@pytest.mark.parametrize("url", ["http://10.0.0.5:8000", "http://example.com",
                                 "http://127.0.0.1.example.com", "ftp://127.0.0.1",
                                 "127.0.0.1:8000", "http://0.0.0.0:8000"])  # fmt: skip
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        check_loopback(url)


def test_a_fresh_experiment_keeps_the_arms_and_drops_their_versions() -> None:
    arms = [{"name": "a", "weight": 1, "bundle_path": "m", "versions": ["v1"]},
            {"name": "b", "weight": 1, "bundle_path": "m", "versions": ["v1"]}]  # fmt: skip
    current = {"name": "default", "salt": "adrank", "control": "a", "flush_ms": 50.0, "arms": arms}
    body = fresh_experiment(current, "sim-1", "s1")
    assert body["name"] == "sim-1" and body["salt"] == "s1" and body["flush_ms"] == 50.0
    assert body["arms"] == [{"name": "a", "weight": 1, "bundle_path": "m"},
                            {"name": "b", "weight": 1, "bundle_path": "m"}]  # fmt: skip
    assert identical_arms(current)
    current["arms"][1]["versions"] = ["v2"]
    assert not identical_arms(current)
    # the same version from another bundle is another model
    other = [arms[0], arms[1] | {"bundle_path": "n", "versions": ["v1"]}]
    assert not identical_arms(current | {"arms": other})
    blend = {"name": "c", "blend": [{"bundle_path": "m", "weight": 0.5},
                                    {"bundle_path": "n", "weight": 0.5}]}  # fmt: skip
    assert not identical_arms(current | {"arms": [arms[0], blend]})


def test_share_interval_is_clopper_pearson() -> None:
    s = share_interval(5, 100)
    assert s["share"] == 0.05 and s["ci_low"] == pytest.approx(0.0164, abs=1e-3)
    assert s["ci_high"] == pytest.approx(0.1128, abs=1e-3)


class StandIn:
    """The service's experiment routes as the contract words them, in process: two arms
    split by user (no model: candidates ranked by bid), outcomes counted per arm."""

    def __init__(self) -> None:
        self.experiment = {"name": "default", "salt": "adrank", "control": "control",
                           "arms": [{"name": "control", "weight": 1.0, "bundle_path": "m"},
                                    {"name": "b", "weight": 1.0, "bundle_path": "m"}]}  # fmt: skip
        self.arm_of_request: dict[str, str] = {}
        self.outcomes: list[dict] = []

    def arm(self, user: str) -> str:
        return "control" if mmh3.hash(f"{self.experiment['salt']}:{user}") % 2 else "b"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/admin/arms" and request.method == "GET":
            arms = [a | {"versions": ["v1"]} for a in self.experiment["arms"]]
            return httpx.Response(200, json=self.experiment | {"arms": arms})
        if path == "/admin/arms" and request.method == "PUT":
            self.experiment = json.loads(request.content)
            return httpx.Response(200, json=self.experiment)
        body = json.loads(request.content)
        if path == "/rank":
            arm = self.arm(body["user_id"])
            self.arm_of_request[body["request_id"]] = arm
            ranked = sorted(body["candidates"], key=lambda c: -c["bid"])[: body["top_k"]]
            return httpx.Response(200, json={
                "request_id": body["request_id"], "arm": arm,
                "ranked": [{"ad_id": c["ad_id"], "rank": r + 1, "p_ctr": 0.1, "source": "model"}
                           for r, c in enumerate(ranked)]})  # fmt: skip
        if path == "/events":
            self.outcomes += body["outcomes"]
            found = sum(o["request_id"] in self.arm_of_request for o in body["outcomes"])
            return httpx.Response(
                200, json={"outcomes": len(body["outcomes"]), "attributed": found}
            )
        return httpx.Response(404)

    def report(self, redis_url: str, name: str, **kwargs: object) -> object:
        """A report in the shape of ``results.Analysis``: the CTR lift from the counted
        outcomes (smoothed) with an interval holding every lift, a CVR lift without a truth
        to judge it by (an arm may have no conversions)."""
        counts: dict[str, list[int]] = {}
        for o in self.outcomes:
            arm = self.arm_of_request[o["request_id"]]
            c = counts.setdefault(arm, [0, 0])
            c[0] += o["type"] == "impression"
            c[1] += o["type"] == "click"
        ctr = {arm: (c[1] + 1) / (c[0] + 1) for arm, c in counts.items()}
        estimate = ctr["b"] / ctr["control"] - 1

        def difference(value: float) -> SimpleNamespace:
            lift = SimpleNamespace(value=value, low=-1.0, high=value + 100)
            return SimpleNamespace(lift=lift, pvalue=0.5, significant=False)

        differences = {"ctr": difference(estimate), "cvr": difference(0.0)}
        comparison = SimpleNamespace(arm="b", control="control", differences=differences)
        analysis = SimpleNamespace(comparisons=(comparison,))
        return SimpleNamespace(analysis=analysis, markdown=f"report of {name}")


def test_the_driver_runs_repetitions_against_a_stand_in(world: SynthWorld, tmp_path: Path) -> None:
    service = StandIn()
    options = SimulateOptions(url="http://127.0.0.1:9", data=tmp_path, redis_url="redis://x",
                              requests=120, rate=2000.0, traffic=TrafficOptions(20, 3),
                              repeat=2, out=tmp_path / "out", flush_s=0.05, settle_s=0.0,
                              progress=False)  # fmt: skip
    summary = simulate(options, report_fn=service.report,
                       transport=httpx.MockTransport(service), world=world)  # fmt: skip
    assert summary["kind"] == "A/A" and summary["repetitions"] == 2
    names = [r["name"] for r in summary["repetition"]]
    assert len(set(names)) == 2 and service.experiment["name"] == names[-1]
    for rep in summary["repetition"]:
        stats = rep["stats"]
        assert stats["answered"] == 120 and not stats["errors"]
        assert stats["outcomes_posted"] == stats["outcomes_counted"] == stats["attributed"]
        truth = rep["truth"]
        assert sum(t["requests"] for t in truth.values()) == 120
        assert sum(t["impressions"] for t in truth.values()) == 360
        ctr, cvr = rep["verdicts"]
        assert (ctr["arm"], ctr["metric"], cvr["metric"]) == ("b", "ctr", "cvr")
        assert ctr["covered"] and not ctr["significant"] and rep["significant"] is False
        assert ctr["true_lift"] == pytest.approx(truth["b"]["true_lift_ctr"])
        if truth["control"]["expected_cvr"] is None:  # no click in the control arm
            assert cvr["covered"] is None
        assert set(rep["smallest_detectable_lift"]) == {"b"}
    # every impression was posted once, a click only with its impression
    posted = [(o["request_id"], o["ad_id"], o["type"]) for o in service.outcomes]
    assert len(posted) == len(set(posted))
    assert sum(t == "impression" for *_, t in posted) == 2 * 360
    assert summary["significant"]["share"] == 0.0 and summary["coverage"]["ctr"]["share"] == 1.0
    assert summary["coverage"]["rpm"]["n"] == 0  # the report gave no revenue comparison
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written["repetitions"] == 2
    assert "The study" in (tmp_path / "out" / "summary.md").read_text()
    assert "true lift" in render_markdown(summary)
    assert (tmp_path / "out" / "rep-1" / "truth.csv").is_file()


def test_options_refuse_a_remote_url_and_no_bound(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loopback"):
        SimulateOptions(url="http://10.1.2.3:8000", data=tmp_path, redis_url="r", requests=1)
    with pytest.raises(ValueError, match="requests, seconds"):
        SimulateOptions(url="http://127.0.0.1:8000", data=tmp_path, redis_url="r")


def test_the_verdicts_read_the_report_s_analysis() -> None:
    """``report_lifts`` reads what ``report_experiment`` returns: its ``results.Analysis``."""
    from model_export.experiment.meta import ExperimentMeta
    from model_export.experiment.report import ExperimentReport
    from model_export.experiment.stats import analyze

    rng = np.random.default_rng(2)
    n = 600
    arm = np.where(np.arange(n) % 2, "control", "b")
    imps = rng.integers(3, 15, n)
    clicks = rng.binomial(imps, np.where(arm == "b", 0.06, 0.04))
    users = pd.DataFrame({"arm": arm, "user_id": [f"u{i}" for i in range(n)],
                          "requests": imps, "impressions": imps, "clicks": clicks,
                          "conversions": rng.binomial(clicks, 0.2),
                          "revenue": clicks * 1.5})  # fmt: skip
    analysis = analyze(users, {"control": 1.0, "b": 1.0}, "control", 0.05)
    report = ExperimentReport("x", analysis, ExperimentMeta(), "text")
    lifts = report_lifts(report, "control")
    ctr = analysis.comparison("b").ctr
    assert set(lifts) == {"b"} and set(lifts["b"]) == {"ctr", "cvr", "rpm"}
    assert lifts["b"]["ctr"] == {"estimate": ctr.lift.value, "ci_low": ctr.lift.low,
                                 "ci_high": ctr.lift.high, "p_value": ctr.pvalue,
                                 "significant": ctr.significant}  # fmt: skip
    truth = pd.DataFrame({"true_lift_ctr": [0.0, 0.5], "true_lift_cvr": [0.0, np.nan]},
                         index=["control", "b"])  # fmt: skip
    by_metric = {v.metric: v for v in verdicts(lifts, truth, 0.05)}
    assert by_metric["ctr"].significant and by_metric["ctr"].covered is (
        ctr.lift.low <= 0.5 <= ctr.lift.high)  # fmt: skip
    assert by_metric["cvr"].covered is None  # no truth to judge by
    assert np.isnan(by_metric["rpm"].true_lift)
