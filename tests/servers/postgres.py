"""Fixtures for the PostgreSQL store: the machine's server, or our own throwaway cluster.

Order: $BACKBURNER_TEST_POSTGRES_URL if set; else a server answering on 127.0.0.1:5432
(user postgres, database test or postgres); else a cluster made with `initdb` and
started with `pg_ctl` on a free port, stopped by PID at the end of the session. Each
test gets its own schema (`?schema=bbtest_<uuid>`), dropped afterwards: much faster
than a database per test.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..helpers import child_pids
from . import free_port, port_open, require

try:
    import psycopg
except ImportError:  # pragma: no cover - the postgres extra is not installed
    psycopg = None  # type: ignore[assignment]


class ClusterError(Exception):
    """Our own PostgreSQL cluster could not be made or started."""


class Cluster:
    """A PostgreSQL cluster in a temporary folder, owned by this test run.

    As root, initdb refuses to run, so the cluster then belongs to the `postgres` user.
    """

    def __init__(self, port: int | None = None) -> None:
        for tool in ("initdb", "pg_ctl"):
            if shutil.which(tool) is None:
                raise ClusterError(f"{tool} is not on PATH")
        self.port = port or free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise ClusterError("running as root and there is no postgres user") from None
            self.user = "postgres"
        # not under pytest's tmp dirs: those are private to root, the server user must enter
        self.root = Path(tempfile.mkdtemp(prefix="bb-pg-"))
        self.data = self.root / "data"
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        try:
            self._run(
                ["initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync"]
            )
        except ClusterError:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, argv: list[str], timeout: float = 120) -> None:
        try:
            subprocess.run(
                argv, user=self.user, check=True, capture_output=True, text=True, timeout=timeout
            )
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", "") or ""
            raise ClusterError(f"{' '.join(argv[:2])} failed: {exc} {detail}") from exc

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            # fsync=off is safe for what tests do (kill processes, not the machine) and
            # spares the shared disk; synchronous_commit stays on, so a commit that
            # returned survives `pg_ctl stop -m immediate`
            "-c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        log = self.root / "server.log"
        self._run(
            [
                "pg_ctl",
                "-D",
                str(self.data),
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            ]
        )
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise ClusterError(f"server did not open port {self.port}; see {log}")
            time.sleep(0.05)

    def stop_immediately(self) -> None:
        """`pg_ctl stop -m immediate`: like a crash, the server recovers from WAL on start."""
        self._run(["pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"])

    def kill(self, timeout: float = 30) -> None:
        """SIGKILL the postmaster and every server process: a crash, recovered from WAL on
        the next start(). The postmaster is stopped first so that it forks no process
        we would miss, and its children are found while they are still its children."""
        pid = self.pid()
        if pid is None or not _running(pid):
            return
        _signal(pid, signal.SIGSTOP)
        victims = [pid, *child_pids(pid)]
        for victim in victims:
            _signal(victim, signal.SIGKILL)
        # start() refuses while a server process still holds the shared memory
        deadline = time.monotonic() + timeout
        while any(_running(victim) for victim in victims):
            if time.monotonic() > deadline:
                raise ClusterError(f"server processes {victims} outlived SIGKILL")
            time.sleep(0.02)
        # The dead postmaster stays a zombie until whoever adopted it reaps it, and the
        # next postmaster reads a zombie's PID in postmaster.pid as a server still running.
        deadline = time.monotonic() + 5
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        if Path(f"/proc/{pid}").exists():
            (self.data / "postmaster.pid").unlink(missing_ok=True)  # it is dead: not reaped

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self, timeout: float = 30) -> None:
        """Stop the server by its PID (fast shutdown, then SIGKILL) and delete its files."""
        pid = self.pid()
        if pid is not None:
            _signal(pid, signal.SIGINT)
            if not _wait_gone(pid, self.data / "postmaster.pid", timeout):
                _signal(pid, signal.SIGKILL)
                _wait_gone(pid, self.data / "postmaster.pid", 10)
        shutil.rmtree(self.root, ignore_errors=True)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pid: int, pidfile: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pidfile.exists() or not _running(pid):
            return True
        time.sleep(0.05)
    return False


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False
    except OSError:
        return True


def _answers(url: str) -> bool:
    try:
        assert psycopg is not None
        with psycopg.connect(url, connect_timeout=3):
            return True
    except Exception:
        return False


def _machine_server() -> tuple[str | None, str]:
    """(URL of a server that answers or None, what was tried)."""
    given = os.environ.get("BACKBURNER_TEST_POSTGRES_URL")
    if given:
        return (given if _answers(given) else None), "$BACKBURNER_TEST_POSTGRES_URL"
    tried = "127.0.0.1:5432 (user postgres, database test or postgres)"
    if not port_open("127.0.0.1", 5432):
        return None, tried
    for db in ("test", "postgres"):
        url = f"postgresql://postgres@127.0.0.1:5432/{db}"
        if _answers(url):
            return url, tried
    return None, tried


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server for this test session (no backburner options)."""
    if psycopg is None:
        require("PostgreSQL", "psycopg is not installed: pip install -e '.[dev]'")
    url, tried = _machine_server()
    if url is not None:
        yield url
        return
    cluster = None
    try:
        cluster = Cluster()
        cluster.start()
    except ClusterError as exc:
        if cluster is not None:
            cluster.stop()
        require("PostgreSQL", f"no server answers at {tried}, and our own failed: {exc}")
    assert cluster is not None
    try:
        yield cluster.url
    finally:
        cluster.stop()


def with_option(url: str, option: str) -> str:
    """`url` with one more query parameter."""
    return f"{url}{'&' if '?' in url else '?'}{option}"


@pytest.fixture
def postgres_schema(postgres_server: str) -> Iterator[str]:
    """A fresh schema name, dropped with everything in it after the test."""
    schema = f"bbtest_{uuid.uuid4().hex}"
    yield schema
    assert psycopg is not None
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '30s'")
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def postgres_store_url(postgres_server: str, postgres_schema: str) -> str:
    """A PostgreSQL store URL isolated from every other test by its own schema."""
    return with_option(postgres_server, f"schema={postgres_schema}")
