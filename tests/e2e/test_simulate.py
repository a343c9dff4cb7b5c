"""`adrank simulate` against the real service with two arms (docs/experiments.md): a few hundred
requests of a synthetic world's traffic split by the arms' weights, every outcome attributed to
the arm that ranked, the counts in Redis exactly what the simulator posted, and the experiment
report run on them."""

import json
import math
from pathlib import Path

import httpx
import pytest
import redis

from adrank.cli import main
from model_export.data.io import read_ads
from model_export.experiment.simulate import SimulateOptions, simulate
from model_export.experiment.traffic import TrafficOptions
from tests.e2e.conftest import StartService
from tests.support.processes import RedisProcess, ServiceProcess

KEY, ADMIN = "s" * 24, "t" * 24
TINY_WORLD = ["--n-users", "300", "--n-ads", "60", "--n-impressions", "6000", "--seed", "3"]
WEIGHTS = {"control": 0.6, "treatment": 0.4}
REQUESTS = 300


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic log with the config its world regenerates from."""
    out = tmp_path_factory.mktemp("simulate") / "synth"
    main(["synth", "--out", str(out), *TINY_WORLD])
    return out


@pytest.fixture(scope="module")
def two_arms(
    start_service: StartService, tiny_bundle: Path, clicks_only_bundle: Path, world_dir: Path
) -> ServiceProcess:
    """A service whose control is the tiny bundle and whose treatment is its clicks-only
    sibling (cpc bids: both can price them), warmed with the world's ads."""
    arms = [{"name": "control", "weight": WEIGHTS["control"], "bundle_path": str(tiny_bundle)},
            {"name": "treatment", "weight": WEIGHTS["treatment"],
             "bundle_path": str(clicks_only_bundle)}]  # fmt: skip
    proc = start_service("--experiment.arms", json.dumps(arms),
                         "--auth.api-keys", json.dumps([KEY]),
                         "--auth.admin-api-keys", json.dumps([ADMIN]))  # fmt: skip
    ads = read_ads(world_dir / "ads.jsonl")[["ad_id", "title", "description", "category"]]
    with httpx.Client(base_url=proc.url, timeout=60, headers={"X-API-Key": KEY}) as c:
        r = c.put("/ads", json={"ads": ads.to_dict(orient="records")})
        assert r.status_code == 200, r.text
    return proc


def key_prefix(proc: ServiceProcess) -> str:
    args = list(proc.proc.args)  # type: ignore[arg-type]
    return str(args[args.index("--redis.key-prefix") + 1])


def counted(redis_url: str, prefix: str, name: str, arm: str) -> dict[str, float]:
    """The arm's per-user counts in Redis summed over users, by metric letter."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    fields = client.hgetall(f"{prefix}exp:{{{name}}}:arm:{arm}:users")
    client.close()
    sums: dict[str, float] = {}
    for field, value in fields.items():
        letter = field.split(":", 1)[0]
        sums[letter] = sums.get(letter, 0.0) + float(value)
    return sums


def test_a_simulation_of_two_arms(
    two_arms: ServiceProcess, redis_server: RedisProcess, world_dir: Path, tmp_path: Path
) -> None:
    prefix = key_prefix(two_arms)
    options = SimulateOptions(
        url=two_arms.url, data=world_dir, redis_url=redis_server.url, requests=REQUESTS,
        rate=150.0, traffic=TrafficOptions(candidates=20, slots=3, bids="cpc"), prefix=prefix,
        admin_key=ADMIN, api_key=KEY, seed=1, out=tmp_path / "out", concurrency=8,
        progress=False,
    )  # fmt: skip
    summary = simulate(options)
    [rep] = summary["repetition"]
    stats, truth = rep["stats"], rep["truth"]
    assert stats["answered"] == REQUESTS and not stats["errors"], stats
    assert stats["without_arm"] == 0 and not stats["outcome_errors"], stats
    assert rep["arms"] == ["control", "treatment"] and rep["control"] == "control"
    assert rep["name"].startswith("sim-") and not rep["identical_arms"]
    assert summary["kind"] == "A/B"

    # both arms got users near their weights (users are split, not requests)
    users = {arm: truth[arm]["users"] for arm in WEIGHTS}
    total = sum(users.values())
    for arm, weight in WEIGHTS.items():
        assert users[arm] / total == pytest.approx(
            weight, abs=4 * (weight * (1 - weight) / total) ** 0.5
        )

    # every outcome counted and attributed to its arm by its request id
    assert stats["outcomes_counted"] == stats["outcomes_posted"] == stats["attributed"] > REQUESTS
    for arm in WEIGHTS:
        counts = counted(redis_server.url, prefix, rep["name"], arm)
        t = truth[arm]
        assert counts.get("q", 0) == t["requests"]
        assert counts.get("i", 0) == t["impressions"] == 3 * t["requests"]
        assert counts.get("c", 0) == t["clicks"]
        assert counts.get("r", 0.0) == pytest.approx(t["revenue"], rel=1e-9, abs=1e-9)
        assert t["prior_share"] == 0.0  # the service knew every ad
        assert 0 < t["expected_ctr"] < 1

    # the report ran on the counts; its verdict sits beside the true lift
    assert rep["report_error"] is None
    verdicts = {v["metric"]: v for v in rep["verdicts"]}
    assert {v["arm"] for v in rep["verdicts"]} == {"treatment"} and "ctr" in verdicts
    for metric, verdict in verdicts.items():
        assert verdict["true_lift"] == pytest.approx(truth["treatment"][f"true_lift_{metric}"])
        # a rare metric may count 0 in an arm of this small run: with none in the control the
        # relative lift is missing (NaN), with none in the treatment it is -100% and has no
        # interval on the log scale; otherwise the interval holds the estimate
        assert not math.isinf(verdict["estimate"])
        if metric == "ctr" or verdict["estimate"] > -1:
            assert verdict["ci_low"] <= verdict["estimate"] <= verdict["ci_high"]
    assert set(rep["smallest_detectable_lift"]) == {"treatment"}
    assert (tmp_path / "out" / "summary.json").is_file()
    assert (tmp_path / "out" / "summary.md").read_text().startswith("# adrank simulate")


def test_the_simulator_refuses_a_remote_service(world_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="loopback"):
        main(["simulate", "--url", "http://192.0.2.1:8000", "--data", str(world_dir),
              "--requests", "1", "--out", str(tmp_path)])  # fmt: skip
