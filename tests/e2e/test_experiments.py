"""Experiments end to end (docs/experiments.md): the real service under uvicorn with two arms
(the tiny bundle as control, its clicks-only sibling as treatment) against a real Redis.
Every /rank answer names its arm, the arm the murmur3 table computed here gives the user, and
that arm's bundle version; GET/PUT /admin/arms read and replace the experiment with
load-then-swap (a broken bundle is a 422 and the arms keep serving), also under concurrent
traffic; a blend arm answers with both versions and the blend of its parts' logits; outcomes
are attributed by request id, by user id, or not, into the documented Redis hashes; a shadow
bundle is compared off the hot path; a cpa bid needs an arm with a conversion head."""

import asyncio
import json
import math
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from service.experiments.assign import ArmTable
from tests.e2e.conftest import StartService, uid
from tests.e2e.test_errors import assert_error
from tests.e2e.test_rank import put_ads
from tests.support.processes import RedisProcess, ServiceProcess, copy_bundle

KEY, ADMIN = "e" * 24, "x" * 24
NAME, SALT = "ab-e2e", "s1"
V_A, V_B, V_SHADOW = "exp-a", "exp-b", "exp-shadow"
CONTEXT = {"hour": 12, "weekday": 2, "device": "mobile"}  # no hour from the clock


class Bundles:
    def __init__(self, root: Path, tiny: Path, clicks_only: Path) -> None:
        self.a = copy_bundle(tiny, root / "a", V_A)  # with a conversion head
        self.b = copy_bundle(clicks_only, root / "b", V_B)  # clicks only
        self.shadow = copy_bundle(clicks_only, root / "shadow", V_SHADOW)
        self.broken = copy_bundle(tiny, root / "broken", "exp-broken")
        with (self.broken / "ranker.onnx").open("r+b") as fh:
            fh.seek(100)
            fh.write(b"\x00\x01\x02")


@pytest.fixture(scope="module")
def bundles(
    tmp_path_factory: pytest.TempPathFactory, tiny_bundle: Path, clicks_only_bundle: Path
) -> Bundles:
    return Bundles(tmp_path_factory.mktemp("arms"), tiny_bundle, clicks_only_bundle)


def arm(name: str, weight: float, bundle: Path) -> dict[str, Any]:
    return {"name": name, "weight": weight, "bundle_path": str(bundle)}


def base_config(b: Bundles) -> dict[str, Any]:
    return {"name": NAME, "salt": SALT,
            "arms": [arm("control", 0.5, b.a), arm("treatment", 0.5, b.b)]}  # fmt: skip


@pytest.fixture(scope="module")
def service(start_service: StartService, bundles: Bundles) -> ServiceProcess:
    base = base_config(bundles)
    return start_service("--experiment.name", NAME, "--experiment.salt", SALT,
                         "--experiment.arms", json.dumps(base["arms"]),
                         "--auth.api-keys", json.dumps([KEY]),
                         "--auth.admin-api-keys", json.dumps([ADMIN]))  # fmt: skip


@pytest.fixture(scope="module")
def ads(service: ServiceProcess) -> list[str]:
    """Four ads, encoded for both arms' models."""
    with httpx.Client(base_url=service.url, timeout=30, headers={"X-API-Key": KEY}) as c:
        return put_ads(c)


@pytest.fixture
def client(service: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=30, headers={"X-API-Key": KEY}) as c:
        yield c


@pytest.fixture
def admin(service: ServiceProcess, bundles: Bundles) -> Iterator[httpx.Client]:
    """The admin client; each test starts from the two arms the service started with."""
    with httpx.Client(base_url=service.url, timeout=60, headers={"X-API-Key": ADMIN}) as c:
        r = c.put("/admin/arms", json=base_config(bundles))
        assert r.status_code == 200, r.text
        yield c


@pytest.fixture(scope="module")
def store(service: ServiceProcess, redis_server: RedisProcess) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_server.url, decode_responses=True) as r:
        yield r


def key_prefix(proc: ServiceProcess) -> str:
    args = list(proc.proc.args)  # type: ignore[arg-type]
    return str(args[args.index("--redis.key-prefix") + 1])


def rank(client: httpx.Client, user: str, ads: list[str], **body: Any) -> dict[str, Any]:
    cands = [{"ad_id": a, "bid": 1.0 + i} for i, a in enumerate(ads)]
    r = client.post("/rank", json={"user_id": user, "candidates": cands, "context": CONTEXT,
                                   **body})  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()


