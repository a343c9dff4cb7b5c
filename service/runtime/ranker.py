"""The ranking head: one onnxruntime call scores a flat batch of (user, candidate) pairs."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import onnxruntime as ort

from service.bundle.loader import Bundle
from service.bundle.signature import CVR_OUTPUT, RANKER_INPUTS, ranker_outputs
from service.runtime.providers import SessionConfig, create_session, run_graph, uses_cuda


@dataclass(frozen=True)
class RankerInputs:
    """Inputs of ``ranker.onnx`` in the flat pair layout (see service.bundle.signature)."""

    history: np.ndarray  # (U, H, d) float32
    history_mask: np.ndarray  # (U, H) float32
    context: np.ndarray  # (U, C) int64
    candidates: np.ndarray  # (N, d) float32
    user_index: np.ndarray  # (N,) int64
    ad_bucket: np.ndarray  # (N,) int64
    ad_prior: np.ndarray  # (N, 2) float32
    ad_price: np.ndarray  # (N, 2) float32
    ad_offset: np.ndarray  # (N,) float32

    @property
    def n_pairs(self) -> int:
        return int(self.candidates.shape[0])

    def feeds(self, names: Sequence[str] = RANKER_INPUTS) -> dict[str, np.ndarray]:
        """The arrays of the inputs a graph takes (older graphs lack ``ad_price`` and
        ``ad_offset``)."""
        return {name: getattr(self, name) for name in names}


class RankerOutput(NamedTuple):
    p_ctr: np.ndarray  # (N,) float32
    attention: np.ndarray  # (N, H) float32
    p_cvr: np.ndarray | None  # (N,) float32 where the graph has a conversion tower


class Ranker:
    """Synchronous wrapper of the ranker session."""

    def __init__(
        self, session: ort.InferenceSession, d: int, history_len: int, n_ctx: int,
        has_cvr: bool = False,
    ):  # fmt: skip
        self.session = session
        self.inputs = tuple(i.name for i in session.get_inputs())
        self.d = d
        self.history_len = history_len
        self.n_ctx = n_ctx
        self.has_cvr = has_cvr
        self.outputs = ranker_outputs(has_cvr)

    @classmethod
    def from_bundle(
        cls, bundle: Bundle, providers: Sequence[str] = ("auto",), intra_op_threads: int = 1
    ) -> "Ranker":
        manifest = bundle.manifest
        config = SessionConfig(tuple(providers), intra_op_threads)
        session = create_session(bundle.file(manifest.graphs.ranker.file), config)
        n_ctx = len(manifest.featurisation.context_fields)
        has_cvr = CVR_OUTPUT in manifest.graphs.ranker.outputs
        return cls(session, manifest.dims.d, manifest.dims.history_len, n_ctx, has_cvr)

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    @property
    def on_gpu(self) -> bool:
        return uses_cuda(self.session)

    def run(self, inputs: RankerInputs) -> RankerOutput:
        """pCTR, attention and (with a conversion tower) pCVR, as float32."""
        feeds = inputs.feeds(self.inputs)
        out = [np.asarray(a, np.float32) for a in run_graph(self.session, feeds, self.outputs)]
        return RankerOutput(out[0], out[1], out[2] if len(out) > 2 else None)

    def dummy_inputs(self, users: int, pairs: int) -> RankerInputs:
        """Zero inputs of a given shape (warm-up and tests)."""
        h, d = self.history_len, self.d
        return RankerInputs(
            history=np.zeros((users, h, d), np.float32),
            history_mask=np.zeros((users, h), np.float32),
            context=np.zeros((users, self.n_ctx), np.int64),
            candidates=np.zeros((pairs, d), np.float32),
            user_index=np.arange(pairs, dtype=np.int64) % users,
            ad_bucket=np.zeros(pairs, np.int64),
            ad_prior=np.zeros((pairs, 2), np.float32),
            ad_price=np.zeros((pairs, 2), np.float32),
            ad_offset=np.zeros(pairs, np.float32),
        )

    def warmup(self, shapes: Sequence[tuple[int, int]] = ((1, 1), (1, 100), (8, 800))) -> None:
        for users, pairs in shapes:
            self.run(self.dummy_inputs(users, max(pairs, users)))
