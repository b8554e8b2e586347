"""The seed app (examples/seed/) under real servers: gunicorn and uWSGI, each starting its
own backburner worker, enqueue from pre-forked workers and the jobs run to the end."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from .helpers import wait_until
from .servers import free_port, port_open, require

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "seed"
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


# -- processes ----------------------------------------------------------------------------
def _parents() -> dict[int, int]:
    """pid -> parent pid of every process, from /proc."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                stat = (entry / "stat").read_text()
                out[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`."""
    parents = _parents()
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Tree:
    """A command in its own session, its output in a log; every process it ever started
    (some in sessions of their own) is killed by process group at the end."""

    def __init__(self, args: Sequence[str | Path], log: Path, **popen: Any) -> None:
        if not Path("/proc/self/stat").exists():
            pytest.skip("needs /proc to follow the process tree")
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in kill()
        self.proc = subprocess.Popen(
            [str(a) for a in args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **popen,
        )
        self.seen: set[int] = set()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def remember(self) -> set[int]:
        """Note the processes below the command now; returns them."""
        now = descendants(self.proc.pid)
        self.seen |= now
        return now

    def stop(self, signum: int, timeout: float = 60, group: bool = False) -> int:
        """Send `signum` to the command (to its process group, as a terminal's Ctrl-C
        does, with `group`); wait for it and for everything it started to end."""
        self.remember()
        if group:
            os.killpg(self.proc.pid, signum)
        else:
            self.proc.send_signal(signum)
        code = self.proc.wait(timeout=timeout)
        wait_until(lambda: not any(alive(p) for p in self.seen), timeout=timeout)
        return code

    def kill(self) -> None:
        mine = os.getpgrp()
        for pid in {self.proc.pid} | self.seen | descendants(self.proc.pid):
            with suppress(ProcessLookupError, PermissionError):
                group = os.getpgid(pid)
                if group != mine:
                    os.killpg(group, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self._log.close()


@contextmanager
def running(args: Sequence[str | Path], log: Path, **popen: Any) -> Iterator[Tree]:
    tree = Tree(args, log, **popen)
    try:
        yield tree
    finally:
        tree.kill()


# -- HTTP -------------------------------------------------------------------------------
def get(url: str, accept: str = "application/json") -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=15) as response:
        return response.status, response.headers.get_content_type(), response.read()


def start_job(base: str, path: str) -> dict[str, Any]:
    status, kind, body = get(base + path)
    assert (status, kind) == (202, "application/json"), body
    started: dict[str, Any] = json.loads(body)
    assert started["started"] is True and started["job_id"]
    assert started["status_url"] == f"/jobs/{started['job_id']}"
    return started


def job_status(base: str, started: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(get(base + started["status_url"])[2])
    return data


def wait_for_success(base: str, started: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        job = job_status(base, started)
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    job = wait_until(finished, timeout=timeout, interval=0.1)
    assert job is not None and job["status"] == "succeeded", job
    return job


def exercise_seed_app(base: str, tree: Tree) -> None:
    """The article's /2 runs to the end with progress; concurrent requests to the
    pre-forked web workers each enqueue one job."""
    wait_until(lambda: port_open("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=60)
    started = start_job(base, "/2")
    job = wait_for_success(base, started)
    assert job["progress"] == {"done": 2, "total": 2, "message": "Working... 2/2"}
    assert job["result"] == {"duration": 2} and job["attempts"] == 1
    status, kind, page = get(base + started["status_url"], accept="text/html")
    assert (status, kind) == (200, "text/html") and started["job_id"].encode() in page

    with ThreadPoolExecutor(8) as pool:
        many = list(pool.map(lambda _: start_job(base, "/uwsgi_spool/0"), range(16)))
    assert len({s["job_id"] for s in many}) == 16
    for s in many:
        assert wait_for_success(base, s)["task"] == "seed.spool_task"
    assert len(tree.remember()) >= 4, "web workers and the job worker are running"


# -- gunicorn ---------------------------------------------------------------------------
@pytest.mark.parametrize("preload", [False, True], ids=["fork", "preload"])
def test_gunicorn_prefork_workers_enqueue_and_its_backburner_worker_runs_the_jobs(
    tmp_path: Path, preload: bool
) -> None:
    gunicorn = BIN / "gunicorn"
    if not gunicorn.exists():
        require("gunicorn", f"no {gunicorn}; pip install -e '.[dev]'")
    from gunicorn import config  # type: ignore[import-untyped]

    port = free_port()
    args: list[str | Path] = [gunicorn, "-c", EXAMPLE / "gunicorn.conf.py"]
    args += ["-b", f"127.0.0.1:{port}", "-w", "3"]
    if preload:
        args.append("--preload")
    if hasattr(config, "ControlSocket"):  # gunicorn 27+: one socket path per user by default
        args.append("--no-control-socket")
    env = {**os.environ, "BACKBURNER_URL": f"sqlite:///{tmp_path}/jobs.db"}
    with running(args, tmp_path / "gunicorn.log", env=env, cwd=tmp_path) as tree:
        exercise_seed_app(f"http://127.0.0.1:{port}", tree)
        assert "backburner worker started" in tree.log()
        assert tree.stop(signal.SIGTERM) == 0, tree.log()
        assert "backburner worker stopped" in tree.log()


# -- uWSGI ------------------------------------------------------------------------------
def uwsgi_binary() -> str:
    found = shutil.which("uwsgi", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        require("uwsgi", "pip install uwsgi (in the dev extra) did not build it here")
    assert found is not None
    return found


def test_uwsgi_prefork_workers_enqueue_and_its_attached_worker_runs_the_jobs(
    tmp_path: Path,
) -> None:
    uwsgi = uwsgi_binary()
    port = free_port()
    ini = (EXAMPLE / "uwsgi.ini").read_text()
    assert "127.0.0.1:5000" in ini and "chdir = %d" in ini, "the example changed: update me"
    ini = ini.replace("127.0.0.1:5000", f"127.0.0.1:{port}")
    ini = ini.replace("chdir = %d", f"chdir = {EXAMPLE}")
    (tmp_path / "uwsgi.ini").write_text(ini)
    env = {
        **os.environ,
        "BACKBURNER_URL": f"sqlite:///{tmp_path}/jobs.db",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # an activated virtualenv
    }
    with running([uwsgi, "--ini", tmp_path / "uwsgi.ini"], tmp_path / "uwsgi.log", env=env) as tree:
        exercise_seed_app(f"http://127.0.0.1:{port}", tree)
        assert "spawned uWSGI worker 4" in tree.log()
        assert "[uwsgi-daemons] spawning" in tree.log()
        tree.stop(signal.SIGTERM)
        assert "goodbye to uWSGI" in tree.log()
        after = tree.log().split("stopping daemon")[-1]
        assert "did not die in time" not in after, f"uWSGI killed the worker:\n{after}"
        assert "stopped" in after, "the worker stopped cleanly"
