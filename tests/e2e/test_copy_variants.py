"""Variants jobs end to end (``POST /ads/{ad_id}/variants``, ``GET .../{job_id}``): the real
service under uvicorn with the tiny generator (a random 2-layer Llama over the packaged SmolLM2
tokenizer, in the real worker process) against a real Redis. A job is accepted with 202, runs
queued → running → done, and its result scores the original for the audience that has
behaviour in Redis; generation runs in a separate, niced process that holds torch while the
service's own process never loads it; /rank answers 200 all the while; the queue bound is a 503
copy_queue_full; admin key, 404s, 422s; turned off it is a 503 copy_unavailable; stopping the
service stops its worker."""

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.copy.worker import missing_packages
from tests.e2e.conftest import StartService, uid
from tests.e2e.test_errors import assert_error
from tests.e2e.test_experiments import samples
from tests.e2e.test_rank import post_events, put_ads
from tests.support.processes import ServiceProcess, wait_for

pytestmark = pytest.mark.skipif(bool(missing_packages()), reason="the copy extra is not installed")

KEY, ADMIN = "k" * 24, "a" * 24
JOB_TIMEOUT_S = 240  # the first job starts the worker: torch, the tokenizer, the tiny model
HISTORY = ["Trail running socks", "Waterproof hiking boots", "Espresso beans, dark roast"]


def start(start_service: StartService, *flags: str) -> ServiceProcess:
    return start_service("--variants.generator", "tiny",
                         "--auth.api-keys", json.dumps([KEY]),
                         "--auth.admin-api-keys", json.dumps([ADMIN]), *flags)  # fmt: skip


@pytest.fixture(scope="module")
def service(start_service: StartService) -> ServiceProcess:
    return start(start_service, "--variants.max-jobs", "2")


@pytest.fixture(scope="module")
def seeded(service: ServiceProcess) -> dict[str, list[str]]:
    """Four ads (PUT /ads) and three users with behaviour (POST /events)."""
    with httpx.Client(base_url=service.url, timeout=30, headers={"X-API-Key": KEY}) as c:
        ads = put_ads(c)
        users = [uid("copy-user") for _ in range(3)]
        for user in users:
            post_events(c, user, HISTORY)
    return {"ads": ads, "users": users}


@pytest.fixture
def admin(service: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=30, headers={"X-API-Key": ADMIN}) as c:
        yield c


def submit(admin: httpx.Client, ad_id: str, **body: Any) -> dict[str, Any]:
    r = admin.post(f"/ads/{ad_id}/variants", json=body)
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert set(accepted) == {"job_id", "status", "status_url"} and accepted["status"] == "queued"
    assert accepted["status_url"] == f"/ads/{ad_id}/variants/{accepted['job_id']}"
    assert r.headers["location"] == accepted["status_url"]
    return accepted


def wait_finished(admin: httpx.Client, url: str, seen: set[str] | None = None) -> dict[str, Any]:
    """Poll the job until it is done or failed; the states it was seen in go into ``seen``."""
    end = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < end:
        r = admin.get(url)
        assert r.status_code == 200, r.text
        status = r.json()
        if seen is not None:
            seen.add(status["status"])
        if status["status"] in ("done", "failed"):
            return status
        time.sleep(0.2)
    raise TimeoutError(f"job {url} not finished in {JOB_TIMEOUT_S} s")


def test_a_job_goes_queued_to_done_and_scores_the_stored_ad_for_the_audience(
    admin: httpx.Client, seeded: dict[str, list[str]]
) -> None:
    ad, users = seeded["ads"][0], seeded["users"]
    accepted = submit(admin, ad, variants=4, seed=3, audience={"user_ids": [*users, "nobody"]})
    seen: set[str] = set()
    status = wait_finished(admin, accepted["status_url"], seen)
    assert status["status"] == "done", status
    assert seen <= {"queued", "running", "done"}
    assert {status["job_id"], status["ad_id"]} == {accepted["job_id"], ad}
    assert status["created_at"] == pytest.approx(time.time(), abs=JOB_TIMEOUT_S)
    result = status["result"]
    assert result["generator"] == "tiny-llama-0"
    assert result["audience_users"] == 3 and result["audience_skipped"] == 1  # "nobody"
    original = result["original"]
    assert (original["title"], original["description"]) == (
        "Trail running shoes", "Light, waterproof, made for mud")  # fmt: skip
    assert 0 < original["mean_pctr"] < 1
    assert original["uplift"] == 0 and original["spread"] == 0 and original["share_better"] == 0
    assert isinstance(result["variants"], list) and isinstance(result["dropped"], list)
    for variant in result["variants"]:  # whatever the random model wrote that passed the checks
        assert set(variant) == set(original) and 0 < variant["mean_pctr"] < 1
    pctrs = [v["mean_pctr"] for v in result["variants"]]
    assert pctrs == sorted(pctrs, reverse=True)
    for dropped in result["dropped"]:
        assert set(dropped) == {"title", "description", "reasons"} and dropped["reasons"]
    t = result["timings"]
    assert t["generate_ms"] > 0 and t["score_ms"] > 0 and t["queued_ms"] >= 0
    assert t["total_ms"] >= t["generate_ms"] + t["score_ms"]


