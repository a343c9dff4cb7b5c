"""Settings from the environment and from flags; the Redis settings' checks."""

import pytest
from pydantic import ValidationError

from service.settings import RedisSettings, Settings


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
