"""A loaded model: bundle, warmed sessions, and the two batchers that feed them.

Loading (reading, verifying, building sessions, warming every shape) is synchronous and runs
in a worker thread; ``start`` then creates the batchers on the event loop. Each model owns its
batchers and threads, so a reload runs the new model beside the old one and swaps.
"""

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat
from pathlib import Path

import numpy as np

from service.bundle.loader import Bundle, load_bundle
from service.features.prior import ad_bucket, prior_features, unknown_prior
from service.metrics import Metrics
from service.runtime.batcher import BatchPolicy, MicroBatcher
from service.runtime.encoder import TextEncoder
from service.runtime.job_queue import split_rows
from service.runtime.pairs import plan_calls, score_calls
from service.runtime.ranker import Ranker
from service.settings import Settings
from service.store.ad_cache import AdCache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PriorTable:
    """Id bucket, prior features and click logit offset of every ad the model knows, by ad
    id: the ads with training statistics, then those with an offset alone (which the ranker
    sees as unknown ads but for the offset)."""

    index: dict[str, int]
    buckets: np.ndarray  # (m + 1,) int64, last row = unknown ad
    rows: np.ndarray  # (m + 1, 2) float32, last row = unknown ad
    offsets: np.ndarray  # (m + 1,) float32, 0 for ads without one and the unknown ad

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> "PriorTable":
        feat, n_buckets = bundle.manifest.featurisation, bundle.manifest.dims.id_buckets
        known = list(bundle.priors.clicks)
        ids = known + [a for a in bundle.priors.offsets if a not in bundle.priors.clicks]
        stats = np.array([bundle.priors.clicks[a] for a in known], dtype=np.float64).reshape(-1, 2)
        rows = prior_features(stats[:, 0], stats[:, 1], feat.global_ctr, feat.prior_alpha)
        unknown = unknown_prior(feat.global_ctr, feat.prior_alpha)
        buckets = [ad_bucket(a, n_buckets) for a in known]
        offsets = [bundle.priors.offsets.get(a, 0.0) for a in ids]
        as_unknown = len(ids) - len(known) + 1  # the offset-only ads, then the unknown ad
        return cls(
            index={a: i for i, a in enumerate(ids)},
            buckets=np.array([*buckets, *[0] * as_unknown], dtype=np.int64),
            rows=np.vstack([rows, np.tile(unknown, (as_unknown, 1))]).astype(np.float32),
            offsets=np.array([*offsets, 0.0], dtype=np.float32),
        )

    def rows_of(self, ad_ids: Sequence[str]) -> np.ndarray:
        """Each ad's row (the last one, of the unknown ad, for ads not seen in training)."""
        unknown = len(self.buckets) - 1
        n = len(ad_ids)
        return np.fromiter(map(self.index.get, ad_ids, repeat(unknown, n)), np.int64, n)

    def features(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(ad_bucket (n,), ad_prior (n, 2), ad_offset (n,))`` of the given rows."""
        return self.buckets[rows], self.rows[rows], self.offsets[rows]


@dataclass
class LoadedModel:
    bundle: Bundle
    encoder: TextEncoder
    ranker: Ranker
    priors: PriorTable
    ad_cache: AdCache
    load_s: float
    users: int = 0  # requests using this model right now
    rank_batcher: MicroBatcher | None = field(default=None, repr=False)
    encode_batcher: MicroBatcher | None = field(default=None, repr=False)
    metrics: Metrics | None = field(default=None, repr=False)

    @property
    def version(self) -> str:
        return self.bundle.version

    @property
    def has_cvr(self) -> bool:
        """The ranker predicts conversions too (the bundle says so by its outputs)."""
        return self.ranker.has_cvr

    @property
    def providers(self) -> dict[str, list[str]]:
        return {"encoder": self.encoder.providers, "ranker": self.ranker.providers}

    @property
    def alive(self) -> bool:
        return all(b is not None and b.alive for b in (self.rank_batcher, self.encode_batcher))

    def start(self, settings: Settings, metrics: Metrics) -> None:
        """Create and start the batchers (on the running event loop)."""
        self.metrics = metrics
        b = settings.batch
        rank_policy = BatchPolicy(
            b.max_pairs,
            b.max_requests,
            b.queue_max_pairs,
            b.max_wait_ms / 1e3,
            settings.model.ranker_concurrency or 1,
            settings.model.ranker_nice,
        )
        enc_policy = BatchPolicy(256, 64, b.encoder_queue_max_texts, 0.0)
        # on a GPU a whole batch is one call; on CPU calls are cut by ``call_max_pairs``
        call_pairs = b.max_pairs if self.ranker.on_gpu else b.call_max_pairs
        score = partial(score_calls, self.ranker, metrics=metrics)
        plan = partial(plan_calls, max_pairs=call_pairs)
        self.rank_batcher = MicroBatcher("ranker", score, rank_policy, metrics, plan)
        self.encode_batcher = MicroBatcher("encoder", self._encode_fn(metrics), enc_policy, metrics)
        self.rank_batcher.start()
        self.encode_batcher.start()

    async def encode(self, texts: list[str], deadline: float, source: str) -> np.ndarray:
        """Vectors of ``texts`` through the encoder batcher (raises Unavailable), rounded
        through fp16 as Redis stores them, so a vector scores the same whether it was just
        encoded, cached in process, or read back from Redis."""
        if not texts:
            return np.zeros((0, self.bundle.manifest.dims.d), dtype=np.float32)
        assert self.encode_batcher is not None and self.metrics is not None
        vectors = await self.encode_batcher.submit(texts, len(texts), deadline)
        self.metrics.encoded_texts.labels(source).inc(len(texts))
        return vectors.astype(np.float16).astype(np.float32)

    def _encode_fn(self, metrics: Metrics) -> Callable[[list[list[str]]], list[np.ndarray]]:
        def run(text_lists: list[list[str]]) -> list[np.ndarray]:
            started = time.perf_counter()
            flat = [t for texts in text_lists for t in texts]
            vectors, stats = self.encoder.encode_with_stats(flat)
            metrics.inference.labels("encoder").observe(time.perf_counter() - started)
            metrics.batch_tokens.observe(stats.padded_tokens)
            metrics.padding_ratio.observe(stats.padding_ratio)
            return split_rows(vectors, [len(t) for t in text_lists])

        return run

    async def close(self, drain_s: float = 30.0) -> None:
        for batcher in (self.rank_batcher, self.encode_batcher):
            if batcher is not None:
                await batcher.close(drain_s)


def load_model(path: Path, settings: Settings) -> LoadedModel:
    """Read and verify the bundle, build sessions, warm every shape (blocking: run in a
    thread). Raises BundleError or an onnxruntime error when the bundle cannot serve."""
    started = time.perf_counter()
    bundle = load_bundle(path)
    m = settings.model
    encoder = TextEncoder.from_bundle(
        bundle, m.providers, m.encoder_threads, settings.batch.encoder_max_tokens, m.encoder_int8
    )
    ranker = Ranker.from_bundle(bundle, m.providers, m.ranker_threads)
    encoder.warmup()
    cands = min(settings.limits.max_candidates, settings.batch.max_pairs)
    ranker.warmup(((1, 1), (1, cands), (4, 4 * cands)))
    _check_dims(bundle, encoder, ranker)
    priors = PriorTable.from_bundle(bundle)
    cache = AdCache(m.ad_cache_size, bundle.manifest.dims.d, m.ad_cache_ttl_s, priors.rows_of)
    loaded = LoadedModel(bundle, encoder, ranker, priors, cache, 0.0)
    loaded.load_s = time.perf_counter() - started
    log.info("model loaded", extra={"version": bundle.version, "providers": loaded.providers})
    return loaded


def _check_dims(bundle: Bundle, encoder: TextEncoder, ranker: Ranker) -> None:
    """The graphs must produce and accept what the manifest says (d, H)."""
    vec = encoder.encode(["warm up"])
    if vec.shape != (1, bundle.manifest.dims.d):
        raise ValueError(f"encoder returns {vec.shape}, manifest says d={bundle.manifest.dims.d}")
    p, att, p_cvr = ranker.run(ranker.dummy_inputs(1, 2))
    if p.shape != (2,) or att.shape != (2, bundle.manifest.dims.history_len):
        raise ValueError(f"ranker returns p_ctr {p.shape} and attention {att.shape}")
    if p_cvr is not None and p_cvr.shape != (2,):
        raise ValueError(f"ranker returns p_cvr {p_cvr.shape}")
