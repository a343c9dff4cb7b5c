"""A training run directory: what `adrank train` writes and `evaluate` / `export` read.

train_config.json   TrainConfig
spec.json           featurisation fitted on the training rows (context vocab, buckets, prior)
ad_priors.npz       per-ad clicks and impressions of the training rows; the ads' click logit
                    offsets (``ad_offsets.py``, fitted after training; ad_offsets.json: how)
cell_offsets.json   with ``cell_offsets``: the context cells' offset tables, fitted after the
                    ads' (``cell_offsets.py``), read into the head by ``load_run``
tokenizer.json      the tokenizer the texts were cut with
encoder/            BERT weights when they are not the packaged MiniLM (tiny or fine-tuned)
checkpoint.pt       latest epoch (resume); best.pt: best validation AUC
history.json        per-epoch training curve; data.json: training data summary
delay.json          with conversions: the conversion delay model (``delay.py``)
distillation.json   with a teacher: its directory and summary, the distillation settings
stage1/             with topic clusters (fast mode): the first stage, a model without them
                    whose trained text space the clusters are fitted on (its checkpoints,
                    history.json)

Training with topic clusters (``HeadConfig.clusters``) runs in two stages: the first trains
the usual model, and its text space — where, after CTR training, an ad sits by its topic's
items — is clustered; the second trains a new head with the cluster counts on that space,
frozen, so serving assigns the clusters as training did.
"""

import dataclasses
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import torch
from tqdm import tqdm

from model_export.data.clicklog import ClickLog
from model_export.model.context_terms import CellOffsets
from model_export.model.ctr import CTRModel
from model_export.model.encoder import PooledBert, load_bert, minilm_dir, tiny_bert
from model_export.model.ranker import RankingHead
from model_export.teacher.labels import log_fingerprint
from model_export.train.ad_offsets import fit_offsets, shifted
from model_export.train.arrays import FeatureSpec, Featurised, featurise, subset
from model_export.train.cell_offsets import TOPIC, Cell, FittedCell, fit_cells
from model_export.train.config import TrainConfig
from model_export.train.delay import MIN_CONVERSIONS, fit_delay
from model_export.train.distill import Distillation, load_distillation
from model_export.train.embed import cached_features
from model_export.train.pretrain import neighbour_pairs, pretrain_projection
from model_export.train.texts import FrozenTexts, TextSource, TopLayerTexts, TrainableTexts
from model_export.train.trainer import (
    BEST,
    CHECKPOINT,
    CvrTask,
    RunState,
    Trainer,
    predict_logit,
)
from service.features.context import ContextSpec
from service.features.tokens import TextTokenizer

DEFAULT_CACHE = Path.home() / ".cache" / "adrank"
DELAY_FILE = "delay.json"
DISTILLATION_FILE = "distillation.json"
AD_OFFSETS_FILE = "ad_offsets.json"
CELL_OFFSETS_FILE = "cell_offsets.json"
AD_TABLE = "ad_priors.npz"
DAY_S = 86_400


@dataclass
class Run:
    """A loaded run: everything evaluation and export need."""

    dir: Path
    cfg: TrainConfig
    spec: FeatureSpec
    model: CTRModel
    pooled: PooledBert
    tokenizer: TextTokenizer

    def text_source(self, feats: Featurised, cache_dir: Path = DEFAULT_CACHE) -> TextSource:
        return text_source(
            self.cfg, self.model, self.pooled, self.tokenizer, feats.texts, cache_dir
        )


def base_bert(encoder: str, seed: int) -> tuple[PooledBert, Path]:
    """The untrained BERT named by a config's ``encoder`` ("minilm", "tiny" or a folder) and
    the tokenizer file that goes with it."""
    tokenizer = minilm_dir() / "tokenizer.json"
    if encoder == "minilm":
        return PooledBert(load_bert(minilm_dir())), tokenizer
    if encoder == "tiny":
        return PooledBert(tiny_bert(seed)), tokenizer
    return PooledBert(load_bert(Path(encoder))), Path(encoder) / "tokenizer.json"


def text_source(
    cfg: TrainConfig,
    model: CTRModel,
    pooled: PooledBert,
    tokenizer: TextTokenizer,
    texts: list[str],
    cache_dir: Path,
) -> TextSource:
    if cfg.mode == "finetune" and cfg.trainable_layers:
        return TopLayerTexts(pooled, tokenizer, texts, cfg.length_buckets, cfg.trainable_layers)
    if cfg.mode == "finetune":
        return TrainableTexts(tokenizer, texts, cfg.length_buckets)
    name = f"{cfg.encoder}-seed{cfg.seed}" if cfg.encoder == "tiny" else str(cfg.encoder)
    table = cached_features(
        cache_dir / "pooled", name, pooled, tokenizer, texts, cfg.length_buckets
    )
    return FrozenTexts(table)


