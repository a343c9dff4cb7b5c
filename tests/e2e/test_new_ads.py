"""Ads a campaign launches, sent to /rank with their text: encoded once, stored, and scored
by the model on a later request even when the first request could not wait for them."""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import StartService, uid
from tests.e2e.test_rank import put_ads, rank
from tests.support.processes import ServiceProcess

WORDS = ["trail", "espresso", "lisbon", "novel", "headphones", "yoga", "tent", "sofa", "drone",
         "perfume", "chess", "kayak", "laptop", "garden", "violin", "sneakers"]  # fmt: skip


def new_ads(n: int) -> list[dict[str, str]]:
    """``n`` (at most 256) ads the service has never seen, each with its own words."""
    tag = uid("launch")
    return [{"ad_id": f"{tag}-{i}", "title": f"{WORDS[i % 16]} and {WORDS[i // 16]}",
             "description": f"{WORDS[(i + 3) % 16]} deal, free delivery",
             "category": WORDS[i // 16]} for i in range(n)]  # fmt: skip


def scored_by_model(client: httpx.Client, body: dict, timeout_s: float = 5.0) -> dict:
    """Repeat ``body`` until every ad is scored by the model (or fail after ``timeout_s``)."""
    end = time.monotonic() + timeout_s
    while True:
        out = rank(client, **body)
        if all(r["source"] == "model" for r in out["ranked"]) or time.monotonic() > end:
            return out
        time.sleep(0.2)


def encoded_for_rank(client: httpx.Client) -> float:
    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "adrank_encoded_texts_total" and sample.labels == {"source": "rank"}:
                return sample.value
    return 0.0


@pytest.fixture(scope="module")
def no_wait(start_service: StartService) -> ServiceProcess:
    """A service whose /rank never waits for new ads' vectors: the first answer cannot have
    them, whatever the speed of the machine."""
    return start_service("--batch.new-ad-wait-share", "0")


def test_new_ads_are_scored_by_the_model_on_the_next_request(client: httpx.Client) -> None:
    ads = new_ads(100)
    body = {"user_id": uid("u"), "candidates": ads}
    first = rank(client, **body)
    assert first["metrics"]["total_ms"] < 250  # the default deadline
    assert set(first["degraded_reasons"]) <= {"encoder_deadline"}
    again = scored_by_model(client, body)
    p_ctrs = [r["p_ctr"] for r in again["ranked"]]
    assert all(r["source"] == "model" for r in again["ranked"])
    # not one prior for all; the tiny test model's vocabulary is small, so two texts may
    # read the same to it
    assert len(set(p_ctrs)) > len(ads) * 0.9 and again["degraded"] is False


def test_an_encoding_the_request_could_not_wait_for_finishes_and_is_stored(
    no_wait: ServiceProcess,
) -> None:
    with httpx.Client(base_url=no_wait.url, timeout=10) as client:
        known = put_ads(client)
        ads = new_ads(100)
        body = {"user_id": uid("u"), "candidates": [{"ad_id": a} for a in known] + ads}
        first = rank(client, **body)
        source = {r["ad_id"]: r["source"] for r in first["ranked"]}
        assert first["degraded_reasons"] == ["encoder_deadline"]
        assert all(source[a] == "model" for a in known)  # known ads still ranked by the model
        assert all(source[a["ad_id"]] == "prior" for a in ads)
        again = scored_by_model(client, body)
        assert all(r["source"] == "model" for r in again["ranked"])
        # stored in Redis, not only in this process: an ad id alone is enough now
        alone = rank(client, user_id=uid("u"), candidates=[{"ad_id": ads[0]["ad_id"]}])
        assert alone["ranked"][0]["source"] == "model"


def test_an_ad_brought_by_many_requests_at_once_is_encoded_once(no_wait: ServiceProcess) -> None:
    ads = new_ads(50)
    with httpx.Client(base_url=no_wait.url, timeout=10) as client:
        before = encoded_for_rank(client)
        bodies = [{"user_id": uid("u"), "candidates": ads} for _ in range(8)]
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda b: client.post("/rank", json=b), bodies))
        assert all(a.status_code == 200 for a in answers)
        scored_by_model(client, bodies[0])
        assert encoded_for_rank(client) - before == len(ads)


def test_a_flood_of_new_ads_is_shed_not_queued(start_service: StartService) -> None:
    service = start_service("--batch.new-ad-wait-share", "0",
                            "--batch.encoder-queue-max-texts", "100")  # fmt: skip
    with httpx.Client(base_url=service.url, timeout=10) as client:
        answers = [rank(client, user_id=uid("u"), candidates=new_ads(100)) for _ in range(20)]
    reasons = {r for a in answers for r in a["degraded_reasons"]}
    assert "encoder_overloaded" in reasons and reasons <= {"encoder_deadline", "encoder_overloaded"}
