"""docker-compose.yml, the Prometheus config and the Grafana provisioning agree with the code
and with each other: settings, ports, paths, healthchecks, service names."""

import re
from pathlib import Path
from typing import Any

import pytest

from adrank.serve_cli import GRACEFUL_TIMEOUT_S, IDLE_GRACE_S
from tests.deploy.files import (
    DEPLOY,
    ROOT,
    adrank_vars,
    dockerfile_stages,
    get_routes,
    load_yaml,
    settings_from_env,
    url_path,
    url_port,
)

COMPOSE = load_yaml(ROOT / "docker-compose.yml")
SERVICES: dict[str, Any] = COMPOSE["services"]
ADRANK = SERVICES["adrank"]


def mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """container path → (host path, mode) of the service's volumes."""
    parsed = [v.split(":") for v in service.get("volumes", [])]
    return {p[1]: (p[0], p[2] if len(p) > 2 else "rw") for p in parsed}


def test_adrank_env_is_real_settings_that_serve_in_a_container(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_from_env(adrank_vars(ADRANK["environment"]), monkeypatch)
    assert settings.server.host == "0.0.0.0" and settings.server.workers == 1
    assert settings.redis.url == "redis://redis:6379/0" and "redis" in SERVICES
    assert settings.model.threads_from_cpus


def test_port_mapping_and_healthcheck_match_the_served_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = str(settings_from_env(adrank_vars(ADRANK["environment"]), monkeypatch).server.port)
    assert [p.split(":")[-1] for p in ADRANK["ports"]] == [port]
    check = " ".join(ADRANK["healthcheck"]["test"])
    assert url_path(check) in get_routes() and url_port(check) == port


def test_build_target_exists_and_the_bundle_is_mounted_where_settings_look(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ADRANK["build"]["target"] in {s.name for s in dockerfile_stages()}
    bundle = settings_from_env(adrank_vars(ADRANK["environment"]), monkeypatch).model.bundle_path
    host, mode = mounts(ADRANK)[str(bundle.parent)]
    assert mode == "ro"
    makefile_bundle = re.search(r"^BUNDLE\s*\?=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert makefile_bundle and Path(host) / bundle.name == Path(makefile_bundle.group(1))


def test_every_dependency_waits_for_a_healthcheck() -> None:
    for name, service in SERVICES.items():
        assert "healthcheck" in service, f"{name} has no healthcheck"
        for dep, condition in service.get("depends_on", {}).items():
            assert condition == {"condition": "service_healthy"}, (name, dep)
            assert dep in SERVICES
    assert "redis" in ADRANK["depends_on"]


def test_redis_persists_histories_with_an_append_only_file() -> None:
    command = " ".join(SERVICES["redis"]["command"])
    assert "--appendonly yes" in command and "--appendfsync everysec" in command
    assert "/data" in mounts(SERVICES["redis"])


def test_stop_grace_covers_the_drain() -> None:
    grace = int(ADRANK["stop_grace_period"].rstrip("s"))
    assert grace > IDLE_GRACE_S + GRACEFUL_TIMEOUT_S + 5  # + the model's close (drain_s=5)


def test_prometheus_scrapes_the_adrank_service_metrics_route() -> None:
    host_dir, _ = mounts(SERVICES["prometheus"])["/etc/prometheus"]
    config = load_yaml(ROOT / host_dir / "prometheus.yml")
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] in get_routes()
    assert job["static_configs"][0]["targets"] == [f"adrank:{ADRANK['ports'][0].split(':')[-1]}"]
    for rule_file in config["rule_files"]:
        assert (ROOT / host_dir / Path(rule_file).relative_to("/etc/prometheus")).is_file()


def test_grafana_provisioning_points_at_mounted_files_and_the_prometheus_service() -> None:
    grafana = mounts(SERVICES["grafana"])
    assert grafana["/etc/grafana/provisioning"][0] == "./deploy/grafana/provisioning"
    provider = load_yaml(DEPLOY / "grafana/provisioning/dashboards/adrank.yml")["providers"][0]
    host_dir, _ = grafana[provider["options"]["path"]]
    assert (ROOT / host_dir / "adrank.json").is_file()
    (source,) = load_yaml(DEPLOY / "grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert source["url"] == "http://prometheus:9090" and "prometheus" in SERVICES
    assert "9090:9090" in SERVICES["prometheus"]["ports"]
