"""Opening the SQLite store's file: created private, switched to WAL, its schema in place.

The file holds job arguments and results, so the store creates it readable by its owner
only (0600), whatever the umask; SQLite gives the `-wal` and `-shm` files it creates
beside it the database file's own mode. A file that already exists keeps its mode: who
may read it is then its owner's choice.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from importlib import resources

from ..errors import SchemaError, StoreUnavailable

SCHEMA_VERSION = 1
PRIVATE = 0o600  # owner read and write: the mode of a database file the store creates


def connect(path: str, busy_timeout: float, synchronous: str) -> sqlite3.Connection:
    """A new connection to the database at `path` (created private if absent), in WAL
    mode with `synchronous` set; StoreUnavailable if it cannot be opened. The schema is
    left to `ensure_schema`."""
    try:
        create_private(path)
        conn = sqlite3.connect(
            path,
            timeout=busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        use_wal(conn, busy_timeout)
        conn.execute(f"PRAGMA synchronous={synchronous}")
    except (OSError, sqlite3.Error) as exc:
        raise StoreUnavailable(f"cannot open SQLite store {path!r}: {exc}") from exc
    return conn


def create_private(path: str) -> None:
    """Create an empty database file at `path` with mode 0600, unless a file is there (an
    empty file is an empty SQLite database). Left to SQLite, it would follow the umask,
    and the `-wal` and `-shm` files would copy its mode: often world-readable."""
    if os.path.exists(path):
        return
    with contextlib.suppress(FileExistsError):  # another process created it meanwhile
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
        try:
            os.fchmod(fd, PRIVATE)  # exactly 0600: a umask such as 0o200 would leave 0400
        finally:
            os.close(fd)


def use_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """Switch a new database to WAL. The switch takes an exclusive lock without going
    through the busy handler, so processes opening a fresh file together retry here."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def ensure_schema(conn: sqlite3.Connection, path: str) -> None:
    """Create the schema in a new database at `path`; SchemaError if the file has a newer
    one than this backburner knows."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        drop_retired_indexes(conn)
        return
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"{path!r} has backburner schema v{version}, newer than this "
            f"backburner's v{SCHEMA_VERSION}: upgrade backburner in this environment"
        )
    script = resources.files(__package__).joinpath("sql/sqlite.sql").read_text()
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
            for statement in script.split(";\n"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


# Indexes older files of this schema version have and newer code no longer reads: each
# one would still be written by every enqueue and status change.
RETIRED_INDEXES = ("bb_jobs_claim",)  # claims walk bb_jobs_claim_queue, queue by queue


def drop_retired_indexes(conn: sqlite3.Connection) -> None:
    """Drop RETIRED_INDEXES from a file made by an earlier release, once."""
    marks = ", ".join("?" * len(RETIRED_INDEXES))
    found = conn.execute(
        f"SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ({marks})",
        RETIRED_INDEXES,
    ).fetchall()
    for (name,) in found:
        conn.execute(f"DROP INDEX IF EXISTS {name}")  # another process may have dropped it
