"""Write the two ONNX graphs of a trained model (names and shapes: service/bundle/signature.py)."""

import warnings
from pathlib import Path

import onnx
import torch
from torch import Tensor, nn

from model_export.model.encoder import TextTower
from model_export.model.ranker import RankingHead
from service.bundle.signature import (
    CVR_OUTPUT,
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
    RANKER_INPUTS,
    ranker_outputs,
)

OPSET = 17


class RankerGraph(nn.Module):
    """The head as served: probabilities instead of logits, each ad's click offset
    (``train/ad_offsets.py``, the last input) added to its click logit; pCVR after the
    attention where the head has a conversion tower (the same shared layers, the same call)."""

    def __init__(self, head: RankingHead):
        super().__init__()
        self.head = head

    def forward(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        *features, ad_offset = inputs
        out = self.head(*features)
        cvr = () if out.cvr_logit is None else (torch.sigmoid(out.cvr_logit),)
        return torch.sigmoid(out.logit + ad_offset), out.weights, *cvr


def head_outputs(head: RankingHead) -> tuple[str, ...]:
    """The output names of a head's graph."""
    return ranker_outputs(head.cvr_tower is not None)


def ranker_example(
    d: int, history_len: int, n_context: int, users: int = 2, n: int = 5
) -> tuple[Tensor, ...]:
    """Inputs of the ranker's signature with the given sizes (values arbitrary)."""
    return (
        torch.randn(users, history_len, d),
        torch.ones(users, history_len),
        torch.zeros(users, n_context, dtype=torch.int64),
        torch.randn(n, d),
        torch.arange(n, dtype=torch.int64) % users,
        torch.zeros(n, dtype=torch.int64),
        torch.zeros(n, 2),
        torch.zeros(n, 2),
        torch.zeros(n),
    )


def graph_inputs(path: Path) -> list[str]:
    """The input names of a written graph: the exporter leaves out inputs the model does not
    read (``ad_price`` of a head without a conversion tower)."""
    return [i.name for i in onnx.load(str(path), load_external_data=False).graph.input]


def _export(
    module: nn.Module,
    args: tuple[Tensor, ...],
    path: Path,
    names: tuple[tuple[str, ...], tuple[str, ...]],
    axes: dict[str, dict[int, str]],
) -> None:
    module.eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=list(names[0]),
            output_names=list(names[1]),
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def export_encoder(tower: TextTower, path: Path) -> None:
    ids = torch.ones(2, 8, dtype=torch.int64)
    axes = {
        "input_ids": {0: "batch", 1: "tokens"},
        "attention_mask": {0: "batch", 1: "tokens"},
        "vector": {0: "batch"},
    }
    _export(tower, (ids, torch.ones_like(ids)), path, (ENCODER_INPUTS, ENCODER_OUTPUTS), axes)


def export_ranker(head: RankingHead, d: int, history_len: int, n_context: int, path: Path) -> None:
    axes = {
        "history": {0: "users"},
        "history_mask": {0: "users"},
        "context": {0: "users"},
        "candidates": {0: "pairs"},
        "user_index": {0: "pairs"},
        "ad_bucket": {0: "pairs"},
        "ad_prior": {0: "pairs"},
        "ad_price": {0: "pairs"},
        "ad_offset": {0: "pairs"},
        "p_ctr": {0: "pairs"},
        "attention": {0: "pairs"},
        CVR_OUTPUT: {0: "pairs"},
    }
    args = ranker_example(d, history_len, n_context)
    _export(RankerGraph(head), args, path, (RANKER_INPUTS, head_outputs(head)), axes)
