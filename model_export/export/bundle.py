"""`adrank export`: a trained run → a verified model bundle directory.

Writes into ``<out>.partial`` and renames at the end, so a failed export (a parity failure
above all) never leaves something that looks like a bundle.
"""

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from model_export.evaluate.metrics import auc
from model_export.export import parity
from model_export.export.onnx_eval import encode_all, score_onnx
from model_export.export.onnx_graphs import (
    export_encoder,
    export_ranker,
    graph_inputs,
    head_outputs,
)
from model_export.export.quantize import mean_cosine, quantize_encoder
from model_export.model.encoder import TextTower
from model_export.train.arrays import Featurised
from model_export.train.run import (
    AD_OFFSETS_FILE,
    CELL_OFFSETS_FILE,
    DISTILLATION_FILE,
    Run,
    load_run,
)
from model_export.train.trainer import predict_all
from service.bundle.loader import load_bundle, sha256_file
from service.bundle.manifest import MANIFEST_FILE, Dims, Featurisation, Graphs, GraphSpec, Manifest
from service.bundle.signature import ENCODER_INPUTS, ENCODER_OUTPUTS

ENCODER, ENCODER_INT8, RANKER = "encoder.onnx", "encoder.int8.onnx", "ranker.onnx"
TOKENIZER, AD_PRIORS = "tokenizer.json", "ad_priors.npz"
AD_TEXT_RULE = "category: title. description (service.features.text.ad_text)"


@dataclass(frozen=True)
class ExportOptions:
    version: str | None = None
    int8: bool = False
    check_rows: Featurised | None = None  # held-out rows: parity on real data, int8 AUC cost


def export_bundle(
    run_dir: Path, out_dir: Path, options: ExportOptions = ExportOptions()
) -> Manifest:
    run = load_run(run_dir)
    work = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    metrics = _write_graphs(run, work, options)
    shutil.copyfile(run_dir / TOKENIZER, work / TOKENIZER)
    shutil.copyfile(run_dir / "ad_priors.npz", work / AD_PRIORS)
    manifest = _manifest(run, work, options, metrics)
    (work / MANIFEST_FILE).write_bytes(
        orjson.dumps(manifest.model_dump(mode="json"), option=orjson.OPT_INDENT_2)
    )
    load_bundle(work)  # the service's own loader must accept it
    shutil.rmtree(out_dir, ignore_errors=True)
    work.rename(out_dir)
    return manifest


def _write_graphs(run: Run, work: Path, options: ExportOptions) -> dict[str, Any]:
    tower = TextTower(run.pooled, run.model.projection).eval()
    export_encoder(tower, work / ENCODER)
    export_ranker(
        run.model.head,
        run.cfg.head.d,
        run.cfg.history_len,
        len(run.spec.context.fields),
        work / RANKER,
    )
    enc, rank = parity.session(str(work / ENCODER)), parity.session(str(work / RANKER))
    buckets = run.cfg.length_buckets
    metrics: dict[str, Any] = {
        "parity": {
            "encoder_max_abs_diff": parity.check_encoder(
                tower, enc, run.tokenizer, parity.SAMPLE_TEXTS, buckets
            ),
            "ranker_max_abs_diff": parity.check_ranker(
                run.model.head, rank, _synthetic_inputs(run, enc)
            ),
        }
    }
    if options.check_rows is not None:
        metrics["parity"]["heldout_max_abs_diff"] = _check_heldout(
            run, enc, rank, options.check_rows
        )
    if options.int8:
        quantize_encoder(work / ENCODER, work / ENCODER_INT8)
        metrics["int8"] = _int8_cost(
            run, enc, parity.session(str(work / ENCODER_INT8)), rank, options.check_rows
        )
    return metrics


def _synthetic_inputs(run: Run, enc: Any) -> dict[str, np.ndarray]:
    vectors = parity.encode_onnx(enc, run.tokenizer, parity.SAMPLE_TEXTS, run.cfg.length_buckets)
    return parity.ranker_inputs(
        vectors, run.cfg.history_len, run.spec.context.sizes(), run.spec.id_buckets
    )


