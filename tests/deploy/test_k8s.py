"""The Kubernetes manifests agree with the code: settings, ports, probe paths, selectors, the
image target, the shutdown budget, and placeholder keys the service refuses."""

from typing import Any

import pytest
from pydantic import ValidationError

from adrank.serve_cli import GRACEFUL_TIMEOUT_S, IDLE_GRACE_S
from service.settings import AuthSettings
from tests.deploy.files import (
    DEPLOY,
    dockerfile_stages,
    get_routes,
    load_yaml,
    load_yaml_all,
    settings_from_env,
)

K8S = DEPLOY / "k8s"
MODEL_CLOSE_S = 5  # ModelHolder.close drains the batchers for up to 5 s


def manifests() -> dict[str, dict[str, Any]]:
    docs = [doc for path in sorted(K8S.glob("*.yaml")) if path.name != "kustomization.yaml"
            for doc in load_yaml_all(path)]  # fmt: skip
    return {doc["kind"]: doc for doc in docs}


M = manifests()
POD = M["Deployment"]["spec"]["template"]
CONTAINER = POD["spec"]["containers"][0]


def test_all_kinds_present_and_listed_in_the_kustomization() -> None:
    assert set(M) == {"Deployment", "Service", "HorizontalPodAutoscaler",
                      "PodDisruptionBudget", "ConfigMap", "Secret"}  # fmt: skip
    listed = load_yaml(K8S / "kustomization.yaml")["resources"]
    files = [p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"]
    assert sorted(listed) == sorted(files)


def test_config_is_real_settings_and_matches_the_container(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_from_env(M["ConfigMap"]["data"], monkeypatch)
    assert settings.server.host == "0.0.0.0" and settings.server.workers == 1
    (port,) = CONTAINER["ports"]
    assert port["containerPort"] == settings.server.port
    refs = {next(iter(ref.values()))["name"] for ref in CONTAINER["envFrom"]}
    assert refs == {M["ConfigMap"]["metadata"]["name"], M["Secret"]["metadata"]["name"]}


def test_secret_holds_real_key_settings_whose_placeholders_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = M["Secret"]["stringData"]
    with pytest.raises(ValidationError, match="placeholder"):
        settings_from_env(data, monkeypatch)
    replaced = {k: v.replace("REPLACE-ME", "kx7Qp2") for k, v in data.items()}
    settings = settings_from_env(replaced, monkeypatch)
    assert settings.auth.api_keys and settings.auth.admin_api_keys
    with pytest.raises(ValidationError, match="placeholder"):
        AuthSettings(api_keys=["REPLACE-ME-but-long-enough"])


def test_probes_hit_real_routes_on_the_served_port() -> None:
    port_name = CONTAINER["ports"][0]["name"]
    kinds = ("readinessProbe", "livenessProbe", "startupProbe")
    probes = {k: CONTAINER[k]["httpGet"] for k in kinds}
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    for probe in probes.values():
        assert probe["path"] in get_routes() and probe["port"] == port_name


def test_service_hpa_and_pdb_select_the_deployment() -> None:
    labels = POD["metadata"]["labels"]
    name = M["Deployment"]["metadata"]["name"]
    assert M["Deployment"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert M["Service"]["spec"]["selector"].items() <= labels.items()
    assert M["Service"]["spec"]["ports"][0]["targetPort"] == CONTAINER["ports"][0]["name"]
    assert M["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = M["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": name}  # fmt: skip
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert M["PodDisruptionBudget"]["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]


def test_resources_and_a_non_root_image_target_that_exists() -> None:
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(CONTAINER["resources"][kind])
    target = CONTAINER["image"].split(":")[-1]
    assert target in {s.name for s in dockerfile_stages()}
    runtime_user = next(s for s in dockerfile_stages() if s.name == "runtime").all("USER")[-1]
    assert str(POD["spec"]["securityContext"]["runAsUser"]) == runtime_user.split(":")[0]


def test_shutdown_budget_covers_endpoint_removal_and_the_drain() -> None:
    stop = CONTAINER["lifecycle"]["preStop"]["exec"]["command"]
    assert stop[0] == "sleep"
    needed = int(stop[1]) + IDLE_GRACE_S + GRACEFUL_TIMEOUT_S + MODEL_CLOSE_S
    assert POD["spec"]["terminationGracePeriodSeconds"] > needed