def save_spec(spec: FeatureSpec, run_dir: Path) -> None:
    meta = {
        "fields": list(spec.context.fields),
        "vocab": {f: list(v) for f, v in spec.context.vocab.items()},
        "id_buckets": spec.id_buckets,
        "global_ctr": spec.global_ctr,
        "global_cvr": spec.global_cvr,
        "prior_alpha": spec.prior_alpha,
    }
    _write_json(run_dir / "spec.json", meta)
    _save_ad_table(run_dir, spec.ad_stats, spec.ad_offsets)


def _save_ad_table(run_dir: Path, stats: pd.DataFrame, offsets: pd.Series) -> None:
    """The per-ad table: prior statistics (ad_id, clicks, impressions) and click logit
    offsets (offset_ad_id, offset), each of its own ads."""
    np.savez(
        run_dir / AD_TABLE,
        ad_id=np.asarray(stats.index, dtype=str),
        clicks=stats["clicks"].to_numpy(np.float64),
        impressions=stats["impressions"].to_numpy(np.float64),
        offset_ad_id=np.asarray(offsets.index, dtype=str),
        offset=offsets.to_numpy(np.float64),
    )


def load_spec(run_dir: Path) -> FeatureSpec:
    meta = orjson.loads((run_dir / "spec.json").read_bytes())
    with np.load(run_dir / AD_TABLE) as data:
        stats = pd.DataFrame(
            {"clicks": data["clicks"], "impressions": data["impressions"]},
            index=pd.Index(data["ad_id"].astype(object), name="ad_id"),
        )
        has = "offset" in data  # runs trained before offsets have none
        offsets = pd.Series(data["offset"] if has else [], dtype=np.float64,
                            index=data["offset_ad_id"].astype(object) if has else [])  # fmt: skip
    context = ContextSpec(tuple(meta["fields"]), meta["vocab"])
    return FeatureSpec(context, meta["id_buckets"], meta["global_ctr"], meta["prior_alpha"], stats,
                       meta.get("global_cvr"), offsets)  # fmt: skip


def build_model(cfg: TrainConfig, spec: FeatureSpec, pooled: PooledBert) -> CTRModel:
    torch.manual_seed(cfg.seed)
    head = RankingHead(cfg.head, spec.context.sizes(), spec.id_buckets)
    return CTRModel(pooled.width, head, cfg.head.d, pooled if cfg.mode == "finetune" else None)


def train_run(
    log: ClickLog,
    split: np.ndarray,
    cfg: TrainConfig,
    run_dir: Path,
    cache_dir: Path = DEFAULT_CACHE,
) -> dict[str, Any]:
    """Train a model on ``log`` (rows labelled by ``split``) into ``run_dir``; returns the state."""
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg = _conversion_task(cfg, log)
    _check_same_config(cfg, run_dir)
    labelled_log = log_fingerprint(log, split) if cfg.teacher else ""  # the whole split's
    split = _sample_train(split, cfg)
    feats, spec = featurise(log, split, cfg.history_len, cfg.prior_alpha, ad_prior=cfg.ad_prior)
    _cells(cfg, spec.context.fields)  # a misnamed cell fails now, not after training
    conversions = _cvr_task(cfg, feats, run_dir)
    distillation = _distillation(cfg, feats, labelled_log, run_dir)
    pooled, tokenizer_file = base_bert(cfg.encoder, cfg.seed)
    shutil.copyfile(tokenizer_file, run_dir / "tokenizer.json")
    tokenizer = TextTokenizer(tokenizer_file, cfg.max_tokens)
    model = build_model(cfg, spec, pooled)
    source = text_source(cfg, model, pooled, tokenizer, feats.texts, cache_dir)
    save_spec(spec, run_dir)
    _write_json(run_dir / "data.json", _data_summary(log, feats))
    started = (run_dir / CHECKPOINT).is_file()
    stage_cfg = cfg
    if cfg.head.clusters:
        if not started:
            parts = (model, pooled, source)
            tasks = (conversions, distillation)
            _first_stage(log, cfg, spec, feats, parts, run_dir / "stage1", tasks)
        model.projection.requires_grad_(False)  # the clusters' space
        stage_cfg = dataclasses.replace(cfg, lr=cfg.second_stage_lr or cfg.lr)
        if isinstance(source, TopLayerTexts):  # the second stage reads the tuned encoder, frozen
            source = _tuned_and_frozen(model, source, run_dir / CHECKPOINT)
            stage_cfg = dataclasses.replace(stage_cfg, mode="fast")
    elif not started:
        _pretrain(log, feats, model, source, cfg)
    state = Trainer(stage_cfg, model, source, feats, spec.global_ctr, run_dir, conversions,
                    distillation).fit()  # fmt: skip
    if cfg.encoder != "minilm" or cfg.mode == "finetune":
        pooled.bert.save_pretrained(run_dir / "encoder")
    summary = _save_history(state, run_dir)
    _fit_offsets(run_dir, feats, cache_dir, cfg)
    return summary


