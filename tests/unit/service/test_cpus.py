"""CPUs from the container's cgroup quota, and thread counts from them (explicit ones win)."""

import os
from pathlib import Path

import pytest

from service.runtime import cpus
from service.runtime.cpus import available_cpus, quota_cpus, threads_per_worker
from service.settings import Settings


def write(root: Path, name: str, text: str) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text + "\n")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "200000 100000"}, 2.0),
        ({"cpu.max": "150000 100000"}, 1.5),
        ({"cpu.max": "max 100000"}, None),
        ({"cpu/cpu.cfs_quota_us": "300000", "cpu/cpu.cfs_period_us": "100000"}, 3.0),
        ({"cpu,cpuacct/cpu.cfs_quota_us": "50000", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, 0.5),
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
        ({"cpu.max": "garbage"}, None),
        ({}, None),
    ],
)
def test_quota_from_cgroup_v2_and_v1(tmp_path: Path, files: dict[str, str], expected) -> None:
    for name, text in files.items():
        write(tmp_path, name, text)
    assert quota_cpus(tmp_path) == expected


@pytest.mark.parametrize(
    ("cpu_max", "affinity", "expected"),
    [("200000 100000", 8, 2), ("150000 100000", 8, 1), ("50000 100000", 8, 1),
     ("800000 100000", 4, 4), (None, 6, 6)],
)  # fmt: skip
def test_available_cpus_is_the_quota_rounded_down_capped_by_affinity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_max: str | None, affinity: int,
    expected: int,
) -> None:  # fmt: skip
    if cpu_max is not None:
        write(tmp_path, "cpu.max", cpu_max)
    monkeypatch.setattr(cpus, "affinity_cpus", lambda: affinity)
    assert available_cpus(tmp_path) == expected


@pytest.mark.parametrize(("n_cpus", "workers", "expected"), [(4, 1, 4), (4, 2, 2), (3, 2, 1),
                                                           (1, 4, 1)])  # fmt: skip
def test_threads_per_worker_keep_workers_times_threads_within_cpus(
    n_cpus: int, workers: int, expected: int
) -> None:
    assert threads_per_worker(n_cpus, workers) == expected


@pytest.fixture
def four_cpus(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Settings on a machine of 4 CPUs, with no ADRANK_* variable of the caller's."""
    monkeypatch.setattr("service.settings.available_cpus", lambda: 4)
    for name in [k for k in os.environ if k.startswith("ADRANK_")]:
        monkeypatch.delenv(name)
    return monkeypatch


def test_settings_fill_unset_threads_from_cpus_and_explicit_ones_win(
    four_cpus: pytest.MonkeyPatch,
) -> None:
    monkeypatch = four_cpus
    auto = Settings(model={"threads_from_cpus": True}, server={"workers": 2})
    assert (auto.model.ranker_threads, auto.model.encoder_threads) == (2, 2)
    monkeypatch.setenv("ADRANK_MODEL__THREADS_FROM_CPUS", "true")
    monkeypatch.setenv("ADRANK_MODEL__RANKER_THREADS", "3")
    explicit = Settings()
    assert (explicit.model.ranker_threads, explicit.model.encoder_threads) == (3, 4)
    monkeypatch.delenv("ADRANK_MODEL__RANKER_THREADS")
    off = Settings(model={"threads_from_cpus": False})
    assert (off.model.ranker_threads, off.model.encoder_threads) == (1, 1)


@pytest.mark.usefixtures("four_cpus")
def test_ranker_concurrency_fills_the_cpus_left_by_workers_and_their_threads() -> None:
    assert Settings().model.ranker_concurrency == 4
    assert Settings(server={"workers": 2}).model.ranker_concurrency == 2
    two_threads = Settings(model={"ranker_threads": 2}, server={"workers": 2})
    assert two_threads.model.ranker_concurrency == 1
    filled = Settings(model={"threads_from_cpus": True}, server={"workers": 2})
    assert filled.model.ranker_concurrency == 1  # the intra-op threads took the CPUs
    assert Settings(model={"ranker_concurrency": 3}).model.ranker_concurrency == 3