def samples(client: httpx.Client, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample called ``name`` on /metrics, by its sorted labels."""
    found = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for s in family.samples:
            if s.name == name:
                found[tuple(sorted(s.labels.items()))] = s.value
    return found


def sample(client: httpx.Client, name: str, **labels: str) -> float:
    return samples(client, name).get(tuple(sorted(labels.items())), 0.0)


def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll until ``check`` holds (no assertion on how long it took)."""
    end = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


# a. arms per user


def test_every_answer_names_the_users_arm_and_its_version(
    client: httpx.Client, admin: httpx.Client, ads: list[str]
) -> None:
    table = ArmTable([0.5, 0.5], SALT)  # the doc's formula over the configured weights
    names, versions = ["control", "treatment"], {"control": V_A, "treatment": V_B}
    users = [uid("u") for _ in range(40)]
    seen = set()
    for user in users:
        expected = names[table.arm_of(user)]
        for _ in range(3):  # the same user keeps its arm
            out = rank(client, user, ads)
            assert (out["arm"], out["model_version"]) == (expected, versions[expected]), user
        seen.add(expected)
    assert seen == {"control", "treatment"}
    # the clicks-only arm has no pCVR, the control has
    control_user = next(u for u in users if table.arm_of(u) == 0)
    treatment_user = next(u for u in users if table.arm_of(u) == 1)
    assert all(0 < r["p_cvr"] < 1 for r in rank(client, control_user, ads)["ranked"])
    assert all(r.get("p_cvr") is None for r in rank(client, treatment_user, ads)["ranked"])


# b. GET / PUT /admin/arms


def test_get_arms_gives_the_config_with_versions_and_a_broken_bundle_is_refused(
    client: httpx.Client, admin: httpx.Client, bundles: Bundles, ads: list[str], tmp_path: Path
) -> None:
    got = admin.get("/admin/arms")
    assert got.status_code == 200, got.text
    arms = got.json()
    assert (arms["name"], arms["salt"], arms["control"], arms["shadow"]) == (NAME, SALT, None,
                                                                             None)  # fmt: skip
    assert arms["arms"] == [
        {**arm("control", 0.5, bundles.a), "blend": [], "versions": [V_A]},
        {**arm("treatment", 0.5, bundles.b), "blend": [], "versions": [V_B]},
    ]
    assert arms["attribution_ttl_s"] == 86400 and arms["flush_ms"] == 50

    # the admin key only; a body that is no experiment is a 422 naming the field
    assert client.get("/admin/arms").status_code == 403
    assert client.put("/admin/arms", json=base_config(bundles)).status_code == 403
    assert_error(admin.put("/admin/arms", json={**arms, "control": "nobody"}), 422,
                 "invalid_request", "control")  # fmt: skip

    for bad in (bundles.broken, tmp_path / "missing"):
        config = {**base_config(bundles), "arms": [arm("control", 0.5, bundles.a),
                                                   arm("treatment", 0.5, bad)]}  # fmt: skip
        refused = admin.put("/admin/arms", json=config)
        assert_error(refused, 422, "bundle_rejected", str(bad))
        assert admin.get("/admin/arms").json() == arms  # the old arms still serve
    user = uid("u")
    assert rank(client, user, ads)["model_version"] in {V_A, V_B}

    # a PUT is whole: what it leaves out takes the default
    r = admin.put("/admin/arms", json={"name": NAME, "arms": base_config(bundles)["arms"]})
    assert r.status_code == 200, r.text
    assert r.json()["salt"] == "adrank" == admin.get("/admin/arms").json()["salt"]
    table = ArmTable([0.5, 0.5], "adrank")
    assert rank(client, user, ads)["arm"] == ["control", "treatment"][table.arm_of(user)]
    # no arms: one arm, default, serving the bundle the service started with
    r = admin.put("/admin/arms", json={"name": NAME})
    assert r.status_code == 200, r.text
    assert r.json()["arms"] == [{"name": "default", "weight": 1.0, "bundle_path": None,
                                 "blend": [], "versions": ["tiny-0"]}]  # fmt: skip
    out = rank(client, user, ads)
    assert (out["arm"], out["model_version"]) == ("default", "tiny-0")


# c. arms changed under traffic


async def test_arms_changed_under_concurrent_traffic_fail_no_request(
    service: ServiceProcess, admin: httpx.Client, bundles: Bundles, ads: list[str]
) -> None:
    users = [uid("u") for _ in range(50)]
    cands = [{"ad_id": a, "bid": 1.0 + i} for i, a in enumerate(ads)]
    responses: list[httpx.Response] = []
    stop = asyncio.Event()

    async def loop(c: httpx.AsyncClient) -> None:
        while not stop.is_set():
            body = {"user_id": random.choice(users), "candidates": cands, "context": CONTEXT}
            responses.append(await c.post("/rank", json=body))

    async def more(n: int) -> None:
        """Wait until ``n`` more answers came back."""
        target = len(responses) + n
        for _ in range(1000):
            if len(responses) >= target:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"traffic stalled at {len(responses)} answers")

    fused = {"name": "fused", "weight": 0.5, "blend": [
        {"bundle_path": str(bundles.a), "weight": 0.5},
        {"bundle_path": str(bundles.b), "weight": 0.5}]}  # fmt: skip
    base = base_config(bundles)
    configs = [
        {**base, "arms": [arm("control", 0.2, bundles.a), arm("treatment", 0.8, bundles.b)]},
        {**base, "arms": [arm("control", 0.5, bundles.a), fused]},
        {**base, "salt": "s2", "arms": [arm("control", 0.5, bundles.a), fused]},
        # B retired while requests may still use it, another bundle loaded; then B again
        {**base, "arms": [arm("control", 0.5, bundles.a), arm("other", 0.5, bundles.shadow)]},
        {**base, "arms": [arm("control", 0.5, bundles.a), arm("treatment", 0.5, bundles.b)]},
    ]
    headers = {"X-API-Key": KEY}
    async with (
        httpx.AsyncClient(base_url=service.url, timeout=30, headers=headers) as traffic,
        httpx.AsyncClient(base_url=service.url, timeout=60,
                          headers={"X-API-Key": ADMIN}) as admin_async,
    ):  # fmt: skip
        running = asyncio.gather(*(loop(traffic) for _ in range(8)))
        try:
            await more(20)
            for config in configs:
                r = await admin_async.put("/admin/arms", json=config)
                assert r.status_code == 200, r.text
                assert [a["name"] for a in r.json()["arms"]] == [a["name"] for a in config["arms"]]
                await more(40)
        finally:
            stop.set()
            await running

    failed = [(r.status_code, r.text) for r in responses if r.status_code != 200]
    assert responses and not failed, failed[:3]
    answers = [r.json() for r in responses]
    by_arm: dict[str, set[str]] = {}
    for out in answers:
        by_arm.setdefault(out["arm"], set()).add(out["model_version"])
    assert by_arm == {"control": {V_A}, "treatment": {V_B}, "fused": {f"{V_A}+{V_B}"},
                      "other": {V_SHADOW}}, by_arm  # fmt: skip


