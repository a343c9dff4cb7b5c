"""Wire shapes of ``/healthz`` and ``/readyz``."""

from msgspec import Struct


class Health(Struct):
    status: str


class Readiness(Struct):
    ready: bool
    problems: list[str]
    model_version: str | None
    providers: dict[str, list[str]] | None
    redis: str
    redis_breaker: str
