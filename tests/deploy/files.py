"""What the deployment files are checked against: the settings' env vars, the app's routes,
the metrics registry, and small parsers for the Dockerfile and the YAML files."""

import os
import re
import shlex
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from service.app import create_app
from service.metrics import Metrics
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
METRIC_REF = re.compile(r"\badrank_[a-z0-9_]+")
SUFFIXES: dict[str, tuple[str, ...]] = {
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}


@cache
def settings_env_vars() -> frozenset[str]:
    """Every ``ADRANK_*`` variable the settings read (nested groups joined by ``__``)."""
    names = set()
    for group, info in Settings.model_fields.items():
        model = info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            names |= {f"ADRANK_{group}__{sub}".upper() for sub in model.model_fields}
        else:
            names.add(f"ADRANK_{group}".upper())
    return frozenset(names)


def settings_from_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings() with exactly these ADRANK_* variables, each of them a real setting."""
    assert set(env) <= settings_env_vars(), f"not settings: {set(env) - settings_env_vars()}"
    for key in [k for k in os.environ if k.startswith("ADRANK_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


def adrank_vars(env: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in env.items() if k.startswith("ADRANK_")}


@cache
def get_routes() -> frozenset[str]:
    """Paths the app answers with GET, from its OpenAPI schema (the lifespan is not run)."""
    paths = create_app(Settings()).openapi()["paths"]
    return frozenset(path for path, methods in paths.items() if "get" in methods)


@cache
def metric_names() -> frozenset[str]:
    """Every series name the service exposes (``_bucket``, ``_total``, ... included)."""
    names = set()
    for family in Metrics().registry.collect():
        names |= {family.name + suffix for suffix in SUFFIXES[family.type]}
    return frozenset(names)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (KEYWORD, rest)

    def all(self, keyword: str) -> list[str]:
        return [rest for kw, rest in self.instructions if kw == keyword]

    def env(self) -> dict[str, str]:
        """ENV key=value pairs (quotes removed as Docker does)."""
        pairs = [word.split("=", 1) for rest in self.all("ENV") for word in shlex.split(rest)]
        return {k: v for k, v in pairs}


def dockerfile_stages(path: Path = ROOT / "Dockerfile") -> list[Stage]:
    """The Dockerfile's stages in order, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "FROM":
            base, _, name = rest.partition(" AS ")
            stages.append(Stage(name.strip() or base.strip(), base.strip()))
        elif stages:
            stages[-1].instructions.append((keyword.upper(), rest.strip()))
    return stages


def url_path(url: str) -> str:
    """``/readyz`` of ``http://127.0.0.1:8000/readyz`` (or of an f-string URL)."""
    match = re.search(r"https?://[^/'\"\s]+(/[A-Za-z0-9_/.-]*)", url)
    assert match, f"no URL in {url!r}"
    return match.group(1)


def url_port(url: str) -> str:
    match = re.search(r"https?://[^:/'\"\s]+:([^/'\"\s]+)/", url)
    assert match, f"no port in {url!r}"
    return match.group(1)
