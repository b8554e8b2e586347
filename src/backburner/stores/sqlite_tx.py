"""Transactional enqueue on SQLite: the caller's sqlite3 connection (or a SQLAlchemy
Session, scoped_session or Connection using the `sqlite://` pysqlite dialect), found and
bound by `caller_tx`, checked to have opened the store's own file, and written on.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable

from .caller_tx import CallerConnections

_CALLER: CallerConnections[sqlite3.Connection] = CallerConnections(
    "sqlite",
    sqlite3.Connection,
    "a sqlite3.Connection, or a SQLAlchemy Session, scoped_session (such as Flask-SQLAlchemy's "
    "db.session) or Connection whose engine URL is sqlite:///FILE",
    "its connections are not sqlite3 ones",
)
resolver = _CALLER.resolver
bind = _CALLER.bind
bound = _CALLER.bound


def check_same_file(conn: sqlite3.Connection, store_path: str) -> None:
    """ValueError unless `conn`'s main database is the file at `store_path`."""
    theirs = next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), "")
    ours = os.path.realpath(store_path)
    if not theirs or os.path.realpath(theirs) != ours:
        where = f"the file {theirs!r}" if theirs else "an in-memory database"
        raise ValueError(
            f"transaction(): your connection uses {where}, the job store is {ours!r}; jobs "
            "can join your transaction only in the same file: set the store URL to "
            "sqlite:///<your database file>, or call delay() after your transaction commits"
        )


def write_on(
    conn: sqlite3.Connection, write: Callable[[sqlite3.Connection], list[str]]
) -> tuple[list[str], bool]:
    """`write(conn)` in the caller's transaction: (its answer, whether it committed now,
    which it does only on a connection in autocommit mode outside a transaction)."""
    autocommit = conn.isolation_level is None or getattr(conn, "autocommit", None) is True
    if conn.in_transaction or not autocommit:
        # a sqlite3 connection in its default mode begins a transaction on our INSERT
        return write(conn), False
    conn.execute("BEGIN IMMEDIATE")  # all the records, or none
    try:
        ids = write(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return ids, True
