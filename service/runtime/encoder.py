"""The text encoder: texts → float32 vectors of size d, synchronous and usable anywhere.

Used by the service (from one dedicated thread) and by the offline bulk loader::

    encoder = TextEncoder.from_bundle(load_bundle(path), providers=("auto",))
    vectors = encoder.encode(["Sport: running shoes. Light and fast", ...])  # (n, d) float32

Texts are tokenised, sorted by length, cut into batches whose padded size stays within a
token budget, padded to the bundle's length buckets, run, and put back in input order.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from service.bundle.loader import Bundle
from service.bundle.signature import ENCODER_INPUTS, ENCODER_OUTPUTS
from service.features.tokens import (
    TextTokenizer,
    bucket_length,
    length_sorted_batches,
    pad_batch,
)
from service.runtime.providers import SessionConfig, create_session, run_graph

DEFAULT_MAX_TOKENS_PER_BATCH = 4096


@dataclass(frozen=True)
class EncodeStats:
    """What one ``encode`` call ran: onnx calls, real tokens and padded tokens."""

    batches: int = 0
    tokens: int = 0
    padded_tokens: int = 0

    @property
    def padding_ratio(self) -> float:
        return 1 - self.tokens / self.padded_tokens if self.padded_tokens else 0.0


class TextEncoder:
    """Synchronous text encoder over ``encoder.onnx``; not thread-safe per call order, but an
    onnxruntime session may be shared, so one instance per thread is not required."""

    def __init__(
        self,
        session: ort.InferenceSession,
        tokenizer: TextTokenizer,
        length_buckets: Sequence[int],
        d: int,
        max_tokens_per_batch: int = DEFAULT_MAX_TOKENS_PER_BATCH,
    ) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.length_buckets = sorted(length_buckets)
        self.d = d
        self.max_tokens_per_batch = max(max_tokens_per_batch, self.length_buckets[-1])

    @classmethod
    def from_bundle(
        cls,
        bundle: Bundle,
        providers: Sequence[str] = ("auto",),
        intra_op_threads: int = 1,
        max_tokens_per_batch: int = DEFAULT_MAX_TOKENS_PER_BATCH,
        int8: bool = False,
    ) -> "TextEncoder":
        """Build from a loaded bundle; ``int8`` picks the quantised graph when the bundle has
        one. ``providers``: ``("auto",)`` = CUDA when it really works, else CPU."""
        manifest = bundle.manifest
        graph = manifest.graphs.encoder_int8 if int8 else None
        graph = graph or manifest.graphs.encoder
        config = SessionConfig(tuple(providers), intra_op_threads)
        session = create_session(bundle.file(graph.file), config)
        tokenizer = TextTokenizer(bundle.file(manifest.tokenizer_file), manifest.dims.max_tokens)
        buckets = manifest.featurisation.length_buckets or [manifest.dims.max_tokens]
        return cls(session, tokenizer, buckets, manifest.dims.d, max_tokens_per_batch)

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts`` in input order, float32 of shape (len(texts), d)."""
        return self.encode_with_stats(texts)[0]

    def encode_with_stats(self, texts: Sequence[str]) -> tuple[np.ndarray, EncodeStats]:
        if not texts:
            return np.zeros((0, self.d), dtype=np.float32), EncodeStats()
        return self.encode_ids(self.tokenizer.encode(texts))

    def encode_ids(self, ids: Sequence[np.ndarray]) -> tuple[np.ndarray, EncodeStats]:
        """Vectors of already tokenised texts (token id arrays), in input order."""
        out = np.empty((len(ids), self.d), dtype=np.float32)
        batches = length_sorted_batches(ids, self.max_tokens_per_batch, self.length_buckets)
        tokens = padded = 0
        for index in batches:
            rows = [ids[i] for i in index]
            width = bucket_length(max(len(r) for r in rows), self.length_buckets)
            input_ids, mask = pad_batch(rows, width)
            out[index] = self._run(input_ids, mask)
            tokens += int(mask.sum())
            padded += mask.size
        return out, EncodeStats(len(batches), tokens, padded)

    def _run(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feeds = dict(zip(ENCODER_INPUTS, (input_ids, mask), strict=True))
        (vector,) = run_graph(self.session, feeds, ENCODER_OUTPUTS)
        return np.asarray(vector, dtype=np.float32)

    def warmup(self, batch_sizes: Sequence[int] = (1, 8)) -> None:
        """Run every length bucket at a few batch sizes, so first requests pay no set-up."""
        for width in self.length_buckets:
            for n in batch_sizes:
                if n * width <= self.max_tokens_per_batch or n == 1:
                    ids = np.full((n, width), 101, dtype=np.int64)
                    self._run(ids, np.ones_like(ids))
