"""A teacher run directory: what `adrank teacher` writes and `adrank train --teacher` reads.

teacher_config.json  TeacherConfig
spec.json            featurisation fitted on the training rows (as a student run's)
tokenizer.json       the tokenizer the texts were cut with
checkpoint.pt        latest epoch (resume); best.pt: best validation AUC
history.json         per-epoch training curve
soft_labels.npz      the teacher's logits of training impressions and unshown pairs
teacher.json         what it trained on, how long it took, its validation and test metrics
"""

import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import torch
from scipy.special import expit, logit
from tqdm import tqdm

from model_export.data.clicklog import ClickLog
from model_export.evaluate.metrics import evaluate_predictions
from model_export.teacher.base import StudentLogits
from model_export.teacher.config import TeacherConfig
from model_export.teacher.fit import TeacherTrainer, teacher_logits
from model_export.teacher.labels import SOFT_LABELS, SoftLabels, log_fingerprint, unshown_partners
from model_export.teacher.lower import TokenStates, token_states
from model_export.teacher.model import CrossTeacher
from model_export.train.arrays import FeatureSpec, Featurised, featurise, with_ads
from model_export.train.config import TrainConfig
from model_export.train.run import base_bert, save_spec
from service.features.tokens import TextTokenizer

CONFIG_FILE = "teacher_config.json"
SUMMARY_FILE = "teacher.json"
BUCKETS = (16, 32, 64)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def train_teacher(
    log: ClickLog, split: np.ndarray, cfg: TeacherConfig, run_dir: Path
) -> dict[str, Any]:
    """Train a teacher on ``log`` into ``run_dir`` (resuming), label, evaluate; its summary."""
    run_dir.mkdir(parents=True, exist_ok=True)
    _check_same_config(cfg, run_dir)
    feats, spec = featurise(log, split, cfg.items, TrainConfig.prior_alpha)
    save_spec(spec, run_dir)
    student = None if cfg.base is None else StudentLogits(Path(cfg.base), log, split)
    base = np.zeros(len(feats.row), np.float32) if student is None else student.logged(feats.row)
    model, table = _build(cfg, spec, feats, run_dir)
    rng = np.random.default_rng([cfg.seed, 7])
    train, valid = (sample_rows(feats.rows(s), n, rng) for s, n in
                    (("train", cfg.max_rows), ("valid", cfg.valid_rows)))  # fmt: skip
    started = time.perf_counter()
    state = TeacherTrainer(cfg, model, table, (feats, base), (train, valid), run_dir).fit()
    seconds = time.perf_counter() - started
    (run_dir / "history.json").write_bytes(dumps(state.history))
    labelled = sample_rows(feats.rows("train"), cfg.label_rows, rng)
    started = time.perf_counter()
    labels = label(model, table, (feats, base), labelled, student, rng,
                   log_fingerprint(log, split))  # fmt: skip
    label_seconds = time.perf_counter() - started
    labels.save(run_dir / SOFT_LABELS)
    summary = {
        "config": orjson.loads(cfg.to_json()),
        "train_rows": len(train), "valid_rows": len(valid), "labelled_rows": len(labels.row),
        "fit_seconds_this_process": round(seconds, 1),
        "label_seconds": round(label_seconds, 1),  # both rows of each pair (with the base's)
        "label_ms_per_100_rows": round(label_seconds / max(2 * len(labelled), 1) * 1e5, 1),
        "device": str(pick_device(cfg.device)),
        "best_epoch": state.best_epoch, "best_valid_auc": state.best_auc,
        "test": metrics_on_test(feats, teacher_logits(model, table, feats, base, feats.rows("test"),
                                                "testing")),
    }  # fmt: skip
    if student is not None:
        summary["base_test"] = metrics_on_test(feats, base[feats.rows("test")])
    (run_dir / SUMMARY_FILE).write_bytes(dumps(summary))
    return summary


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)


