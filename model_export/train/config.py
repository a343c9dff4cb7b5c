"""Training settings, saved into the run directory so export and resume see the same ones."""

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from model_export.model.ranker import HeadConfig
from model_export.train.distill import DistillKind
from model_export.train.losses import CvrObjective

Mode = Literal["fast", "finetune"]


@dataclass(frozen=True)
class TrainConfig:
    mode: Mode = "fast"
    encoder: str = "minilm"  # "minilm" (the packaged weights), "tiny" (random, tests) or a path
    history_len: int = 32
    max_tokens: int = 64
    length_buckets: tuple[int, ...] = (16, 32, 64)
    prior_alpha: float = 20.0
    # the ad's own click history (hashed id, smoothed click rate) as inputs; off, every ad
    # is scored from its text like a new one (the spec keeps no ad statistics)
    ad_prior: bool = True
    # after training, a click logit offset per warm ad from its training clicks against the
    # model's expected ones, shrunk by empirical Bayes (``ad_offsets.py``)
    ad_offsets: bool = True
    ad_offset_alpha: float | None = None  # their shrinkage; None: picked on validation
    # shrunk towards what each ad's words predict rather than towards 0 (``text_prior.py``)
    ad_offset_text_prior: bool = False
    # ... then one per context cell, of two context fields or of one and the ad's topic
    # group ("device:slot", "age_band:topic"; ``cell_offsets.py``), fitted in this order
    cell_offsets: tuple[str, ...] = ()
    id_dropout: float = 0.2
    pretrain_steps: int = 600  # behaviour pretraining of the projection (fast mode)
    # the projection learns at lr × this during CTR training: slowly enough to keep the
    # topic structure that pretraining gave it (1.0 let it drift and lost ~0.009 valid AUC)
    projection_lr_scale: float = 0.1
    epochs: int = 8
    first_stage_epochs: int | None = None  # with topic clusters: the first stage's (≤ epochs)
    patience: int = 2
    batch_size: int = 1024
    lr: float = 2e-3
    # with topic clusters: the second stage's (the head alone on a frozen text space; at
    # 5e-4 instead of 2e-3 its validation AUC rises to a later, flatter peak)
    second_stage_lr: float | None = None
    encoder_lr: float = 3e-5
    # fine-tune mode: train only the top layers of BERT, the lower ones' token states cached
    # per unique text (``texts.TopLayerTexts``); None: every layer, run on every batch
    trainable_layers: int | None = None
    weight_decay: float = 0.01
    seed: int = 0
    max_train_rows: int | None = None  # sample training rows (fine-tune mode on CPU)
    # the conversion task (with ``head.cvr``, on logs with conversions; ``losses.py``):
    # ESMM over every impression, or the classic model trained on clicks only (a baseline)
    cvr_objective: CvrObjective = "esmm"
    # scale pCTCVR by the share of conversions a row's clicks could have shown by the log's
    # cut (``delay.py``), so recent clicks are not counted as failures
    delay_correction: bool = True
    attribution_days: float = 30.0  # a conversion later than this after its click never counts
    # distillation (``distill.py``): a teacher run directory (`adrank teacher`) whose soft
    # labels are learnt beside the clicks, how, and with what weight
    teacher: str | None = None
    distill: DistillKind = "kl"
    distill_weight: float = 1.0
    head: HeadConfig = field(default_factory=HeadConfig)

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TrainConfig":
        raw = dict(raw)
        head = dict(raw.get("head", {}))
        head.setdefault("pair_attended", True)  # runs saved before the option had the inputs
        head.setdefault("cvr", False)  # ... and before the conversion tower
        head.setdefault("cvr_ad_term", False)  # ... and before its linear term on the ad
        head.setdefault("cvr_price", False)  # ... and before it read the ad's price
        raw["head"] = HeadConfig.from_dict(head)
        raw["length_buckets"] = tuple(raw.get("length_buckets", (16, 32, 64)))
        raw["cell_offsets"] = tuple(raw.get("cell_offsets", ()))
        return cls(**raw)

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        return cls.from_dict(orjson.loads(path.read_bytes()))