def test_the_text_given_is_scored_for_an_ad_the_catalog_does_not_know_whole_floats_are_ints(
    admin: httpx.Client, seeded: dict[str, list[str]]
) -> None:
    text = {"title": "Velvik espresso grinder", "description": "Burr grinder. From $89.",
            "category": "Kitchen"}  # fmt: skip
    accepted = submit(admin, uid("new-ad"), variants=2.0, audience={"sample": 2.0}, **text)
    result = wait_finished(admin, accepted["status_url"])["result"]
    assert result["original"]["title"] == text["title"]
    assert result["original"]["description"] == text["description"]
    assert result["audience_users"] == 2 and result["audience_skipped"] == 0


def test_an_audience_without_behaviour_fails_the_job_and_says_why(
    admin: httpx.Client, seeded: dict[str, list[str]]
) -> None:
    accepted = submit(admin, seeded["ads"][1], variants=1, audience={"user_ids": ["nobody"]})
    status = wait_finished(admin, accepted["status_url"])
    assert status["status"] == "failed" and "result" not in status
    assert "no user of the audience has behaviour" in status["error"], status


def test_generation_runs_in_a_niced_worker_process_the_service_never_loads_torch(
    service: ServiceProcess, admin: httpx.Client, seeded: dict[str, list[str]]
) -> None:
    wait_finished(admin, submit(admin, seeded["ads"][2], variants=1)["status_url"])
    pid = service.proc.pid
    children = children_of(pid)
    workers = [c for c in children if "libtorch" in Path(f"/proc/{c}/maps").read_text()]
    assert len(workers) == 1, children  # ONE worker (beside multiprocessing's resource tracker)
    assert "libtorch" not in Path(f"/proc/{pid}/maps").read_text()
    assert int(_stat(workers[0])[16]) == min(19, int(_stat(pid)[16]) + 10)  # its nice: +10


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat's fields after the command's name: [0] is field 3 (state)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(int(entry.name))[1]) == pid:  # field 4: the parent's pid
                    found.append(int(entry.name))
            except (OSError, IndexError):  # gone meanwhile
                continue
    return found


def test_rank_keeps_answering_while_a_job_runs(
    service: ServiceProcess, admin: httpx.Client, seeded: dict[str, list[str]]
) -> None:
    ads, user = seeded["ads"], seeded["users"][0]
    accepted = submit(admin, ads[3], variants=8, seed=11)
    body = {"user_id": user, "candidates": [{"ad_id": a} for a in ads]}
    answered, during = 0, set()
    with httpx.Client(base_url=service.url, timeout=5, headers={"X-API-Key": KEY}) as c:
        while True:
            state = admin.get(accepted["status_url"]).json()["status"]
            if state in ("done", "failed"):
                break
            during.add(state)
            r = c.post("/rank", json=body)
            assert r.status_code == 200, r.text
            assert [x["ad_id"] for x in r.json()["ranked"]] != [] and not r.json()["degraded"]
            answered += 1
    assert "running" in during and answered >= 5, (during, answered)
    assert state == "done"


def test_past_max_jobs_queued_or_running_the_answer_is_503_copy_queue_full(
    service: ServiceProcess, admin: httpx.Client, seeded: dict[str, list[str]]
) -> None:
    ad = seeded["ads"][0]
    first, second = submit(admin, ad, variants=8), submit(admin, ad, variants=8)
    r = admin.post(f"/ads/{ad}/variants", json={"variants": 1})
    assert_error(r, 503, "copy_queue_full", "the limit is 2")
    assert int(r.headers["retry-after"]) > 0
    for accepted in (first, second):
        assert wait_finished(admin, accepted["status_url"])["status"] == "done"
    submit(admin, ad, variants=1)  # room again
    counts = samples(admin, "adrank_variant_jobs_total")
    assert counts[(("state", "rejected"),)] >= 1 and counts[(("state", "done"),)] >= 3


def test_the_routes_take_only_the_admin_key(
    service: ServiceProcess, seeded: dict[str, list[str]]
) -> None:
    ad = seeded["ads"][0]
    for path, method in ((f"/ads/{ad}/variants", "POST"), (f"/ads/{ad}/variants/x", "GET")):
        assert_error(httpx.request(method, service.url + path), 401, "unauthorized")
        r = httpx.request(method, service.url + path, headers={"X-API-Key": KEY})
        assert_error(r, 403, "forbidden")


