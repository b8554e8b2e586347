"""A Redis Cluster of our own for tests: three primaries on free ports, plus one replica
of the primary that holds a given prefix's slot, each redis-server killed by PID.

Made with `redis-server --cluster-enabled yes` and `redis-cli --cluster create`, so it
needs nothing but the two binaries; `cluster-node-timeout` is 1 s, so a killed primary's
replica is promoted within a few seconds.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from . import free_port, require
from .redis import HOST, RedisServer

NODE_TIMEOUT_MS = 1000
_NODE_OPTIONS = (
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    "nodes.conf",
    "--cluster-node-timeout",
    str(NODE_TIMEOUT_MS),
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
)


def _cli(*args: str, timeout: float = 60) -> str:
    done = subprocess.run(
        ["redis-cli", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"redis-cli {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.stdout


def _wait(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"Redis Cluster: {what} not within {timeout}s")
        time.sleep(0.05)


def _client_port() -> int:
    """A free port a cluster node may take: at most 55535 (Redis refuses higher ones,
    even with its bus on a --cluster-port of its own)."""
    while True:
        port = free_port()
        if port <= 55535:
            return port


class LocalCluster:
    """Three primaries and a replica of the primary serving `prefix`'s slot."""

    def __init__(self, folder: Path, prefix: str) -> None:
        self.prefix = prefix
        self.nodes = [
            RedisServer(
                folder / f"node{n}",
                _client_port(),
                *_NODE_OPTIONS,
                "--cluster-port",
                str(free_port()),
            )
            for n in range(4)
        ]

    @property
    def primaries(self) -> list[RedisServer]:
        return self.nodes[:3]

    @property
    def replica(self) -> RedisServer:
        return self.nodes[3]

    def url(self, node: RedisServer, **options: str) -> str:
        """A cluster=1 store URL naming `node`, with this cluster's prefix."""
        query = "&".join(f"{k}={v}" for k, v in {"prefix": self.prefix, **options}.items())
        return f"redis://{HOST}:{node.port}/0?cluster=1&{query}"

    def client(self, node: RedisServer):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis(HOST, node.port, socket_timeout=5, decode_responses=True)

    def start(self) -> LocalCluster:
        for node in self.nodes:
            node.start()
        addresses = [f"{HOST}:{node.port}" for node in self.primaries]
        _cli("--cluster", "create", *addresses, "--cluster-yes")
        _wait(lambda: all(self._state_ok(n) for n in self.primaries), "cluster_state:ok")
        holder = self.holder()
        holder_id = self.client(holder).execute_command("CLUSTER", "MYID")
        _cli(
            "--cluster",
            "add-node",
            f"{HOST}:{self.replica.port}",
            f"{HOST}:{holder.port}",
            "--cluster-slave",
            "--cluster-master-id",
            holder_id,
        )
        self.wait_replicated(self.replica)
        return self

    def wait_replicated(self, replica: RedisServer, timeout: float = 30.0) -> None:
        """Until `replica` is a replica whose link to its primary is up."""
        client = self.client(replica)
        _wait(
            lambda: client.info("replication").get("master_link_status") == "up",
            f"the link of the replica on port {replica.port} to its primary",
            timeout,
        )

    def _state_ok(self, node: RedisServer) -> bool:
        info = self.client(node).execute_command("CLUSTER", "INFO")
        return "cluster_state:ok" in str(info)

    def slot(self) -> int:
        """The slot of every key of the store: that of its hash tag {prefix}."""
        from redis.crc import key_slot

        return int(key_slot(self.prefix.encode()))

    def holder(self) -> RedisServer:
        """The node that serves the store's slot now (asked of a live node)."""
        slot = self.slot()
        for node in self.nodes:
            if node.proc is None or node.proc.poll() is not None:
                continue
            for start, end, primary, *_ in self.client(node).execute_command("CLUSTER", "SLOTS"):
                if int(start) <= slot <= int(end):
                    port = int(primary[1])
                    return next(n for n in self.nodes if n.port == port)
        raise RuntimeError(f"no node serves slot {slot}")

    def wait_promoted(self, timeout: float = 30.0) -> None:
        """Until the replica serves the slot and the cluster is whole again."""
        alive = [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]
        _wait(
            lambda: self.holder() is self.replica and all(self._state_ok(n) for n in alive),
            "the replica's promotion",
            timeout,
        )

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()


@contextmanager
def local_cluster(folder: Path, prefix: str) -> Iterator[LocalCluster]:
    """A started LocalCluster, every server killed by PID at the end; skipped (failed
    under CI) when redis-server or redis-cli is missing."""
    for tool in ("redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            require("Redis Cluster", f"{tool} is not on PATH")
    cluster = LocalCluster(folder, prefix)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