def _fit_offsets(run_dir: Path, feats: Featurised, cache_dir: Path, cfg: TrainConfig) -> None:
    """The trained run's per-ad click offsets (``ad_offsets.py``), into its ad table, then
    its context cells' (``cell_offsets.py``) on the logits with the ads' offsets."""
    (run_dir / CELL_OFFSETS_FILE).unlink(missing_ok=True)  # a resumed run's earlier fit
    if not (cfg.ad_offsets or cfg.cell_offsets):
        return
    run = load_run(run_dir)
    source = run.text_source(feats, cache_dir)
    parts = {p: subset(feats, feats.rows(p)) for p in ("train", "valid")}
    logits = {p: predict_logit(run.model, source, f) for p, f in parts.items()}
    if cfg.ad_offsets:
        ad_rows = {p: (f.ad_id, f.label, logits[p]) for p, f in parts.items()}
        texts = _ad_texts(parts["train"]) if cfg.ad_offset_text_prior else None
        fitted = fit_offsets(ad_rows["train"], ad_rows["valid"], cfg.ad_offset_alpha, texts)
        _save_ad_table(run_dir, run.spec.ad_stats, fitted.offsets)
        summary = fitted.summary()
        _write_json(run_dir / AD_OFFSETS_FILE, summary)
        tqdm.write(f"ad offsets: {summary['ads']} ads, alpha {summary['alpha']}, text prior "
                   f"penalty {fitted.text_penalty}, valid log loss "
                   f"{fitted.valid_logloss[0]:.4f} → {fitted.valid_logloss[1]:.4f}")  # fmt: skip
        logits = {p: shifted(logits[p], f.ad_id, fitted.offsets) for p, f in parts.items()}
    if cfg.cell_offsets:
        _fit_cell_offsets(run, source, parts, logits, cfg)


def _ad_texts(feats: Featurised) -> pd.Series:
    """The text of each ad of ``feats``, by ad id."""
    by_ad = pd.Series(feats.ad_text, index=feats.ad_id).groupby(level=0).first()
    return by_ad.map(lambda i: feats.texts[i])


def _fit_cell_offsets(
    run: "Run",
    source: TextSource,
    parts: dict[str, Featurised],
    logits: dict[str, np.ndarray],
    cfg: TrainConfig,
) -> None:
    """The context cells' offsets on ``logits`` (``cell_offsets.py``), into the run."""
    kinds = _cells(cfg, run.spec.context.fields)
    clusters = run.model.head.clusters
    groups = clusters.assign(source.all_vectors(run.model))[:, :1].numpy()  # (T, 0 or 1)
    values = {p: np.hstack([f.context, groups[f.ad_text]]) for p, f in parts.items()}
    sizes = [*run.spec.context.sizes(), int(clusters.fitted[:1].sum())]
    rows = {p: (values[p], f.label, logits[p]) for p, f in parts.items()}
    fitted = fit_cells(kinds, run.spec.context.fields, sizes, rows["train"], rows["valid"])
    _write_json(run.dir / CELL_OFFSETS_FILE, [f.to_dict() for f in fitted])
    for f in fitted:
        tqdm.write(f"cell offsets {f.cell}: alpha {f.alpha}, valid log loss "
                   f"{f.valid_logloss[0]:.4f} → {f.valid_logloss[1]:.4f}")  # fmt: skip


def _cells(cfg: TrainConfig, fields: Sequence[str]) -> list[Cell]:
    """The run's context cells, each checked against the context ``fields`` and the head."""
    kinds = [Cell.parse(c) for c in cfg.cell_offsets]
    for cell in kinds:
        cell.columns(fields)
    if not cfg.head.clusters and any(TOPIC in (c.left, c.right) for c in kinds):
        raise ValueError("a cell of the ad's topic group needs a head with topic clusters")
    return kinds


