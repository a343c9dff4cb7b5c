"""Where the offline commands get a click log and its split from (``--data`` / ``--protocol``)."""

from pathlib import Path

import numpy as np

from model_export.data.clicklog import ClickLog

MOVIELENS = "movielens"
PROTOCOLS = ("standard", "cold-item")


def load_source(data: str, cache_dir: Path, skip_invalid: bool = False) -> ClickLog:
    """``movielens`` (MovieLens 100k from the recbole wheel) or a directory in the input format."""
    if data == MOVIELENS:
        from model_export.data.movielens import load_movielens

        return load_movielens(cache_dir)
    from model_export.data.io import read_clicklog

    log, report = read_clicklog(Path(data), skip_invalid=skip_invalid)
    if report.skipped:
        print(report)
    return log


def split_for(log: ClickLog, protocol: str, seed: int = 0) -> np.ndarray:
    """Row labels train/valid/test (and "unused") under a protocol."""
    from model_export.data import protocols

    if protocol == "standard":
        return protocols.standard_split(log)
    if protocol == "cold-item":
        return protocols.cold_item_split(log, seed=seed)
    raise ValueError(f"unknown protocol {protocol!r}; choose from {PROTOCOLS}")
