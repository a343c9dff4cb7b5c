"""The Grafana dashboard and the Prometheus alerts query metrics the service really exposes,
and the dashboard shows what operators need."""

import json
from typing import Any

from tests.deploy.files import DEPLOY, METRIC_REF, load_yaml, metric_names

DASHBOARD = json.loads((DEPLOY / "grafana/dashboards/adrank.json").read_text())
ALERTS = load_yaml(DEPLOY / "prometheus/alerts.yml")


def dashboard_exprs() -> list[str]:
    return [t["expr"] for panel in DASHBOARD["panels"] for t in panel.get("targets", [])]


def alert_exprs() -> list[str]:
    return [rule["expr"] for group in ALERTS["groups"] for rule in group["rules"]]


def test_every_queried_metric_exists_in_the_registry() -> None:
    exprs = dashboard_exprs() + alert_exprs()
    named = {name for expr in exprs for name in METRIC_REF.findall(expr)}
    assert named, "no adrank metric queried"
    assert named <= metric_names(), f"not exposed by service/metrics.py: {named - metric_names()}"


def test_metric_check_catches_a_wrong_name() -> None:
    assert "adrank_request_duration_seconds_bucket" in metric_names()
    assert "adrank_request_duration_seconds_total" not in metric_names()
    assert "adrank_shed_total" in metric_names() and "adrank_shed" not in metric_names()


def test_dashboard_covers_rate_latency_batches_queue_degraded_shed_and_redis() -> None:
    text = "\n".join(dashboard_exprs())
    rank_latency = 'sum by (le) (rate(adrank_request_duration_seconds_bucket{route="/rank"}'
    for q in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({q}, {rank_latency}" in text, q
    for metric in ("adrank_request_duration_seconds_count", "adrank_batch_size_pairs_bucket",
                   "adrank_batch_size_requests_sum", "adrank_queue_depth", "adrank_degraded_total",
                   "adrank_shed_total", "adrank_redis_seconds_bucket"):  # fmt: skip
        assert metric in text, metric


def test_panels_use_the_provisioned_datasource() -> None:
    sources = load_yaml(DEPLOY / "grafana/provisioning/datasources/prometheus.yml")
    uid = sources["datasources"][0]["uid"]
    targets: list[dict[str, Any]] = [t for p in DASHBOARD["panels"] for t in p["targets"]]
    assert all(p["datasource"]["uid"] == uid for p in DASHBOARD["panels"])
    assert all(t["datasource"]["uid"] == uid for t in targets)
    assert len({p["id"] for p in DASHBOARD["panels"]}) == len(DASHBOARD["panels"])