def _write_json(path: Path, value: Any) -> None:
    path.write_bytes(orjson.dumps(value, option=orjson.OPT_INDENT_2))


def _pretrain(
    log: ClickLog, feats: Featurised, model: CTRModel, source: TextSource, cfg: TrainConfig
) -> None:
    """Behaviour pretraining of the projection on the encoder's pooled features as they are
    (the frozen table; before fine-tuning, the untuned encoder's). Not for full fine-tuning."""
    if isinstance(source, FrozenTexts):
        table = source.table
    elif isinstance(source, TopLayerTexts):
        table = source.pooled_all(model)
    else:
        return
    pairs = neighbour_pairs(log.events, feats.event_text)
    pretrain_projection(model.projection, table, pairs, cfg.pretrain_steps, cfg.seed)


def _tuned_and_frozen(model: CTRModel, source: TopLayerTexts, checkpoint: Path) -> FrozenTexts:
    """The fine-tuned encoder's features of every text, as a frozen table (a resumed second
    stage first takes its encoder back from its checkpoint)."""
    if checkpoint.is_file():
        model.load_state_dict(torch.load(checkpoint, weights_only=False)["model"])
    return FrozenTexts(source.pooled_all(model).numpy())


def _first_stage(
    log: ClickLog,
    cfg: TrainConfig,
    spec: FeatureSpec,
    feats: Featurised,
    parts: tuple[CTRModel, PooledBert, TextSource],
    stage_dir: Path,
    tasks: tuple[CvrTask | None, Distillation | None],
) -> None:
    """Train a model without clusters into ``stage_dir`` (resuming it), give ``model`` its
    text projection and fit ``model``'s clusters on the item vectors of that space."""
    model, pooled, source = parts
    if not isinstance(source, FrozenTexts | TopLayerTexts):
        raise ValueError("topic clusters need a frozen encoder in their second stage: fast "
                         "mode, or finetune mode with --trainable-layers")  # fmt: skip
    stage_dir.mkdir(exist_ok=True)
    first_cfg = dataclasses.replace(
        cfg,
        head=dataclasses.replace(cfg.head, clusters=()),
        epochs=min(cfg.epochs, cfg.first_stage_epochs or cfg.epochs),
    )
    first = build_model(first_cfg, spec, pooled)
    tqdm.write("stage 1 of 2: the text space, trained without topic clusters")
    if not (stage_dir / CHECKPOINT).is_file():
        _pretrain(log, feats, first, source, cfg)
    state = Trainer(first_cfg, first, source, feats, spec.global_ctr, stage_dir, *tasks).fit()
    _save_history(state, stage_dir)
    model.projection.load_state_dict(first.projection.state_dict())
    items = torch.from_numpy(np.unique(feats.event_text))
    with torch.no_grad():
        vectors = source.all_vectors(model)[items].numpy()
    found = model.head.clusters.fit(vectors, cfg.seed, cfg.head.cluster_search)
    tqdm.write(f"stage 2 of 2: topic clusters of {len(items)} items: {' / '.join(map(str, found))}")


def _conversion_task(cfg: TrainConfig, log: ClickLog) -> TrainConfig:
    """``cfg`` with the conversion tower off when the log has no conversions (and says so)."""
    if cfg.head.cvr and not log.has_conversions:
        tqdm.write(f"{log.name} has no conversion labels: the conversion task is off")
        return dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, cvr=False))
    return cfg


def _distillation(
    cfg: TrainConfig, feats: Featurised, fingerprint: str, run_dir: Path
) -> Distillation | None:
    """The teacher's soft labels of this run's training rows (of the log of ``fingerprint``);
    what was distilled is recorded in distillation.json (and from there in the bundle's
    manifest)."""
    if cfg.teacher is None:
        return None
    teacher = Path(cfg.teacher)
    d = load_distillation(teacher, subset(feats, feats.rows("train")), fingerprint,
                          cfg.distill, cfg.distill_weight)  # fmt: skip
    summary = orjson.loads((teacher / "teacher.json").read_bytes())
    record = {"teacher": str(teacher), "kind": cfg.distill, "weight": cfg.distill_weight,
              "pairs": len(d.logged.row), "teacher_summary": summary}  # fmt: skip
    _write_json(run_dir / DISTILLATION_FILE, record)
    tqdm.write(f"distilling {teacher} ({cfg.distill}, weight {cfg.distill_weight}): "
               f"{len(d.logged.row)} soft-labelled pairs")  # fmt: skip
    return d


