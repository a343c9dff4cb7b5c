"""How many CPUs this process may use: the container's CPU quota (cgroup v2 ``cpu.max``, or
v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``), else the CPUs it is allowed to run on; and
the share of them a model thread asks for (its niceness).

``os.cpu_count()`` says how many cores the host has, which in a container limited to 2 CPUs
on a 64-core node would ask onnxruntime for 64 threads.
"""

import logging
import math
import os
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")


def quota_cpus(cgroup_root: Path = CGROUP_ROOT) -> float | None:
    """The CPU quota in CPUs (1.5 = 150 ms per 100 ms), or None when there is none."""
    v2 = _read(cgroup_root / "cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        return _ratio(quota, period)
    for folder in ("cpu", "cpu,cpuacct", "cpuacct,cpu", "."):
        quota_v1 = _read(cgroup_root / folder / "cpu.cfs_quota_us")
        period_v1 = _read(cgroup_root / folder / "cpu.cfs_period_us")
        if quota_v1 is not None and period_v1 is not None:
            return _ratio(quota_v1, period_v1)
    return None


def affinity_cpus() -> int:
    """CPUs this process may be scheduled on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def available_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """Whole CPUs usable here: the quota rounded down (at least 1), capped by the affinity."""
    cpus = affinity_cpus()
    quota = quota_cpus(cgroup_root)
    if quota is not None:
        cpus = min(cpus, max(1, math.floor(quota)))
    return max(1, cpus)


def threads_per_worker(cpus: int, workers: int) -> int:
    """Intra-op threads of each session so that workers × threads ≤ CPUs (at least 1)."""
    return max(1, cpus // max(1, workers))


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _ratio(quota: str, period: str) -> float | None:
    """``quota / period`` from the cgroup files; None for "max", -1 or anything unparsable."""
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def lower_thread_priority(nice: int) -> None:
    """Raise the calling thread's niceness by ``nice``. On Linux each thread has its own
    (elsewhere this does nothing): when the cores are busy the scheduler then runs the event
    loop's thread first, and a model thread takes the CPU time the loop leaves."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
    except OSError as exc:
        log.warning("could not lower the priority of thread %d: %s", tid, exc)