def test_unknown_ads_and_jobs_are_404(admin: httpx.Client, seeded: dict[str, list[str]]) -> None:
    r = admin.post(f"/ads/{uid('never-stored')}/variants", json={"description": "no title"})
    assert_error(r, 404, "not_found", "no text stored by PUT /ads")
    ad, other = seeded["ads"][0], seeded["ads"][1]
    assert_error(admin.get(f"/ads/{ad}/variants/{'0' * 32}"), 404, "not_found", "no variants job")
    job = submit(admin, ad, variants=1)
    assert_error(admin.get(f"/ads/{other}/variants/{job['job_id']}"), 404, "not_found")
    wait_finished(admin, job["status_url"])


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"variants": 0}, "variants"),
        ({"variants": 17}, "variants"),
        ({"variants": "4"}, "variants"),
        ({"variants": 2.5}, "variants: 2.5 is not an integer"),
        ({"audience": {"sample": 1.5}}, "audience.sample"),
        ({"seed": -1}, "seed"),
        ({"audience": {"sample": 0}}, "audience.sample"),
        ({"audience": {"sample": 1001}}, "audience.sample"),
        ({"audience": {"sample": 5, "user_ids": ["u"]}}, "audience"),
        ({"audience": {"user_ids": []}}, "audience.user_ids"),
        ({"audience": {"users": ["u"]}}, "audience"),
        ({"context": {"hour": 25}}, "context.hour"),
        ({"title": ""}, "title"),
        ({"title": "x" * 2001}, "title"),
        ({"tone": "bold"}, "tone"),
    ],
)
def test_bad_bodies_are_422_naming_the_field(
    admin: httpx.Client, seeded: dict[str, list[str]], body: dict[str, Any], mentions: str
) -> None:
    r = admin.post(f"/ads/{seeded['ads'][0]}/variants", json=body)
    assert_error(r, 422, "invalid_request", mentions)


def test_not_json_is_422(admin: httpx.Client, seeded: dict[str, list[str]]) -> None:
    r = admin.post(f"/ads/{seeded['ads'][0]}/variants", content=b"{not json")
    assert_error(r, 422, "invalid_request", "not valid JSON")


def test_turned_off_it_is_503_copy_unavailable_and_rank_is_unaffected(
    start_service: StartService,
) -> None:
    off = start(start_service, "--no-variants.enabled")
    with httpx.Client(base_url=off.url, timeout=30, headers={"X-API-Key": ADMIN}) as c:
        r = c.post("/ads/ad-1/variants", json={"title": "Espresso machine"})
        assert_error(r, 503, "copy_unavailable", "variants.enabled")
        assert c.get("/readyz").status_code == 200


def test_stopping_the_service_stops_its_worker_mid_job(start_service: StartService) -> None:
    proc = start(start_service)
    with httpx.Client(base_url=proc.url, timeout=30, headers={"X-API-Key": ADMIN}) as c:
        accepted = submit(c, "ad-x", title="Espresso machine", variants=16, audience={"sample": 1})
        wait_for(lambda: c.get(accepted["status_url"]).json()["status"] == "running", 30,
                 "the job did not start")  # fmt: skip
    children = children_of(proc.proc.pid)
    assert children, "no worker process"
    started = time.monotonic()
    proc.stop()
    assert time.monotonic() - started < 15  # not the job's whole generation
    wait_for(lambda: not any(os.path.exists(f"/proc/{c}") for c in children), 10,
             f"the service's children {children} outlived it")  # fmt: skip


def test_a_worker_that_dies_fails_its_job_and_the_next_job_gets_a_new_one(
    service: ServiceProcess, admin: httpx.Client, seeded: dict[str, list[str]]
) -> None:
    ad = seeded["ads"][0]
    accepted = submit(admin, ad, variants=16, seed=5)
    wait_for(lambda: admin.get(accepted["status_url"]).json()["status"] != "queued", 60,
             "the job did not start")  # fmt: skip
    workers = [c for c in children_of(service.proc.pid)
               if b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()]  # fmt: skip
    assert len(workers) == 1, workers
    os.kill(workers[0], signal.SIGKILL)
    status = wait_finished(admin, accepted["status_url"])
    assert status["status"] == "failed", status
    assert "the generator's worker process stopped" in status["error"]
    again = wait_finished(admin, submit(admin, ad, variants=1)["status_url"])
    assert again["status"] == "done", again


def test_the_shipped_smollm2_on_llama_cpp_writes_variants_that_keep_the_price(
    start_service: StartService,
) -> None:
    """The real generator (the packaged Q4_1 GGUF in llama.cpp: seconds, not minutes)."""
    proc = start_service("--variants.runtime", "llama.cpp")
    text = {"title": "Velvik trail running shoes", "category": "Sport",
            "description": "Light and waterproof. Free shipping. From $59.99."}  # fmt: skip
    with httpx.Client(base_url=proc.url, timeout=30) as c:
        post_events(c, uid("u"), HISTORY)
        status = wait_finished(c, submit(c, "ad-v", variants=6, seed=1, **text)["status_url"])
    assert status["status"] == "done", status
    result = status["result"]
    assert result["generator"] == "SmolLM2-135M-Instruct" and result["audience_users"] >= 1
    assert len(result["variants"]) + len(result["dropped"]) >= 3  # parsed answers, checked
    for variant in result["variants"]:
        assert "$59.99" in variant["title"] + variant["description"]
        assert "Velvik" in variant["title"] + variant["description"]
        assert 0 < variant["mean_pctr"] < 1
    assert result["timings"]["generate_ms"] > 0