def _cvr_task(cfg: TrainConfig, feats: Featurised, run_dir: Path) -> CvrTask | None:
    """The conversion task of a run, its delay model fitted on the training rows and saved."""
    if not cfg.head.cvr:
        return None
    if not cfg.delay_correction:
        return CvrTask(None)
    conv = subset(feats, feats.rows("train")).conversions
    seen = ~np.isnan(conv.delay_s)
    if seen.sum() < MIN_CONVERSIONS:
        tqdm.write(f"{seen.sum()} conversions in training are too few to fit their delays: "
                   "no delay correction")  # fmt: skip
        return CvrTask(None)
    delay = fit_delay(conv.delay_s[seen], conv.elapsed_s[seen], cfg.attribution_days * DAY_S)
    _write_json(run_dir / DELAY_FILE, delay.to_dict())
    tqdm.write(f"conversion delays of {delay.conversions} conversions: "
               f"within an hour {delay.cdf(np.array(3600.0)):.0%}, "
               f"within a day {delay.cdf(np.array(DAY_S)):.0%}")  # fmt: skip
    return CvrTask(delay)


def _save_history(state: RunState, run_dir: Path) -> dict[str, Any]:
    _write_json(run_dir / "history.json", state.history)
    return {"best_epoch": state.best_epoch, "best_valid_auc": state.best_auc, "epochs": state.epoch}


def load_run(run_dir: Path) -> Run:
    cfg = TrainConfig.load(run_dir / "train_config.json")
    spec = load_spec(run_dir)
    encoder_dir = run_dir / "encoder"
    if encoder_dir.is_dir():
        pooled = PooledBert(load_bert(encoder_dir))
    else:
        pooled = base_bert(cfg.encoder, cfg.seed)[0]
    model = build_model(cfg, spec, pooled)
    model.load_state_dict(torch.load(run_dir / BEST, weights_only=True)["model"])
    model.head.cell_offsets = load_cell_offsets(run_dir / CELL_OFFSETS_FILE, spec)
    model.eval()
    tokenizer = TextTokenizer(run_dir / "tokenizer.json", cfg.max_tokens)
    return Run(run_dir, cfg, spec, model, pooled, tokenizer)


def load_cell_offsets(path: Path, spec: FeatureSpec) -> CellOffsets | None:
    """A run's context-cell offsets as the head reads them; None without any."""
    if not path.is_file():
        return None
    fitted = [FittedCell.from_dict(raw) for raw in orjson.loads(path.read_bytes())]
    if not fitted:
        return None
    columns = [f.cell.columns(spec.context.fields) for f in fitted]
    return CellOffsets([i for i, _ in columns], [j for _, j in columns],
                       [torch.from_numpy(f.table) for f in fitted])  # fmt: skip


# a resumed run may be given more time, and its offsets, fitted after training, refitted
RESUMABLE_CHANGES = (
    "epochs",
    "patience",
    "ad_offsets",
    "ad_offset_alpha",
    "ad_offset_text_prior",
    "cell_offsets",
)


def _check_same_config(cfg: TrainConfig, run_dir: Path) -> None:
    path = run_dir / "train_config.json"
    if path.is_file():
        # read through TrainConfig: settings newer than the saved run take their defaults
        before = orjson.loads(TrainConfig.load(path).to_json())
        now = orjson.loads(cfg.to_json())
        changed = sorted(k for k in now if before.get(k) != now[k] and k not in RESUMABLE_CHANGES)
        if changed:
            raise ValueError(
                f"{run_dir} holds a run with another config ({', '.join(changed)} differ); "
                "use a new --out to start over"
            )
    path.write_bytes(cfg.to_json())


def _sample_train(split: np.ndarray, cfg: TrainConfig) -> np.ndarray:
    train = np.flatnonzero(split == "train")
    if cfg.max_train_rows is None or len(train) <= cfg.max_train_rows:
        return split
    rng = np.random.default_rng(cfg.seed)
    dropped = rng.choice(train, len(train) - cfg.max_train_rows, replace=False)
    split = split.copy()
    split[dropped] = "unused"
    return split


def _data_summary(log: ClickLog, feats: Featurised) -> dict[str, Any]:
    per_split = {
        s: {
            "rows": int((feats.split == s).sum()),
            "ctr": float(feats.label[feats.split == s].mean()),
        }
        for s in ("train", "valid", "test")
        if (feats.split == s).any()
    }
    return {**log.summary(), "splits": per_split, "unique_texts": len(feats.texts)}
