"""Small pure parts of the service: breaker, ad cache, history merge, auth, settings, errors."""

from collections.abc import Sequence

import numpy as np
import pytest
from pydantic import SecretStr, ValidationError

from service.auth import matches
from service.errors import InvalidRequest
from service.events.history import build_matrix, known_vectors, merge_history, missing_texts
from service.rank.protocol import DECODER
from service.runtime.providers import CPU, CUDA, wanted_providers
from service.server.requests import decode
from service.settings import AuthSettings, RedisSettings, Settings
from service.store.ad_cache import MISS, AdCache
from service.store.breaker import CircuitBreaker
from service.store.codec import BehaviourItem, UserMatrix


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_failures_and_lets_one_trial_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=2, reset_s=1.0, clock=clock)
    breaker.failure()
    assert breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now = 1.5
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.failure()  # trial failed: open again
    assert not breaker.allow()
    clock.now = 3.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow()


def prior_rows(ad_ids: Sequence[str]) -> np.ndarray:
    """A prior table that knows a → 1, b → 2, c → 3 and nothing else (0)."""
    return np.array([{"a": 1, "b": 2, "c": 3}.get(a, 0) for a in ad_ids], np.int64)


def test_ad_cache_gathers_copies_reuses_oldest_slots_and_expires() -> None:
    clock = Clock()
    cache = AdCache(capacity=2, d=2, ttl_s=10, prior_rows=prior_rows, clock=clock)
    cache.put(["a", "b"], np.array([[1, 1], [2, 2]], np.float32))
    got = cache.gather(["b", "x", "a"])
    assert got.have.tolist() == [True, False, True]
    assert got.vectors.tolist() == [[2, 2], [0, 0], [1, 1]]
    assert got.prior_rows.tolist() == [2, 0, 1]
    cache.put(["c"], np.array([[3, 3]], np.float32))  # reuses a's slot, the oldest
    assert got.vectors[2].tolist() == [1, 1]  # what was gathered stays valid
    assert cache.rows(["a", "b", "c"]).tolist()[0] == MISS
    assert cache.gather(["c", "b"]).prior_rows.tolist() == [3, 2]  # all cached: from slots
    assert cache.gather(["a", "c"]).prior_rows.tolist() == [1, 3]  # a looked up again
    cache.put(["b"], np.array([[4, 4]], np.float32))  # refresh in place
    assert cache.gather(["b"]).vectors.tolist() == [[4, 4]]
    clock.now = 11
    assert cache.rows(["b", "c"]).tolist() == [MISS, MISS]


def test_ad_cache_of_capacity_zero_keeps_nothing_and_gathers_zeros() -> None:
    cache = AdCache(capacity=0, d=3, ttl_s=10, prior_rows=prior_rows)
    cache.put(["a"], np.ones((1, 3), np.float32))
    got = cache.gather(["a", "b"])
    assert got.have.tolist() == [False, False]
    assert got.vectors.shape == (2, 3) and not got.vectors.any()
    assert got.prior_rows.tolist() == [1, 2]


def item(i: str, ts: float, kind: str = "click") -> BehaviourItem:
    return BehaviourItem(i, f"text {i}", kind, ts)


def test_merge_keeps_the_newest_by_time_and_drops_exact_repeats() -> None:
    old = [item("o2", 20), item("o1", 10)]
    new = [item("n1", 15), item("n2", 30), item("o2", 20)]  # o2 is a retried event
    merged = merge_history(old, new, keep=3)
    assert [m.item_id for m in merged] == ["n2", "o2", "n1"]


def test_merge_ties_put_the_later_sent_event_first() -> None:
    merged = merge_history([item("old", 5)], [item("a", 5), item("b", 5)], keep=10)
    assert [m.item_id for m in merged] == ["b", "a", "old"]


def test_matrix_from_history_reuses_known_vectors() -> None:
    stored = UserMatrix(np.full((1, 2), 3, np.float16), ("o1",))
    items = [item("n1", 2), item("o1", 1)]
    vectors = known_vectors(stored)
    assert [m.item_id for m in missing_texts(items, vectors)] == ["n1"]
    vectors["n1"] = np.ones(2)
    matrix = build_matrix(items, vectors, d=2)
    assert matrix.item_ids == ("n1", "o1") and matrix.vectors.dtype == np.float16
    assert matrix.vectors[1].tolist() == [3, 3]


def test_api_key_comparison() -> None:
    keys = [SecretStr("a" * 16), SecretStr("b" * 16)]
    assert matches("b" * 16, keys)
    assert not matches("c" * 16, keys) and not matches("", keys)


def test_short_api_keys_are_refused() -> None:
    with pytest.raises(ValidationError, match="at least 16 characters"):
        AuthSettings(api_keys=[SecretStr("short")])


def test_settings_from_env_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    from adrank.serve_cli import parse_settings

    monkeypatch.setenv("ADRANK_REDIS__URL", "redis://r:6379/0")
    monkeypatch.setenv("ADRANK_BATCH__MAX_PAIRS", "123")
    s = Settings()
    assert s.redis.url == "redis://r:6379/0" and s.batch.max_pairs == 123
    s = parse_settings(["--bundle", "/b", "--limits.max-candidates", "7", "--port", "9"])
    assert str(s.model.bundle_path) == "/b" and s.limits.max_candidates == 7
    assert s.server.port == 9


def test_redis_cluster_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from adrank.serve_cli import parse_settings

    s = parse_settings(["--redis-url", "redis://n1:7000", "--redis.cluster"])
    assert s.redis.cluster and s.redis.url == "redis://n1:7000"
    monkeypatch.setenv("ADRANK_REDIS__URL", "redis://n1:7000")
    monkeypatch.setenv("ADRANK_REDIS__CLUSTER", "true")
    assert Settings().redis.cluster
    with pytest.raises(ValidationError, match=r"redis\.cluster needs redis\.url"):
        RedisSettings(cluster=True)  # the embedded Redis is a single server
    with pytest.raises(ValidationError, match="may not contain"):
        RedisSettings(key_prefix="app{1}:")


def test_validation_messages_name_the_field() -> None:
    with pytest.raises(InvalidRequest, match=r"^candidates\.0\.ad_id: required field is missing$"):
        decode(DECODER, b'{"user_id": "u", "candidates": [{"bid": 1}]}')
    with pytest.raises(InvalidRequest, match=r"^candidates\.0\.bid: Expected `float` >= 0"):
        decode(DECODER, b'{"user_id": "u", "candidates": [{"ad_id": "a", "bid": -1}]}')
    with pytest.raises(InvalidRequest, match=r"^body: not valid JSON"):
        decode(DECODER, b"{not json")
    with pytest.raises(InvalidRequest, match=r"^body: Expected `object`"):
        decode(DECODER, b"[]")


def test_provider_choice() -> None:
    assert wanted_providers(["auto"], [CUDA, CPU]) == [CUDA, CPU]
    assert wanted_providers(["auto"], [CPU]) == [CPU]
    assert wanted_providers([CUDA], [CPU]) == [CPU]
    assert wanted_providers([CPU], [CUDA, CPU]) == [CPU]
