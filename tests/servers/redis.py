"""Fixtures for the Redis store: the machine's Redis on 6379, or our own redis-server."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import free_port, port_open, require

HOST = "127.0.0.1"


def answers(port: int, timeout: float = 0.5) -> bool:
    """True when a Redis on `port` replies to PING and has finished loading its data."""
    import redis

    if not port_open(HOST, port, timeout):
        return False
    client = redis.Redis(HOST, port, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


class RedisServer:
    """A redis-server process we started, in its own folder, stopped by its PID."""

    def __init__(self, folder: Path, port: int | None = None, *options: str) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.options = options
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self, timeout: float = 20.0) -> RedisServer:
        exe = shutil.which("redis-server")
        if exe is None:
            raise FileNotFoundError("redis-server is not on PATH")
        self.folder.mkdir(parents=True, exist_ok=True)
        args = [exe, "--port", str(self.port), "--bind", HOST, "--dir", str(self.folder)]
        args += ["--save", "", "--daemonize", "no", "--logfile", "redis.log", *self.options]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not answers(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited {self.proc.returncode}: {args}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} not ready in {timeout}s")
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to flush anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """(host, port) of a Redis for the session: the machine's on 6379, else our own."""
    try:
        import redis  # noqa: F401
    except ImportError:
        require("Redis", "the redis extra is not installed: pip install 'backburner[redis]'")
    if answers(6379):
        yield HOST, 6379
        return
    if shutil.which("redis-server") is None:
        require("Redis", "nothing answers on 127.0.0.1:6379 and redis-server is not on PATH")
    server = RedisServer(tmp_path_factory.mktemp("redis"), None, "--appendonly", "no")
    server.start()
    try:
        yield HOST, server.port
    finally:
        server.stop()


def delete_prefix(host: str, port: int, prefix: str) -> None:
    """Delete every key of a store prefix (SCAN is fine in tests, never in the store)."""
    import redis

    client = redis.Redis(host, port, socket_timeout=5)
    try:
        for batch in _chunks(client.scan_iter(match=f"{{{prefix}}}:*", count=1000), 500):
            client.delete(*batch)
    finally:
        client.close()


def _chunks(items: Iterator[bytes], size: int) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@pytest.fixture
def redis_store_url(redis_server: tuple[str, int]) -> Iterator[str]:
    """A Redis store URL with a prefix of its own; its keys are deleted afterwards."""
    host, port = redis_server
    prefix = f"bbtest-{uuid.uuid4().hex}"
    yield f"redis://{host}:{port}/0?prefix={prefix}"
    delete_prefix(host, port, prefix)
