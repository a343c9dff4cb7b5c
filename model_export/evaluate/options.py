"""What `adrank evaluate` is asked to do (shared by the pipeline and its conversion parts)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from model_export.train.run import DEFAULT_CACHE


@dataclass(frozen=True)
class EvalOptions:
    split: str = "test"
    din: bool = False
    seed: int = 0
    cache_dir: Path = DEFAULT_CACHE
    baselines: Mapping[str, Path] = field(default_factory=dict)  # conversion baselines' runs
    world_dir: Path | None = None  # a synthetic log's directory: revenue of mixed auctions
    auctions: int = 5_000
    library_baselines: bool = False  # with conversions: DeepCTR-Torch's ESMM and MMoE


DEFAULTS = EvalOptions()
