"""A tiny training run made once per session through the real CLI (synth → train)."""

from pathlib import Path

import pytest

from adrank.cli import main

TINY_SYNTH = ["--n-users", "300", "--n-ads", "60", "--n-impressions", "6000", "--seed", "3"]
TINY_TRAIN = ["--encoder", "tiny", "--epochs", "2", "--batch-size", "512", "--max-tokens", "32"]


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data") / "synth"
    main(["synth", "--out", str(out), *TINY_SYNTH])
    return out


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def tiny_run(tiny_data: Path, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    main(
        [
            "train",
            "--data",
            str(tiny_data),
            "--out",
            str(run_dir),
            "--cache-dir",
            str(cache_dir),
            *TINY_TRAIN,
        ]
    )
    return run_dir
