"""The encoder path: new ads per second through ``PUT /ads`` against the raw onnxruntime
encoder (``TextEncoder``, the service's class, with the service's threads and token budget)
over the same texts, in the same run."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import orjson

from loadtests.report import EncoderPoint
from loadtests.traffic import World, new_ad
from service.bundle.loader import load_bundle
from service.features.text import ad_text
from service.runtime.encoder import TextEncoder
from service.settings import BatchSettings, ModelSettings

Batch = list[dict[str, str]]


def new_ad_batches(world: World, batches: int, size: int, seed: int) -> list[Batch]:
    """``batches`` × ``size`` ads the service has never seen (fresh ids, synthetic copy)."""
    rng = np.random.default_rng(seed)
    return [[new_ad(rng, world, f"bench-new-{seed}-{b}-{i}") for i in range(size)]
            for b in range(batches)]  # fmt: skip


def raw_encoder(bundle: Path) -> TextEncoder:
    """The encoder as the service builds it by default (threads, providers, token budget)."""
    defaults, budget = ModelSettings(), BatchSettings().encoder_max_tokens
    return TextEncoder.from_bundle(load_bundle(bundle), providers=tuple(defaults.providers),
                                   intra_op_threads=defaults.encoder_threads,
                                   max_tokens_per_batch=budget)  # fmt: skip


def measure_raw(encoder: TextEncoder, batches: list[Batch]) -> EncoderPoint:
    texts = [[ad_text(a["title"], a["description"], a["category"]) for a in b] for b in batches]
    encoder.encode(texts[0])  # warm
    started = time.perf_counter()
    for chunk in texts:
        encoder.encode(chunk)
    seconds = time.perf_counter() - started
    return EncoderPoint("onnxruntime", 1, sum(map(len, texts)), seconds, len(texts[0]))


def measure_api(url: str, batches: list[Batch], clients: int) -> EncoderPoint:
    """PUT /ads of every batch, ``clients`` at a time; any non-200 raises."""
    with httpx.Client(base_url=url, timeout=300,
                      headers={"Content-Type": "application/json"}) as client:  # fmt: skip

        def put(batch: Batch) -> None:
            client.put("/ads", content=orjson.dumps({"ads": batch})).raise_for_status()

        put(batches[0])  # warm
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(put, batches))
        seconds = time.perf_counter() - started
    return EncoderPoint("PUT /ads", clients, sum(map(len, batches)), seconds, len(batches[0]))


def encoder_path(url: str, bundle: Path, world: World, batches: int, size: int,
                 rounds: int) -> list[EncoderPoint]:  # fmt: skip
    """Alternately: raw encoder, PUT /ads with 1 client, PUT /ads with 4 clients."""
    encoder = raw_encoder(bundle)
    points: list[EncoderPoint] = []
    for r in range(rounds):
        work = new_ad_batches(world, batches, size, seed=r)
        points.append(measure_raw(encoder, work))
        points.append(measure_api(url, work, 1))
        points.append(measure_api(url, new_ad_batches(world, batches, size, seed=100 + r), 4))
    return merge(points)


def merge(points: list[EncoderPoint]) -> list[EncoderPoint]:
    """Rounds of the same path and clients added up, in first-seen order."""
    merged: dict[tuple[str, int], EncoderPoint] = {}
    for p in points:
        m = merged.get((p.path, p.clients))
        merged[(p.path, p.clients)] = p if m is None else EncoderPoint(
            p.path, p.clients, m.texts + p.texts, m.seconds + p.seconds, p.batch)  # fmt: skip
    return list(merged.values())