def label(
    model: CrossTeacher,
    table: TokenStates,
    data: tuple[Featurised, np.ndarray],
    rows: np.ndarray,
    student: StudentLogits | None,
    rng: np.random.Generator,
    fingerprint: str,
) -> SoftLabels:
    """Soft labels of ``rows`` of the featurised log (``data``: it, and the logits its rows
    start from; ``fingerprint``: its log's) and of one unshown pair per row (starting from
    ``student``'s, if any)."""
    feats, base = data
    partners = unshown_partners(feats.ad_text, feats.rows("train"), rows, rng)
    unshown = with_ads(feats, rows, partners)
    pair_base = (np.zeros(len(rows), np.float32) if student is None
                 else student.unshown(feats.row[rows], feats.row[partners]))  # fmt: skip
    every = np.arange(len(rows))
    return SoftLabels(
        row=feats.row[rows],
        logit=teacher_logits(model, table, feats, base, rows, "soft labels: logged"),
        pair_ad_row=feats.row[partners],
        pair_logit=teacher_logits(model, table, unshown, pair_base, every, "soft labels: unshown"),
        log=fingerprint,
    )


def _build(cfg: TeacherConfig, spec: FeatureSpec, feats: Featurised,
           run_dir: Path) -> tuple[CrossTeacher, TokenStates]:  # fmt: skip
    pooled, tokenizer_file = base_bert(cfg.encoder, cfg.seed)
    shutil.copyfile(tokenizer_file, run_dir / "tokenizer.json")
    bert = pooled.bert
    frozen = int(bert.config.num_hidden_layers) - cfg.trainable_layers
    if not 0 <= frozen < int(bert.config.num_hidden_layers):
        raise ValueError(f"trainable_layers must be 1..{bert.config.num_hidden_layers}")
    tokenizer = TextTokenizer(tokenizer_file, max(cfg.ad_tokens, cfg.item_tokens))
    widths = np.full(len(feats.texts), cfg.item_tokens)
    widths[np.unique(feats.ad_text)] = cfg.ad_tokens
    table = token_states(bert, frozen, tokenizer, feats.texts, widths, BUCKETS)
    torch.manual_seed(cfg.seed)
    model = CrossTeacher(bert, cfg.trainable_layers, spec.context.sizes(), cfg.items)
    with torch.no_grad():  # a base's logit is the start; otherwise the mean click rate
        if cfg.base:
            model.out.weight.zero_()
            model.out.bias.zero_()
        else:
            model.out.bias.fill_(float(logit(spec.global_ctr)))
    device = pick_device(cfg.device)
    tqdm.write(f"teacher: {frozen} frozen layers over {len(feats.texts)} texts, "
               f"{cfg.trainable_layers} trained, on {device}")  # fmt: skip
    return model.to(device), TokenStates(table.states.to(device), table.lengths.to(device))


def metrics_on_test(feats: Featurised, logits: np.ndarray) -> dict[str, Any]:
    """Metrics of the test rows' click logits."""
    rows = feats.rows("test")
    p = expit(logits.astype(np.float64))
    p_true = feats.p_true[rows]
    known = None if np.isnan(p_true).any() else p_true
    return evaluate_predictions(feats.label[rows], p, feats.user_id[rows], p_true=known)


def sample_rows(rows: np.ndarray, n: int | None, rng: np.random.Generator) -> np.ndarray:
    if n is None or len(rows) <= n:
        return rows
    return np.sort(rng.choice(rows, n, replace=False))


def _check_same_config(cfg: TeacherConfig, run_dir: Path) -> None:
    path = run_dir / CONFIG_FILE
    # a resumed run may be given more time
    if path.is_file() and replace(TeacherConfig.load(path), epochs=cfg.epochs,
                                  patience=cfg.patience) != cfg:  # fmt: skip
        raise ValueError(f"{run_dir} holds a teacher with another config; use a new --out")
    path.write_bytes(cfg.to_json())
