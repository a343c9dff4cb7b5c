"""The Dockerfile agrees with the code: its targets exist, the runtime images hold no torch,
run as a non-root user, check a real endpoint on the configured port, and set only real
settings, with values the settings accept."""

import re

import pytest

from adrank.cli import build_parser
from service.settings import ServerSettings
from tests.deploy.files import (
    ROOT,
    Stage,
    dockerfile_stages,
    get_routes,
    settings_from_env,
    url_path,
    url_port,
)  # fmt: skip

RUNTIMES = ("runtime", "gpu")  # the stages that run the service (cpu, cpu-bundled extend runtime)


def stage(name: str) -> Stage:
    return next(s for s in dockerfile_stages() if s.name == name)


def test_targets_exist_and_cpu_is_the_default() -> None:
    names = [s.name for s in dockerfile_stages()]
    assert {"builder", "runtime", "cpu", "cpu-bundled", "gpu-builder", "gpu"} <= set(names)
    assert names[-1] == "cpu"  # `docker build .` builds the last stage
    assert stage("cpu").base == "runtime" and stage("cpu-bundled").base == "runtime"


def test_builders_install_one_serving_extra_and_no_torch() -> None:
    text = (ROOT / "Dockerfile").read_text()
    installs = {s.name: " ".join(s.all("RUN")) for s in dockerfile_stages()}
    assert '".[cpu]"' in installs["builder"] and "gpu" not in installs["builder"]
    assert '".[gpu]"' in installs["gpu-builder"] and "[cpu" not in installs["gpu-builder"]
    instructions = " ".join(rest for s in dockerfile_stages() for _, rest in s.instructions)
    assert not re.search(r"torch|transformers|\[[^\]]*train", instructions), "torch in an image"
    assert "pip" not in " ".join(stage("runtime").all("RUN") + stage("gpu").all("RUN"))
    assert "COPY --from=builder /opt/venv" in text and "COPY --from=gpu-builder /opt/venv" in text


def test_gpu_image_runs_on_cuda_with_auto_providers() -> None:
    assert re.search(r"nvidia/cuda:12\.[\d.]+-cudnn[\d]*-runtime-ubuntu", _arg("CUDA_IMAGE"))
    assert stage("gpu").env()["ADRANK_MODEL__PROVIDERS"] == '["auto"]'


@pytest.mark.parametrize("name", RUNTIMES)
def test_runtime_runs_as_non_root(name: str) -> None:
    users = stage(name).all("USER")
    assert users, f"{name} has no USER"
    user = users[-1].split(":")[0]
    assert user not in ("0", "root")
    assert any(f"--uid {user}" in run for run in stage(name).all("RUN"))


@pytest.mark.parametrize("name", RUNTIMES)
def test_healthcheck_hits_a_real_endpoint_on_the_served_port(name: str) -> None:
    (check,) = stage(name).all("HEALTHCHECK")
    env = stage(name).env()
    assert url_path(check) in get_routes()
    assert "ADRANK_SERVER__PORT" in check and "'8000'" in check  # reads the port, same default
    assert url_port(check) == "{port}"
    assert stage(name).all("EXPOSE") == [env["ADRANK_SERVER__PORT"]]
    assert env["ADRANK_SERVER__PORT"] == str(ServerSettings().port)


@pytest.mark.parametrize("name", RUNTIMES)
def test_env_sets_real_settings_for_one_worker_in_a_container(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {k: v for k, v in stage(name).env().items() if k.startswith("ADRANK_")}
    monkeypatch.setattr("service.settings.available_cpus", lambda: 3)
    settings = settings_from_env(env, monkeypatch)
    assert settings.server.host == "0.0.0.0" and settings.server.workers == 1
    assert settings.model.encoder_threads == 3  # the quota, as intra-op threads
    assert (settings.model.ranker_threads, settings.model.ranker_concurrency) == (1, 3)
    assert str(settings.model.bundle_path) == "/app/models/default"


def test_entrypoint_is_the_serve_command() -> None:
    for name in RUNTIMES:
        assert stage(name).all("ENTRYPOINT") == ['["adrank", "serve"]']
    assert build_parser().parse_args(["serve"]).run.__module__ == "service.cli"


def test_bundled_target_copies_the_bundle_to_the_configured_path() -> None:
    (copy,) = stage("cpu-bundled").all("COPY")
    assert copy.endswith("${BUNDLE_DIR} /app/models/default")
    assert "ARG BUNDLE_DIR=models/default" in (ROOT / "Dockerfile").read_text()
    assert "!models" not in (ROOT / ".dockerignore").read_text()
    assert "models" not in (ROOT / ".dockerignore").read_text().split()


def _arg(name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert match, name
    return match.group(1)