def test_a_blend_arm_ranks_by_the_blend_of_its_parts_logits(
    client: httpx.Client, admin: httpx.Client, bundles: Bundles, ads: list[str]
) -> None:
    """One user moved between arms by their weights (every bundle stays loaded): the blend
    arm's pCTR is sigmoid(0.7·logit(pA) + 0.3·logit(pB)) of what the parts answered alone."""
    parts = [{"bundle_path": str(bundles.a), "weight": 0.7},
             {"bundle_path": str(bundles.b), "weight": 0.3}]  # fmt: skip
    fused = {"name": "fused", "blend": parts}
    user = uid("u")
    p: dict[str, dict[str, float]] = {}
    for only in ("a", "b", "fused"):
        weights = {"a": 0.0, "b": 0.0, "fused": 0.0} | {only: 1.0}
        config = {**base_config(bundles), "arms": [
            arm("a", weights["a"], bundles.a), arm("b", weights["b"], bundles.b),
            {**fused, "weight": weights["fused"]}]}  # fmt: skip
        r = admin.put("/admin/arms", json=config)
        assert r.status_code == 200, r.text
        assert [a["versions"] for a in r.json()["arms"]] == [[V_A], [V_B], [V_A, V_B]]
        out = rank(client, user, ads)
        assert out["arm"] == only  # a weight-0 arm gets nobody
        p[only] = {row["ad_id"]: row["p_ctr"] for row in out["ranked"]}

    def logit(x: float) -> float:
        return math.log(x / (1 - x))

    for ad in ads:
        z = 0.7 * logit(p["a"][ad]) + 0.3 * logit(p["b"][ad])
        assert p["fused"][ad] == pytest.approx(1 / (1 + math.exp(-z)), rel=1e-4), ad
    assert p["fused"] != p["a"]


# d. attribution


