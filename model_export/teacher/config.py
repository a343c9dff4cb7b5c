"""Teacher settings, saved into its run directory so labelling and resuming see the same ones."""

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson


@dataclass(frozen=True)
class TeacherConfig:
    encoder: str = "minilm"  # "minilm" (the packaged weights), "tiny" (random, tests) or a path
    # a trained `adrank train` run whose click logit the teacher starts from and corrects
    # (``base.py``); None: the cross-encoder alone
    base: str | None = None
    # the top layers read the ad and the behaviour texts together and are trained; the ones
    # below run on each text alone, frozen, once per unique text (cached). All of them on a GPU.
    trainable_layers: int = 2
    items: int = 8  # the user's most recent behaviour texts the teacher reads
    item_tokens: int = 12  # tokens kept per behaviour text (its first ones, [CLS] included)
    ad_tokens: int = 32  # tokens kept of the ad text
    # the defaults: what trains in ~35 min on 2 CPU cores (docs/model.md); a GPU takes all
    max_rows: int | None = 20_000  # training impressions sampled (None: all)
    valid_rows: int = 5_000  # validation impressions sampled for early stopping
    epochs: int = 2
    patience: int = 1
    batch_size: int = 64
    lr: float = 5e-5  # the BERT layers'
    head_lr: float = 1e-3  # the new parts': context, segment and output embeddings
    weight_decay: float = 0.01
    seed: int = 0
    # soft labels: this many training impressions (None: all), and as many (user, ad) pairs
    # that the log never showed (each labelled impression's user and context, the ad of
    # another training impression)
    label_rows: int | None = 30_000
    device: str = "auto"  # "auto": CUDA when present, CPU otherwise

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TeacherConfig":
        return cls(**raw)

    @classmethod
    def load(cls, path: Path) -> "TeacherConfig":
        return cls.from_dict(orjson.loads(path.read_bytes()))
