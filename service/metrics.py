"""Prometheus metrics of one app instance (its own registry, so tests can build many apps).

Named where the event happens, units in the names. Per-request stage timings are also
returned to the caller in the ``metrics`` field of ``/rank``.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from service.events.protocol import OUTCOME_TYPES

_MS = (0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 25, 50, 100, 250, 500, 1000, 2500)
_SECONDS = tuple(b / 1000 for b in _MS)
_PAIRS = (1, 10, 50, 100, 200, 400, 800, 1600, 3200, 6400)
_REQS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
_TOKENS = (8, 32, 128, 512, 1024, 2048, 4096, 8192)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.request_duration = Histogram(
            "adrank_request_duration_seconds", "HTTP request duration",
            ["route", "status"], buckets=_SECONDS, registry=r)  # fmt: skip
        self.queue_depth = Gauge(
            "adrank_queue_depth", "work items waiting", ["queue"], registry=r)  # fmt: skip
        self.queue_wait = Histogram(
            "adrank_queue_wait_seconds", "time from enqueue to the batch starting",
            ["queue"], buckets=_SECONDS, registry=r)  # fmt: skip
        self.batch_pairs = Histogram(
            "adrank_batch_size_pairs", "pairs per ranker call", buckets=_PAIRS, registry=r
        )
        self.batch_requests = Histogram(
            "adrank_batch_size_requests", "requests per batch", ["graph"],
            buckets=_REQS, registry=r)  # fmt: skip
        self.batch_tokens = Histogram(
            "adrank_batch_size_tokens", "padded tokens per encoder batch",
            buckets=_TOKENS, registry=r)  # fmt: skip
        self.inference = Histogram(
            "adrank_inference_seconds", "onnxruntime time per batch", ["graph"],
            buckets=_SECONDS, registry=r)  # fmt: skip
        self.padding_ratio = Histogram(
            "adrank_encoder_padding_ratio", "padded share of encoder tokens",
            buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75), registry=r)  # fmt: skip
        self.redis_latency = Histogram(
            "adrank_redis_seconds", "Redis call latency", ["op"], buckets=_SECONDS, registry=r
        )
        self.redis_errors = Counter(
            "adrank_redis_errors_total", "failed Redis calls", ["op", "reason"], registry=r
        )
        self.breaker_open = Gauge(
            "adrank_redis_breaker_open", "1 while the Redis circuit breaker is open", registry=r
        )
        self.cache = Counter(
            "adrank_ad_cache_total", "in-process ad vector cache lookups", ["result"], registry=r
        )
        self.degraded = Counter(
            "adrank_degraded_total", "requests answered by a fallback", ["reason"], registry=r
        )
        self.shed = Counter(
            "adrank_shed_total", "requests refused with 503", ["reason"], registry=r
        )
        self.dropped = Counter(
            "adrank_dropped_total", "queued work dropped before compute", ["reason"], registry=r
        )
        self.encoded_texts = Counter(
            "adrank_encoded_texts_total", "texts run through the encoder", ["source"], registry=r
        )
        self.reloads = Counter("adrank_reloads_total", "model reloads", ["result"], registry=r)
        self.outcomes = Counter(
            "adrank_outcomes_total", "ad outcomes reported to /events", ["type"], registry=r
        )
        for kind in OUTCOME_TYPES:  # every type from 0: a rate over a missing series is no data
            self.outcomes.labels(kind)
        self.conversion_value = Counter(
            "adrank_conversion_value_total", "sum of the values of reported conversions",
            registry=r)  # fmt: skip
        self.model_info = Info("adrank_model", "the model being served", registry=r)
        self.variant_jobs = Counter(
            "adrank_variant_jobs", "ad copy variants jobs by state reached (queued, running, "
            "done, failed; rejected: refused with 503)", ["state"], registry=r)  # fmt: skip
        for state in ("queued", "running", "done", "failed", "rejected"):
            self.variant_jobs.labels(state)
        self._experiment_metrics(r)

    def _experiment_metrics(self, r: CollectorRegistry) -> None:
        """Per arm of the experiment (docs/experiments.md), attribution and the shadow."""
        self.arm_info = Info("adrank_arm", "the arms being served", ["arm"], registry=r)
        self.arm_requests = Counter(
            "adrank_arm_requests", "/rank answers per arm", ["arm"], registry=r
        )
        self.arm_duration = Histogram(
            "adrank_arm_request_duration_seconds", "/rank time per arm (answered requests)",
            ["arm"], buckets=_SECONDS, registry=r)  # fmt: skip
        self.arm_degraded = Counter(
            "adrank_arm_degraded", "/rank answers with degraded: true per arm", ["arm"],
            registry=r)  # fmt: skip
        self.arm_shed = Counter(
            "adrank_arm_shed", "/rank requests refused with 503 per arm", ["arm"], registry=r
        )
        self.arm_outcomes = Counter(
            "adrank_arm_outcomes", "outcomes attributed per arm", ["arm", "type"], registry=r
        )
        self.attribution = Counter(
            "adrank_attribution", "outcomes by how their arm was found (request, user, none)",
            ["how"], registry=r)  # fmt: skip
        self.shadow = Counter(
            "adrank_shadow", "shadow scorings by result (scored, shed, failed)", ["result"],
            registry=r)  # fmt: skip
        self.shadow_correlation = Histogram(
            "adrank_shadow_rank_correlation", "Spearman correlation of live and shadow order",
            buckets=(-0.5, 0, 0.25, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1), registry=r)  # fmt: skip
        self.shadow_top1 = Counter(
            "adrank_shadow_top1", "shadow scorings by whether the top ad agreed", ["agree"],
            registry=r)  # fmt: skip

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