def test_outcomes_are_attributed_to_the_arm_that_ranked(
    client: httpx.Client, admin: httpx.Client, service: ServiceProcess, store: redis.Redis,
    ads: list[str],
) -> None:  # fmt: skip
    table = ArmTable([0.5, 0.5], SALT)
    names = ["control", "treatment"]
    prefix = key_prefix(service)
    pool = [uid("u") for _ in range(200)]
    # three users of each arm
    users = [u for k in (0, 1) for u in [v for v in pool if table.arm_of(v) == k][:3]]
    arm_of = {u: names[table.arm_of(u)] for u in users}
    assert list(arm_of.values()) == ["control"] * 3 + ["treatment"] * 3
    before = {how: sample(client, "adrank_attribution_total", how=how)
              for how in ("request", "user", "none")}  # fmt: skip
    requests_before = {a: sample(client, "adrank_arm_requests_total", arm=a) for a in names}

    outcomes = []
    for i, user in enumerate(users):
        out = rank(client, user, ads, request_id=f"{user}-req")
        assert out["request_id"] == f"{user}-req" and out["arm"] == arm_of[user]
        shown = {"request_id": out["request_id"], "ad_id": out["ranked"][0]["ad_id"]}
        outcomes += [shown | {"type": "impression"},
                     shown | {"type": "click", "revenue": 0.25 * (i + 1)}]  # fmt: skip
        if i % 2 == 0:
            outcomes.append(shown | {"type": "conversion", "revenue": 2.5, "value": 10.0})
    r = client.post("/events", json={"outcomes": outcomes})
    assert r.status_code == 200, r.text
    assert r.json()["outcomes"] == r.json()["attributed"] == len(outcomes)
    assert r.json()["model_version"] == V_A  # the control's

    def users_hash(arm_name: str) -> dict[str, str]:
        key = f"{prefix}exp:{{{NAME}}}:arm:{arm_name}:users"
        return store.hgetall(key)  # type: ignore[return-value]

    def fields_of(user: str) -> dict[str, float]:
        return {k: float(v) for k, v in users_hash(arm_of[user]).items()
                if k.split(":", 1)[1] == user}  # fmt: skip

    eventually(lambda: all(f"q:{u}" in fields_of(u) for u in users))  # flushed every flush_ms
    for i, user in enumerate(users):
        expected: dict[str, Any] = {f"q:{user}": 1, f"i:{user}": 1, f"c:{user}": 1}
        if i % 2 == 0:
            expected |= {f"v:{user}": 1, f"r:{user}": pytest.approx(0.25 * (i + 1) + 2.5)}
        else:
            expected[f"r:{user}"] = pytest.approx(0.25 * (i + 1))
        assert fields_of(user) == expected, user
        other = names[1 - names.index(arm_of[user])]
        assert not any(k.endswith(f":{user}") for k in users_hash(other))
        assert store.get(f"{prefix}exp:{{{NAME}}}:req:{user}-req") == f"{arm_of[user]}\t{user}"
    meta = store.hgetall(f"{prefix}exp:{{{NAME}}}:meta")
    assert json.loads(meta["arms"]) == [
        {"name": "control", "weight": 0.5, "versions": [V_A]},
        {"name": "treatment", "weight": 0.5, "versions": [V_B]},
    ]
    assert (meta["salt"], meta["control"]) == (SALT, "control")

    # an unknown request id with a user: the user's arm; with neither: not attributed
    stranger = uid("u")
    unknown = {"request_id": uid("gone"), "ad_id": ads[0], "type": "click"}
    r = client.post("/events", json={"outcomes": [unknown | {"user_id": stranger}, unknown]})
    assert r.status_code == 200, r.text
    assert (r.json()["outcomes"], r.json()["attributed"]) == (2, 1)
    assert users_hash(names[table.arm_of(stranger)]).get(f"c:{stranger}") == "1"

    after = {how: sample(client, "adrank_attribution_total", how=how) for how in before}
    assert {how: after[how] - before[how] for how in before} == {
        "request": len(outcomes), "user": 1, "none": 1}  # fmt: skip
    for name in names:
        ranked_here = sum(1 for u in users if arm_of[u] == name)
        assert sample(client, "adrank_arm_requests_total", arm=name) == pytest.approx(
            requests_before[name] + ranked_here)  # fmt: skip
        assert sample(client, "adrank_arm_request_duration_seconds_count", arm=name) > 0
    clicks = sum(1 for u in users if arm_of[u] == "control") + (
        names[table.arm_of(stranger)] == "control")  # fmt: skip
    assert sample(client, "adrank_arm_outcomes_total", arm="control", type="click") >= clicks


