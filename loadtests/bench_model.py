"""The model's own speed in onnxruntime, side by side in one run: encoder texts/s (fp32 and
int8, by padded length) and the ranking head's cost per 100 candidates.

    .venv/bin/python -m loadtests.bench_model --bundle models/default [OTHER ...] [--threads 1]

With several bundles the ranking heads are timed in turns, shape by shape (e.g. a head with a
conversion tower against one without); the encoder rows are the first bundle's.

Prints a Markdown table. Each figure is the median of repeated calls after a warm-up.
"""

import argparse
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from service.bundle.loader import Bundle, load_bundle
from service.features.price import price_features
from service.runtime.providers import SessionConfig, create_session
from service.runtime.ranker import RankerInputs

REPEATS = 30


def median_ms(call: Callable[[], object], repeats: int = REPEATS) -> float:
    for _ in range(3):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def encoder_rows(bundle: Bundle, threads: int) -> list[str]:
    graphs = {"fp32": bundle.manifest.graphs.encoder, "int8": bundle.manifest.graphs.encoder_int8}
    rows = []
    for name, graph in graphs.items():
        if graph is None:
            continue
        sess = create_session(
            bundle.file(graph.file), SessionConfig(("CPUExecutionProvider",), threads)
        )
        for tokens in bundle.manifest.featurisation.length_buckets:
            for batch in (1, 32):
                ids = np.full((batch, tokens), 1000, dtype=np.int64)
                feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
                ms = median_ms(partial(sess.run, None, feed))
                rate = batch / ms * 1000
                rows.append(
                    f"| encoder {name} | {tokens} tokens × {batch} | {ms:.2f} ms "
                    f"| {rate:,.0f} texts/s |"
                )
    return rows


def ranker_feed(bundle: Bundle, users: int, per_user: int) -> RankerInputs:
    """The service's own ranker inputs (a new graph input is a required field there), with
    random vectors."""
    m = bundle.manifest
    rng = np.random.default_rng(0)
    n = users * per_user
    return RankerInputs(
        history=rng.normal(size=(users, m.dims.history_len, m.dims.d)).astype(np.float32),
        history_mask=np.ones((users, m.dims.history_len), dtype=np.float32),
        context=np.zeros((users, len(m.featurisation.context_fields)), dtype=np.int64),
        candidates=rng.normal(size=(n, m.dims.d)).astype(np.float32),
        user_index=np.repeat(np.arange(users), per_user).astype(np.int64),
        ad_bucket=rng.integers(0, m.dims.id_buckets, n).astype(np.int64),
        ad_prior=np.zeros((n, 2), dtype=np.float32),
        ad_price=price_features(rng.lognormal(4.5, 1.2, n)),
        ad_offset=rng.normal(0, 0.3, n).astype(np.float32),
    )


def ranker_rows(bundles: list[Bundle], threads: int) -> list[str]:
    config = SessionConfig(("CPUExecutionProvider",), threads)
    sessions = [create_session(b.file(b.manifest.graphs.ranker.file), config) for b in bundles]
    rows = []
    for users in (1, 2, 4, 16):
        for bundle, sess in zip(bundles, sessions, strict=True):
            taken = [i.name for i in sess.get_inputs()]  # older graphs take fewer
            feed = ranker_feed(bundle, users, 100).feeds(taken)
            ms = median_ms(partial(sess.run, None, feed), REPEATS * 3)
            outputs = ", ".join(
                o for o in bundle.manifest.graphs.ranker.outputs if o != "attention"
            )
            rows.append(
                f"| ranker ({outputs}) | {users} user(s) × 100 candidates × "
                f"H={bundle.manifest.dims.history_len} | {ms:.2f} ms | "
                f"{ms / users:.3f} ms per 100 candidates |"
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True, nargs="+")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    args = parser.parse_args()
    bundles = [load_bundle(path) for path in args.bundle]
    versions = ", ".join(b.version for b in bundles)
    print(f"bundles {versions}, {args.threads} intra-op thread(s)\n")
    print("| graph | input | median latency | throughput |\n|---|---|---:|---:|")
    print("\n".join(ranker_rows(bundles, args.threads) + encoder_rows(bundles[0], args.threads)))


if __name__ == "__main__":
    main()
