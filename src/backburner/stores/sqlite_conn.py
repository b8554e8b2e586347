"""Opening the SQLite store's file: switched to WAL, its schema in place."""

from __future__ import annotations

import sqlite3
import time
from importlib import resources

from ..errors import SchemaError, StoreUnavailable

SCHEMA_VERSION = 1


def connect(path: str, busy_timeout: float, synchronous: str) -> sqlite3.Connection:
    """A new connection to the database at `path`, in WAL mode with `synchronous` set;
    StoreUnavailable if it cannot be opened. The schema is left to `ensure_schema`."""
    try:
        conn = sqlite3.connect(
            path,
            timeout=busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        use_wal(conn, busy_timeout)
        conn.execute(f"PRAGMA synchronous={synchronous}")
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot open SQLite store {path!r}: {exc}") from exc
    return conn


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
