"""Test helpers: waiting on conditions with deadlines, and worker processes cleaned up by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
TESTS = Path(__file__).parent
SRC = TESTS.parent / "src"


def wait_until(condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.01) -> T:
    """Poll `condition()` until truthy and return it; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def child_pids(pid: int) -> list[int]:
    """PIDs whose parent is `pid`, read from /proc (Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # it exited meanwhile
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses
            if int(stat.rsplit(") ", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


class WorkerProcess:
    """A `backburner worker` subprocess in its own process group."""

    def __init__(
        self, url: str, *args: str, app: str = "workerapp:bb", log: Path, cwd: Path = TESTS
    ) -> None:
        env = {**os.environ, "BACKBURNER_URL": url, "PYTHONPATH": f"{TESTS}{os.pathsep}{SRC}"}
        self.log_path = log
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backburner", "worker", app, *args],
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def kill_group(self) -> None:
        """SIGKILL the supervisor and all its children at once."""
        with suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.kill_group()
        else:
            with suppress(ProcessLookupError, PermissionError):  # orphaned children too
                os.killpg(self.pid, signal.SIGKILL)
        self._log.close()


#: `start(url, *args, app=...)`: a `backburner worker` subprocess (see `worker_processes`)
Start = Callable[..., WorkerProcess]

#: the stores a worker process can share with a test (memory:// lives in one process)
SERVER_STORES = ("sqlite", "redis", "postgres")


def server_store_url(request: Any, tmp_path: Path) -> str:
    """The URL of a fresh store of `request.param` (one of SERVER_STORES), for a fixture
    parametrized over them: a file in `tmp_path`, or the server fixture's own store."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/jobs.db"
    return str(request.getfixturevalue(f"{request.param}_store_url"))


@contextmanager
def worker_processes(tmp: Path) -> Iterator[Start]:
    """Start workers with `start(url, *args)`; every one is killed by PID at the end."""
    started: list[WorkerProcess] = []

    def start(url: str, *args: str, **kwargs: Any) -> WorkerProcess:
        w = WorkerProcess(url, *args, log=tmp / f"worker{len(started)}.log", **kwargs)
        started.append(w)
        return w

    try:
        yield start
    finally:
        for w in started:
            w.stop()
