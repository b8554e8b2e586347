"""A PgBouncer of our own for tests: transaction pooling in front of a PostgreSQL server,
in a temporary folder, on a free port, killed by PID at the end.

PgBouncer will not run as root, so as root it runs as the `postgres` user (as our own
PostgreSQL cluster does) and its folder is that user's.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from . import free_port, port_open, require

PGBOUNCER = ("pgbouncer", "/usr/sbin/pgbouncer")


def _executable() -> str | None:
    for name in PGBOUNCER:
        found = shutil.which(name) or (name if os.access(name, os.X_OK) else None)
        if found:
            return found
    return None


class PgBouncer:
    """`pool_mode = transaction` in front of the server of `server_url` (trust auth)."""

    def __init__(self, server_url: str, pool_size: int = 10) -> None:
        parts = urlsplit(server_url)
        self.server_host = parts.hostname or "127.0.0.1"
        self.server_port = parts.port or 5432
        self.database = parts.path.lstrip("/") or "postgres"
        self.user = parts.username or "postgres"
        self.port = free_port()
        self.pool_size = pool_size
        self.folder = Path(tempfile.mkdtemp(prefix="bb-pgbouncer-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL clients connect to: the same database, through PgBouncer."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _write_config(self) -> Path:
        (self.folder / "users.txt").write_text(f'"{self.user}" ""\n')
        config = self.folder / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"{self.database} = host={self.server_host} port={self.server_port} "
            f"dbname={self.database}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.folder / 'users.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\n"
            "max_client_conn = 500\n"
            f"logfile = {self.folder / 'pgbouncer.log'}\n"
            "server_reset_query =\n"
        )
        return config

    def start(self, timeout: float = 20.0) -> PgBouncer:
        exe = _executable()
        if exe is None:
            raise FileNotFoundError("pgbouncer is not installed")
        config = self._write_config()
        user = None
        if os.geteuid() == 0:
            user = "postgres"
            entry = pwd.getpwnam(user)
            for path in (self.folder, *self.folder.iterdir()):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self.proc = subprocess.Popen(
            [exe, str(config)],
            user=user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not port_open("127.0.0.1", self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"pgbouncer exited {self.proc.returncode}: {self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"pgbouncer on port {self.port} not ready in {timeout}s")
            time.sleep(0.02)
        return self

    def log(self) -> str:
        path = self.folder / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def pgbouncer(server_url: str) -> Iterator[PgBouncer]:
    """A started PgBouncer in front of `server_url`, killed by PID at the end; skipped
    (failed under CI) when pgbouncer is not installed."""
    if _executable() is None:
        require("PgBouncer", "pgbouncer is not installed (apt-get install pgbouncer)")
    bouncer = PgBouncer(server_url)
    try:
        yield bouncer.start()
    finally:
        bouncer.stop()