# e. shadow


def test_a_shadow_bundle_is_compared_but_never_answers(
    client: httpx.Client, admin: httpx.Client, bundles: Bundles, ads: list[str]
) -> None:
    config = {**base_config(bundles),
              "shadow": {"bundle_path": str(bundles.shadow), "share": 1.0}}  # fmt: skip
    r = admin.put("/admin/arms", json=config)
    assert r.status_code == 200, r.text
    assert r.json()["shadow"] == {"bundle_path": str(bundles.shadow), "share": 1.0,
                                  "max_pending": 64}  # fmt: skip
    scored_before = sample(client, "adrank_shadow_total", result="scored")
    for _ in range(10):
        out = rank(client, uid("u"), ads)
        assert out["model_version"] in {V_A, V_B} and out["arm"] in {"control", "treatment"}

    def scored() -> float:
        return sample(client, "adrank_shadow_total", result="scored") - scored_before

    eventually(lambda: scored() >= 10)  # each answered request, scored after its answer
    assert sample(client, "adrank_shadow_total", result="failed") == 0
    assert sample(client, "adrank_shadow_rank_correlation_count") > 0
    top1 = samples(client, "adrank_shadow_top1_total")
    assert sum(top1.values()) == sample(client, "adrank_shadow_total", result="scored")


# f. a cpa bid where an arm cannot price it


def test_a_cpa_bid_is_refused_for_the_users_of_a_clicks_only_arm(
    client: httpx.Client, admin: httpx.Client, ads: list[str]
) -> None:
    """The treatment's bundle has no conversion head (pCTR only), the control's has. A cpa
    bid is priced as pCTR·pCVR, so the service refuses it (422) for users of the clicks-only
    arm and prices it for users of the control: the same request is accepted or refused by
    the user's arm. That is what one clicks-only model does without an experiment
    (test_bids.py), and refusing beats pricing a cpa bid by some made-up pCVR; a client
    that sends cpa bids needs every arm to have a conversion head."""
    table = ArmTable([0.5, 0.5], SALT)
    users = [uid("u") for _ in range(40)]
    control = next(u for u in users if table.arm_of(u) == 0)
    treatment = next(u for u in users if table.arm_of(u) == 1)
    cands = [{"ad_id": ads[0], "bid": 1.0}, {"ad_id": ads[1], "bid": 30.0, "bid_type": "cpa"}]
    ok = client.post("/rank", json={"user_id": control, "candidates": cands})
    assert ok.status_code == 200, ok.text
    cpa = next(r for r in ok.json()["ranked"] if r["ad_id"] == ads[1])
    assert cpa["ranked_by"] == "cpa"
    assert cpa["ecpm"] == pytest.approx(30.0 * cpa["p_ctr"] * cpa["p_cvr"] * 1000, rel=1e-6)
    refused = client.post("/rank", json={"user_id": treatment, "candidates": cands})
    assert_error(refused, 422, "invalid_request", f"cpa needs a model with a conversion head; "
                 f"model {V_B} predicts clicks only")  # fmt: skip


# /admin/reload beside arms that name their own bundles


def test_a_reload_naming_a_bundle_is_refused_while_arms_name_their_bundles(
    client: httpx.Client, admin: httpx.Client, bundles: Bundles, tiny_bundle: Path,
    ads: list[str], tmp_path: Path,
) -> None:  # fmt: skip
    """docs/experiments.md: PUT /admin/arms has "the same load-then-swap safety as
    /admin/reload (a bundle that fails is a 422 bundle_rejected and the running arms keep
    serving)". A reload names the default bundle (what arms without a path serve); when
    every arm names its own, no arm would read it: the reload is refused whatever the bundle
    (broken, missing or sound), not swapped in unread."""
    arms = admin.get("/admin/arms").json()
    try:
        for bad in (bundles.broken, tmp_path / "missing", tiny_bundle):
            r = admin.post("/admin/reload", json={"bundle_path": str(bad)})
            assert r.status_code == 422, f"{bad.name}: {r.status_code} {r.text}"
            assert r.json()["error_type"] == "invalid_request"
            assert "PUT /admin/arms" in r.json()["error"]
        assert admin.get("/admin/arms").json() == arms
        # the default bundle is still the one the service started with
        r = admin.put("/admin/arms", json={"name": NAME})
        assert r.status_code == 200, r.text
        assert rank(client, uid("u"), ads)["model_version"] == "tiny-0"
    finally:
        admin.post("/admin/reload", json={"bundle_path": str(tiny_bundle)})
