"""A small real bundle for tests, and the PyTorch reference the service must agree with.

``build_tiny_bundle`` runs the real pipeline — synthetic logs, training (a tiny random BERT
with MiniLM's tokenizer), ONNX export with its parity checks, manifest and checksums — at a
size that takes seconds. The run directory stays beside the bundle (``<out>/../<name>-run``)
so ``reference_pctr`` can score the same inputs in PyTorch.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model_export.data.clicklog import split_by_time
from model_export.data.synth import SynthConfig, synthesize
from model_export.export.bundle import ExportOptions, export_bundle
from model_export.model.encoder import TextTower
from model_export.model.ranker import HeadConfig
from model_export.train.arrays import FeatureSpec
from model_export.train.config import TrainConfig
from model_export.train.run import Run, load_run, train_run
from service.features.price import price_features
from service.features.prior import ad_bucket, prior_features, unknown_prior
from service.features.tokens import bucket_length, pad_batch

TINY_SYNTH: dict[str, Any] = {
    "n_users": 400,
    "n_ads": 80,
    "n_impressions": 8_000,
    "progress": False,
}


def run_dir_of(bundle_dir: Path) -> Path:
    return bundle_dir.parent / f"{bundle_dir.name}-run"


def build_tiny_bundle(
    out_dir: Path, seed: int = 0, version: str | None = None, cvr: bool = True
) -> Path:
    """Train and export a tiny model into ``out_dir`` (a bundle directory); returns it.
    ``cvr``: with a conversion tower (pCVR beside pCTR), else clicks only."""
    log = synthesize(SynthConfig(seed=seed + 7, **TINY_SYNTH))
    split = split_by_time(log.impressions, 0.1, 0.1)
    cfg = TrainConfig(
        encoder="tiny", epochs=1, seed=seed, batch_size=512, max_tokens=32, length_buckets=(16, 32),
        head=HeadConfig(cvr=cvr), ad_offset_alpha=5.0,  # offsets whatever validation says
    )  # fmt: skip
    run_dir = run_dir_of(out_dir)
    train_run(log, split, cfg, run_dir, cache_dir=out_dir.parent / "cache")
    export_bundle(run_dir, out_dir, ExportOptions(version=version or f"tiny-{seed}", int8=True))
    return out_dir


@dataclass(frozen=True)
class Candidate:
    ad_id: str
    text: str  # service.features.text.ad_text of the ad
    price: float | None = None


def reference_scores(
    bundle_dir: Path,
    history_texts: Sequence[str],
    candidates: Sequence[Candidate],
    context: Mapping[str, object],
    ts: float,
    fp16: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """pCTR (with each ad's click offset) and pCVR (None without a conversion tower) of
    ``candidates`` for one user in PyTorch, featurised as the service does.

    ``history_texts`` newest first (at most H are used); ``fp16`` rounds text vectors the way
    Redis stores them.
    """
    run = load_run(run_dir_of(bundle_dir))
    vectors = _vectors(run, [*history_texts, *(c.text for c in candidates)], fp16)
    h, d = run.cfg.history_len, run.cfg.head.d
    n_hist = min(len(history_texts), h)
    history = torch.zeros(1, h, d)
    history[0, :n_hist] = vectors[:n_hist]
    mask = torch.zeros(1, h)
    mask[0, :n_hist] = 1
    ctx = torch.from_numpy(run.spec.context.encode(context, ts=ts)).unsqueeze(0)
    bucket, prior = _ad_prior(run.spec, [c.ad_id for c in candidates])
    with torch.no_grad():
        out = run.model.head(
            history,
            mask,
            ctx,
            vectors[len(history_texts) :],
            torch.zeros(len(candidates), dtype=torch.int64),
            bucket,
            prior,
            torch.from_numpy(price_features(np.array([c.price or np.nan for c in candidates]))),
        )
    p_cvr = None if out.cvr_logit is None else torch.sigmoid(out.cvr_logit).numpy()
    offsets = run.spec.ad_offsets.reindex([c.ad_id for c in candidates]).fillna(0.0)
    return torch.sigmoid(out.logit + torch.from_numpy(offsets.to_numpy(np.float32))).numpy(), p_cvr


def _vectors(run: Run, texts: Sequence[str], fp16: bool) -> torch.Tensor:
    tower = TextTower(run.pooled, run.model.projection).eval()
    ids = run.tokenizer.encode(texts)
    out = []
    with torch.no_grad():
        for seq in ids:  # one by one: the same padding-free result as any bucket
            width = bucket_length(len(seq), run.cfg.length_buckets)
            input_ids, mask = pad_batch([seq], width)
            out.append(tower(torch.from_numpy(input_ids), torch.from_numpy(mask))[0])
    vectors = torch.stack(out)
    return vectors.half().float() if fp16 else vectors


def _ad_prior(spec: FeatureSpec, ad_ids: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    buckets, priors = [], []
    for ad_id in ad_ids:
        if ad_id in spec.ad_stats.index:
            row = spec.ad_stats.loc[ad_id]
            buckets.append(ad_bucket(ad_id, spec.id_buckets))
            priors.append(
                prior_features(
                    np.array([row.clicks]),
                    np.array([row.impressions]),
                    spec.global_ctr,
                    spec.prior_alpha,
                )[0]
            )
        else:
            buckets.append(0)
            priors.append(unknown_prior(spec.global_ctr, spec.prior_alpha))
    return torch.tensor(buckets, dtype=torch.int64), torch.from_numpy(np.stack(priors))
