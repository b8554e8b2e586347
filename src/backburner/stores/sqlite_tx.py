"""Transactional enqueue on SQLite: find the caller's sqlite3 connection, check that it
opened the store's own file, and bind it to a context.

`SQLiteStore.transaction(obj)` accepts a `sqlite3.Connection`, or a SQLAlchemy Session,
scoped_session (Flask-SQLAlchemy's `db.session`) or Connection using the `sqlite://`
(pysqlite) dialect. The binding lives in a ContextVar, so it holds for this thread (or
asyncio task) only, and nested blocks restore the outer binding on exit.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

#: Returns the connection of the caller's *current* transaction. Resolved at each use,
#: because a Session that commits inside the block may move to another connection.
Resolver = Callable[[], sqlite3.Connection]

_SUPPORTED = (
    "a sqlite3.Connection, or a SQLAlchemy Session, scoped_session (such as Flask-SQLAlchemy's "
    "db.session) or Connection whose engine URL is sqlite:///FILE"
)

_bound: ContextVar[Mapping[int, Resolver]] = ContextVar(
    "backburner_sqlite_transaction", default=MappingProxyType({})
)


def resolver(obj: object) -> Resolver:
    """How to reach the sqlite3 connection inside `obj`; TypeError if it has none."""
    if isinstance(obj, sqlite3.Connection):
        conn = obj
        return lambda: conn
    if "sqlalchemy" in sys.modules:  # an SQLAlchemy object implies SQLAlchemy is imported
        found = _sqlalchemy_resolver(obj)
        if found is not None:
            return found
    raise TypeError(f"transaction() needs {_SUPPORTED}; got {type(obj).__qualname__}")


def _sqlalchemy_resolver(obj: object) -> Resolver | None:
    from sqlalchemy.engine import Connection as SAConnection
    from sqlalchemy.orm import Session, scoped_session

    if isinstance(obj, (Session, scoped_session)):
        session = obj
        # session.connection() starts the session's transaction if needed, and returns
        # the connection that transaction runs on
        return lambda: _driver(session.connection())
    if isinstance(obj, SAConnection):
        sa_conn = obj

        def current() -> sqlite3.Connection:
            if not sa_conn.in_transaction():
                sa_conn.begin()  # so its commit() and rollback() end our INSERT's transaction
            return _driver(sa_conn)

        return current
    return None


def _driver(sa_conn: Any) -> sqlite3.Connection:
    dbapi = sa_conn.connection.driver_connection
    if not isinstance(dbapi, sqlite3.Connection):
        dialect = f"{sa_conn.dialect.name}+{sa_conn.dialect.driver}"
        raise TypeError(
            f"transaction() needs {_SUPPORTED}; this SQLAlchemy connection uses the {dialect} "
            "dialect, whose connections are not sqlite3 ones"
        )
    return dbapi


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


@contextmanager
def bind(key: int, resolve: Resolver) -> Iterator[None]:
    """Within the block, `bound(key)` returns `resolve` in this context."""
    token = _bound.set(MappingProxyType({**_bound.get(), key: resolve}))
    try:
        yield
    finally:
        _bound.reset(token)


def bound(key: int) -> Resolver | None:
    """The resolver bound to `key` in this context, if inside a transaction() block."""
    return _bound.get().get(key)
