"""Choose onnxruntime execution providers and build sessions with deliberate threading.

CUDA is used only when onnxruntime lists it *and* a session really runs on it (an
``onnxruntime-gpu`` wheel lists CUDA even on a machine without the CUDA libraries, then
silently falls back to CPU); otherwise CPU. The choice is logged and reported by ``/readyz``.
"""

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


@dataclass(frozen=True)
class SessionConfig:
    """How sessions are built: providers wanted (``auto`` = CUDA if it works, else CPU)."""

    providers: tuple[str, ...] = ("auto",)
    intra_op_threads: int = 1
    inter_op_threads: int = 1


def session_options(intra_op_threads: int, inter_op_threads: int = 1) -> ort.SessionOptions:
    """Sequential execution, fixed thread counts, spinning off (it starves the event loop)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra_op_threads
    opts.inter_op_num_threads = inter_op_threads
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


def wanted_providers(requested: Sequence[str], available: Sequence[str]) -> list[str]:
    """The providers to try, in order; ``auto`` means CUDA when listed, then CPU. CPU is
    always last as the fallback. Unknown names are dropped with a warning."""
    names: list[str] = []
    for name in requested:
        if name == "auto":
            names += [CUDA] if CUDA in available else []
        elif name in available:
            names.append(name)
        else:
            log.warning("execution provider %s is not available here; skipping it", name)
    names = [n for n in names if n != CPU]
    return [*dict.fromkeys(names), CPU]


def create_session(model: Path, config: SessionConfig) -> ort.InferenceSession:
    """An inference session on the best working provider, saying which one it got."""
    available = ort.get_available_providers()
    wanted = wanted_providers(config.providers, available)
    opts = session_options(config.intra_op_threads, config.inter_op_threads)
    try:
        with warnings.catch_warnings():  # a provider that is not there: we log it below
            warnings.simplefilter("ignore", UserWarning)
            session = ort.InferenceSession(str(model), sess_options=opts, providers=wanted)
    except Exception as exc:  # a CUDA provider that cannot initialise raises here
        if wanted == [CPU]:
            raise
        log.warning("providers %s failed for %s (%s); falling back to CPU", wanted, model, exc)
        session = ort.InferenceSession(str(model), sess_options=opts, providers=[CPU])
    got = session.get_providers()
    if wanted[0] != CPU and wanted[0] not in got:
        log.warning("asked for %s, onnxruntime runs %s on %s", wanted[0], model.name, got[0])
    log.info("onnx session ready", extra={"model": model.name, "providers": got})
    return session


def uses_cuda(session: ort.InferenceSession) -> bool:
    return session.get_providers()[0] == CUDA


def run_graph(
    session: ort.InferenceSession, feeds: Mapping[str, np.ndarray], outputs: Sequence[str]
) -> list[np.ndarray]:
    """One call of a graph; on CUDA through IO binding (inputs copied once, outputs fetched
    once), on CPU through a plain ``run``."""
    if not uses_cuda(session):
        return session.run(list(outputs), dict(feeds))
    binding = session.io_binding()
    for name, value in feeds.items():
        binding.bind_cpu_input(name, value)
    for name in outputs:
        binding.bind_output(name)
    session.run_with_iobinding(binding)
    return binding.copy_outputs_to_cpu()


def taken_feeds(sess: ort.InferenceSession, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The feeds a session's graph takes: exporters leave out inputs a model does not read
    (``ad_price`` of a ranker without a conversion tower), and older graphs lack newer ones."""
    taken = {i.name for i in sess.get_inputs()}
    return {name: value for name, value in feeds.items() if name in taken}