def _check_heldout(run: Run, enc: Any, rank: Any, rows: Featurised) -> float:
    """pCTR (and pCVR) of held-out impressions through ONNX (encoder + ranker) against
    PyTorch."""
    vectors = encode_all(enc, run.tokenizer, rows.texts, run.cfg.length_buckets)
    pred = predict_all(run.model, run.text_source(rows), rows)
    torch_out = {"p_ctr": pred.p_ctr} | ({} if pred.p_cvr is None else {"p_cvr": pred.p_cvr})
    worst = 0.0
    for name, p_torch in torch_out.items():
        diff = float(np.abs(score_onnx(rank, vectors, rows, name) - p_torch).max())
        if diff > parity.PCTR_TOLERANCE:
            raise parity.ParityError(f"held-out {name}: ONNX differs from PyTorch by {diff:.2e}")
        worst = max(worst, diff)
    return worst


def _int8_cost(
    run: Run, enc: Any, enc8: Any, rank: Any, rows: Featurised | None
) -> dict[str, float]:
    texts = rows.texts if rows is not None else list(parity.SAMPLE_TEXTS)
    v32 = encode_all(enc, run.tokenizer, texts, run.cfg.length_buckets)
    v8 = encode_all(enc8, run.tokenizer, texts, run.cfg.length_buckets)
    cost = {"mean_cosine_to_fp32": mean_cosine(v32, v8)}
    if rows is not None:
        auc32, auc8 = (
            auc(rows.label, score_onnx(rank, v32, rows)),
            auc(rows.label, score_onnx(rank, v8, rows)),
        )
        cost |= {"auc_fp32": auc32, "auc_int8": auc8, "auc_cost": auc32 - auc8}
    return cost


def _manifest(run: Run, work: Path, options: ExportOptions, metrics: dict[str, Any]) -> Manifest:
    cfg, spec = run.cfg, run.spec
    graphs = Graphs(
        encoder=GraphSpec(file=ENCODER, inputs=list(ENCODER_INPUTS), outputs=list(ENCODER_OUTPUTS)),
        ranker=GraphSpec(
            file=RANKER,
            inputs=graph_inputs(work / RANKER),
            outputs=list(head_outputs(run.model.head)),
        ),
        encoder_int8=GraphSpec(
            file=ENCODER_INT8, inputs=list(ENCODER_INPUTS), outputs=list(ENCODER_OUTPUTS)
        )
        if options.int8
        else None,
    )
    for key, path in (("evaluation", run.dir / "eval" / "report.json"),
                      ("distillation", run.dir / DISTILLATION_FILE),
                      ("ad_offsets", run.dir / AD_OFFSETS_FILE)):  # fmt: skip
        if path.is_file():
            metrics[key] = orjson.loads(path.read_bytes())
    cells = run.dir / CELL_OFFSETS_FILE
    if cells.is_file():  # how each was fitted (its table is in ranker.onnx)
        fits = orjson.loads(cells.read_bytes())
        metrics["cell_offsets"] = [{k: v for k, v in f.items() if k != "table"} for f in fits]
    now = datetime.now(UTC)
    files = sorted(p.name for p in work.iterdir() if p.is_file())
    return Manifest(
        version=options.version or f"{run.dir.name}-{now:%Y%m%d%H%M%S}",
        created_at=now,
        dims=Dims(
            d=cfg.head.d,
            history_len=cfg.history_len,
            max_tokens=cfg.max_tokens,
            id_buckets=spec.id_buckets,
        ),
        featurisation=Featurisation(
            ad_text=AD_TEXT_RULE,
            length_buckets=list(cfg.length_buckets),
            context_fields=list(spec.context.fields),
            prior_alpha=spec.prior_alpha,
            global_ctr=spec.global_ctr,
            global_cvr=spec.global_cvr if run.cfg.head.cvr else None,
        ),
        context_vocab={f: list(v) for f, v in spec.context.vocab.items()},
        graphs=graphs,
        tokenizer_file=TOKENIZER,
        ad_priors_file=AD_PRIORS,
        data=orjson.loads((run.dir / "data.json").read_bytes()),
        metrics=metrics,
        files={name: sha256_file(work / name) for name in files},
    )
